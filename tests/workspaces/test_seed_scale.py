"""``seed_scale`` at small N (runs on SQLite and on PostgreSQL): the rows it writes agree with
what the services would have written (counters, read markers, search text, last activity,
has_unread), and the list sockets then answer with consistent data."""
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db.models import Count, Max

from conversations.models import Conversation, Message, ReadMarker
from customers.models import Customer
from fiko.search_normalize import normalize, words_added
from tests.sockets import connect, staff_token
from workspaces.models import Membership, Workspace

pytestmark = pytest.mark.django_db(transaction=True)

SIZES = {"customers": 400, "conversations": 150, "messages": 1200}


@pytest.fixture
def loaded():
    call_command("create_workspace", "scale-test", owner="scale-owner", password="Sc4le-owner-pass!", stdout=StringIO())
    out = StringIO()
    call_command("seed_scale", workspace="scale-test", stdout=out, **SIZES)
    workspace = Workspace.objects.get(slug="scale-test")
    owner = Membership.objects.get(workspace=workspace, role="owner").user
    return workspace, owner, out.getvalue()


def test_counts_and_names(loaded):
    workspace, _, output = loaded
    assert "done: customers 400" in output
    customers = Customer.objects.filter(workspace=workspace)
    assert customers.count() == 400
    assert Conversation.objects.filter(workspace=workspace).count() == 150
    assert Message.objects.filter(conversation__workspace=workspace).count() == 1200
    names = list(customers.values_list("first_name", "last_name"))
    assert any("ي" in f + l or "ك" in f + l for f, l in names), "some names are written with Arabic letters"
    assert any(f.isascii() and f for f, _ in names) and any(not f.isascii() for f, _ in names)
    assert set(customers.values_list("source", flat=True)) == {"telegram", "instagram", "web", "unknown"}
    assert customers.exclude(email="").exists() and customers.exclude(phone="").exists()
    assert customers.exclude(username="").exists() and Customer.tags.through.objects.filter(
        customer__workspace=workspace).exists()
    tagged = 0
    for customer in customers.prefetch_related("tags"):
        assert customer.search_text == normalize(" ".join(
            [customer.first_name, customer.last_name, customer.username, customer.email, customer.phone]))
        assert customer.tag_ids == sorted(tag.pk for tag in customer.tags.all())  # what the tags filter reads
        tagged += bool(customer.tag_ids)
    assert 0 < tagged < 400


def test_counters_agree_with_messages_and_markers(loaded):
    workspace, owner, _ = loaded
    conversations = Conversation.objects.filter(workspace=workspace).annotate(
        n=Count("messages"), newest=Max("messages__id"), newest_at=Max("messages__created_at"))
    assert sum(c.unread_count > 0 for c in conversations) > 0, "some conversations are unread"
    for conversation in conversations:
        messages = list(conversation.messages.order_by("seq"))
        assert [m.seq for m in messages] == list(range(1, conversation.n + 1))
        assert [m.id for m in messages] == sorted(m.id for m in messages)  # ids rise with seq
        assert conversation.last_seq == conversation.n and conversation.last_message_id == conversation.newest
        assert conversation.last_message_at == conversation.newest_at
        words = ""
        for message in messages:  # what the store appends, message by message
            words = words_added(words, message.content)
        assert conversation.message_words == words
        assert conversation.customer_words == conversation.customer.search_text  # as Conversation.save copies it
        assert conversation.customer_tag_ids == sorted(conversation.customer.tags.values_list("id", flat=True))
        staff = ReadMarker.objects.filter(conversation=conversation, reader_type="user", reader_id=owner.pk).first()
        read = staff.last_read_seq if staff else 0
        assert conversation.unread_count == sum(m.sender_type == "customer" and m.seq > read for m in messages)
        mine = ReadMarker.objects.filter(conversation=conversation, reader_type="customer",
                                         reader_id=conversation.customer_id).first()
        read = mine.last_read_seq if mine else 0
        assert conversation.customer_unread_count == sum(m.sender_type == "user" and m.seq > read for m in messages)
        for m in messages:
            if m.sender_type == "customer":
                assert m.sender_customer_id == conversation.customer_id
                assert m.is_answered == any(o.seq > m.seq and o.sender_type != "customer" for o in messages)
    flagged = 0
    for customer in Customer.objects.filter(workspace=workspace):
        newest = Message.objects.filter(sender_customer=customer).aggregate(at=Max("created_at"))["at"]
        assert customer.last_activity_at == newest
        # has_unread as the services keep it: one of their conversations has unread_count > 0
        assert customer.has_unread == customer.conversations.filter(unread_count__gt=0).exists()
        flagged += customer.has_unread
    assert flagged > 0, "some customers need a response"


async def _ask(path, token, frame, answer):
    comm, connected, _ = await connect(path, token)
    assert connected
    await comm.send_json_to(frame)
    reply = await comm.receive_json_from(timeout=10)
    await comm.disconnect()
    assert reply["type"] == answer, reply
    return reply


async def test_list_sockets_answer_consistently(loaded):
    from channels.db import database_sync_to_async

    workspace, owner, _ = loaded
    token = await database_sync_to_async(staff_token)(owner)
    frame = await _ask("/ws/customers/", token, {"type": "filter_customers", "filters": {"page_size": 100}},
                       "customers_list")
    assert frame["count"] == 400 and len(frame["customers"]) == 100
    assert frame["pagination"]["has_more"] is True and frame["pagination"]["count_capped"] is False
    unread = await database_sync_to_async(
        lambda: sum(Conversation.objects.filter(workspace=workspace).values_list("unread_count", flat=True)))()
    frame = await _ask("/ws/conversations/", token,
                       {"type": "filter_conversations", "filters": {"unread_only": True, "limit": 100}},
                       "conversations_list")
    assert frame["count"] == len(frame["conversations"]) > 0
    assert sum(c["unread_count"] for c in frame["conversations"]) == unread
    frame = await _ask("/ws/customers/", token, {"type": "filter_customers", "filters": {"has_unread": "true",
                                                                                         "page_size": 100}},
                       "customers_list")
    assert frame["count"] > 0 and all(c["unread_count"] > 0 for c in frame["customers"])


def test_rejects_a_missing_workspace():
    with pytest.raises(CommandError, match="no workspace 'nowhere'"):
        call_command("seed_scale", workspace="nowhere", customers=1, conversations=0, messages=0)
