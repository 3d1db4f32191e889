"""message_send / message_receive / conversation_mark_read: the rows written and the exact
events published on commit (read back from the real channel layer)."""
import threading

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from conversations.models import Conversation, Message, ReadMarker
from conversations.services import conversation_mark_read, message_receive, message_send
from fiko.errors import FikoError
from fiko.realtime import conversation_group, workspace_group
from tests.factories import make_conversation, make_customer


def event_types(events):
    return [e["type"] for e in events]


@pytest.mark.django_db(transaction=True)
def test_message_send_stores_row_and_publishes_after_commit(staff, conversation, workspace, listen):
    listener = listen([conversation_group(conversation.pk), workspace_group(workspace.pk)])
    message, created = message_send(conversation=conversation, user=staff, content="  Hello there  ")
    assert created
    message.refresh_from_db()
    assert (message.seq, message.content, message.role, message.sender_type) == (1, "Hello there", "support", "user")
    assert message.delivery_status == "sent"  # web/unknown conversation: nothing to deliver
    conversation.refresh_from_db()
    assert conversation.last_seq == 1 and conversation.last_message_id == message.pk
    assert conversation.customer_unread_count == 1 and conversation.unread_count == 0

    events = listener.drain()
    # one event per group: the chat sockets and the list sockets each get message.created
    assert event_types(events) == ["message.created", "message.created"]
    wire = events[0]["message"]
    assert wire["id"] == message.pk and wire["chat_id"] == conversation.pk and wire["seq"] == 1
    assert wire["type"] == "support" and wire["sender_name"] == "alice" and wire["sender_user_id"] == staff.pk
    assert wire["customer"]["username"] == "johndoe"
    assert events[0]["conversation"]["last_message"]["id"] == message.pk
    assert wire["created_at"].endswith("Z")


@pytest.mark.django_db(transaction=True)
def test_platform_conversation_message_is_pending_until_delivered(staff, workspace, customer):
    from integrations.models import Channel

    channel = Channel.objects.create(workspace=workspace, platform="telegram", bot_token="1:x", webhook_secret="s")
    conversation = make_conversation(workspace, customer, channel=channel)
    message, _ = message_send(conversation=conversation, user=staff, content="hi")
    assert message.delivery_status == "pending" and message.next_attempt_at is not None


@pytest.mark.django_db(transaction=True)
def test_message_receive_counts_unread_and_publishes_customer_update(customer, conversation, workspace, listen):
    listener = listen([workspace_group(workspace.pk)])
    message, created = message_receive(conversation=conversation, customer=customer, content="سلام")
    assert created and message.sender_type == "customer" and message.role == "customer"
    assert message.delivery_status == "received"
    conversation.refresh_from_db()
    customer.refresh_from_db()
    assert conversation.unread_count == 1
    assert customer.last_activity_at is not None

    events = listener.drain()
    assert event_types(events) == ["message.created", "customer.updated"]
    assert events[0]["message"]["sender_type"] == "customer"
    assert events[0]["conversation"]["unread_count"] == 1
    assert events[1]["customer"]["unread_count"] == 1 and events[1]["customer"]["conversations_count"] == 1


@pytest.mark.django_db(transaction=True)
def test_staff_reply_marks_customer_messages_answered(staff, customer, conversation):
    first, _ = message_receive(conversation=conversation, customer=customer, content="question")
    message_send(conversation=conversation, user=staff, content="answer")
    first.refresh_from_db()
    assert first.is_answered


def _statements(store):
    """The SQL statements one store runs, its event built after commit included."""
    with CaptureQueriesContext(connection) as ctx:
        store()
    verbs = [q["sql"].split()[0].upper() for q in ctx.captured_queries]
    return [verb for verb in verbs if verb not in ("BEGIN", "COMMIT")]


@pytest.mark.django_db(transaction=True)
def test_storing_a_message_is_a_constant_handful_of_statements(staff, customer, conversation, workspace, listen):
    """Lock (with the duplicate and unanswered probes), then the message's insert with the
    conversation's update (one ``WITH … INSERT … UPDATE`` statement on PostgreSQL; the two
    statements elsewhere); then the event's conversation row (customer and counts joined, and
    on PostgreSQL the customer's tags too; elsewhere the tags are one more query). However long
    the conversation, and whether or not the sender repeats a client_message_id."""
    postgresql = connection.vendor == "postgresql"
    write = ["WITH"] if postgresql else ["INSERT", "UPDATE"]
    event = ["SELECT"] if postgresql else ["SELECT", "SELECT"]
    listener = listen([conversation_group(conversation.pk)])
    expected = ["SELECT", *write, *event]
    assert _statements(lambda: message_send(conversation=conversation, user=staff, content="first",
                                            client_message_id="c-1")) == expected
    for i in range(30):
        message_send(conversation=conversation, user=staff, content=f"more {i}")
    assert _statements(lambda: message_send(conversation=conversation, user=staff, content="later",
                                            client_message_id="c-2")) == expected
    # A repeat stores and announces nothing: the lock's probe found it, one read returns it.
    assert _statements(lambda: message_send(conversation=conversation, user=staff, content="later",
                                            client_message_id="c-2")) == ["SELECT", "SELECT"]
    # The customer's message also touches their last activity (and announces them: same rows).
    assert _statements(lambda: message_receive(conversation=conversation, customer=customer, content="q")) == [
        "SELECT", *write, "UPDATE", *event]
    # Only a reply to a waiting customer message marks messages answered.
    assert _statements(lambda: message_send(conversation=conversation, user=staff, content="a")) == [
        "SELECT", "UPDATE", *write, *event]
    assert Message.objects.filter(conversation=conversation, sender_type="customer", is_answered=False).count() == 0
    events = listener.drain()
    assert [e["message"]["content"] for e in events] == ["first"] + [f"more {i}" for i in range(30)] + [
        "later", "q", "a"]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "kwargs, code",
    [
        ({"content": "   "}, "empty_content"),
        ({"content": "x" * 4097}, "too_long"),
        ({"content": "hi", "message_type": "hologram"}, "invalid_input"),
        ({"content": "hi", "reply_to_message_id": 987654}, "not_found"),
        ({"content": "hi", "reference": {"type": "spaceship", "id": 1}}, "invalid_input"),
        ({"content": "hi", "role": "customer"}, "invalid_input"),
    ],
)
def test_bad_input_is_refused_and_stores_nothing(staff, conversation, workspace, listen, kwargs, code):
    listener = listen([workspace_group(workspace.pk)])
    with pytest.raises(FikoError) as info:
        message_send(conversation=conversation, user=staff, **kwargs)
    assert info.value.code == code
    assert Message.objects.count() == 0
    assert Conversation.objects.get(pk=conversation.pk).last_seq == 0
    assert listener.drain() == []


@pytest.mark.django_db(transaction=True)
def test_reply_to_must_be_in_the_same_conversation(staff, workspace, customer, conversation):
    other = make_conversation(workspace, make_customer(workspace, first_name="Other"))
    foreign, _ = message_send(conversation=other, user=staff, content="elsewhere")
    with pytest.raises(FikoError):
        message_send(conversation=conversation, user=staff, content="re", reply_to_message_id=foreign.pk)
    own, _ = message_send(conversation=conversation, user=staff, content="first")
    reply, _ = message_send(conversation=conversation, user=staff, content="re", reply_to_message_id=own.pk,
                            reference={"type": "product", "id": 7, "title": "Shampoo"})
    assert reply.reply_to_id == own.pk and reply.reference == {"type": "product", "id": 7, "title": "Shampoo"}


@pytest.mark.django_db(transaction=True)
def test_client_message_id_makes_send_idempotent(staff, conversation):
    first, created = message_send(conversation=conversation, user=staff, content="once", client_message_id="c-1")
    again, created_again = message_send(conversation=conversation, user=staff, content="once", client_message_id="c-1")
    assert created and not created_again and again.pk == first.pk
    assert Message.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_senders_get_gapless_unique_seq(staff, customer, conversation):
    """Eight threads, five messages each, on their own database connections."""
    errors = []

    def worker(n):
        try:
            for i in range(5):
                if n % 2:
                    message_send(conversation=conversation, user=staff, content=f"s{n}-{i}")
                else:
                    message_receive(conversation=conversation, customer=customer, content=f"c{n}-{i}")
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    seqs = sorted(Message.objects.filter(conversation=conversation).values_list("seq", flat=True))
    assert seqs == list(range(1, 41))
    conversation.refresh_from_db()
    assert conversation.last_seq == 40 and conversation.unread_count == 20 and conversation.customer_unread_count == 20


@pytest.mark.django_db(transaction=True)
def test_mark_read_clears_unread_and_publishes(staff, customer, conversation, workspace, listen):
    for text in ("one", "two", "three"):
        message_receive(conversation=conversation, customer=customer, content=text)
    listener = listen([conversation_group(conversation.pk), workspace_group(workspace.pk)])
    payload = conversation_mark_read(conversation=conversation, reader_type="user", reader_id=staff.pk)
    conversation.refresh_from_db()
    assert conversation.unread_count == 0
    marker = ReadMarker.objects.get(conversation=conversation, reader_type="user", reader_id=staff.pk)
    assert marker.last_read_seq == 3
    last = Message.objects.get(conversation=conversation, seq=3)
    assert payload["last_read_message_id"] == last.pk

    events = listener.drain()
    assert sorted(event_types(events)) == ["conversation.updated", "customer.updated", "messages.read"]
    updated = next(e for e in events if e["type"] == "conversation.updated")
    assert updated["conversation"]["unread_count"] == 0
    read = next(e for e in events if e["type"] == "messages.read")
    assert (read["reader_type"], read["reader_id"], read["last_read_message_id"]) == ("user", staff.pk, last.pk)


@pytest.mark.django_db(transaction=True)
def test_partial_read_and_read_receipts(staff, customer, conversation):
    from conversations.selectors import message_window
    from conversations.serializers import MessageSerializer

    m1, _ = message_receive(conversation=conversation, customer=customer, content="one")
    message_receive(conversation=conversation, customer=customer, content="two")
    conversation_mark_read(conversation=conversation, reader_type="user", reader_id=staff.pk, up_to_message_id=m1.pk)
    conversation.refresh_from_db()
    assert conversation.unread_count == 1
    messages, _ = message_window(conversation_id=conversation.pk)
    wire = MessageSerializer(messages, many=True).data
    assert [len(m["read_receipts"]) for m in wire] == [1, 0]
    assert wire[0]["read_receipts"][0]["reader_id"] == staff.pk
    # the marker never moves backwards
    conversation_mark_read(conversation=conversation, reader_type="user", reader_id=staff.pk)
    conversation_mark_read(conversation=conversation, reader_type="user", reader_id=staff.pk, up_to_message_id=m1.pk)
    assert ReadMarker.objects.get(reader_id=staff.pk).last_read_seq == 2


@pytest.mark.django_db(transaction=True)
def test_rolled_back_write_publishes_nothing(staff, conversation, workspace, listen):
    from django.db import transaction

    listener = listen([workspace_group(workspace.pk)])
    with pytest.raises(RuntimeError):
        with transaction.atomic():
            message_send(conversation=conversation, user=staff, content="never")
            raise RuntimeError("boom")
    assert Message.objects.count() == 0
    assert listener.drain() == []
