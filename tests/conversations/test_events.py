"""conversations/events.py: every domain event a write announces, with the keys each socket
dialect reads, and the customer it renders from the conversation's rows identical to the
customer rendered on its own."""
import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from conversations import events
from conversations.services import (conversation_create, conversation_mark_read, conversation_update,
                                    message_publish_updated, message_receive, message_send)
from customers.models import Tag
from customers.selectors import customer_with_counts
from customers.serializers import CustomerSerializer
from fiko.realtime import conversation_group, workspace_group
from tests.factories import make_conversation, make_customer

pytestmark = pytest.mark.django_db(transaction=True)

MESSAGE_CREATED = {"type", "workspace_id", "conversation_id", "message", "conversation", "timestamp"}
CONVERSATION_CHANGED = {"type", "workspace_id", "conversation_id", "conversation", "timestamp"}
CUSTOMER_CHANGED = {"type", "workspace_id", "customer"}


def _fresh_customer(customer_id):
    return CustomerSerializer(customer_with_counts(customer_id)).data


def test_a_customer_message_announces_the_message_the_row_and_the_customer(workspace, customer, conversation,
                                                                           listen):
    customer.tags.add(Tag.objects.create(workspace=workspace, name="VIP"), Tag.objects.create(workspace=workspace, name="Alpha"))
    make_conversation(workspace, customer)  # conversations_count 2
    room, lists = listen([conversation_group(conversation.pk)]), listen([workspace_group(workspace.pk)])
    message, _ = message_receive(conversation=conversation, customer=customer, content="Hello?")
    created, customer_updated = lists.drain()
    assert (created["type"], set(created)) == ("message.created", MESSAGE_CREATED)
    assert created["message"]["id"] == message.pk and created["message"]["content"] == "Hello?"
    assert created["conversation"]["unread_count"] == 1 and created["conversation"]["last_message"]["id"] == message.pk
    assert [tag["name"] for tag in created["conversation"]["customer"]["tags"]] == ["Alpha", "VIP"]
    assert (customer_updated["type"], set(customer_updated)) == ("customer.updated", CUSTOMER_CHANGED)
    # rendered from the conversation's prefetched customer: the same as a customer read on its own
    assert customer_updated["customer"] == _fresh_customer(customer.pk)
    assert customer_updated["customer"]["unread_count"] == 1 and customer_updated["customer"]["conversations_count"] == 2
    assert [e["type"] for e in room.drain()] == ["message.created"]


def test_a_message_event_carries_the_conversation_row_as_the_lists_read_it(workspace, staff, customer,
                                                                          conversation, listen):
    """The row in message.created (its customer's tags read with it on PostgreSQL) is, byte for
    byte, the row the conversation list renders, for a customer with no tag and with several
    (name order, not id order; names beyond ASCII, quotes)."""
    from conversations.selectors import conversation_for_wire
    from conversations.serializers import conversation_wire
    from fiko.consumers import encode_frame

    room = listen([conversation_group(conversation.pk)])
    for names in ([], ["zeta", 'Qu"ote', "Émile", "ألف", "alpha"]):
        customer.tags.add(*[Tag.objects.create(workspace=workspace, name=name, color="#abcdef") for name in names])
        message_send(conversation=conversation, user=staff, content=f"{len(names)} tags")
        row = [e["conversation"] for e in room.drain() if e["type"] == "message.created"][-1]
        expected = conversation_wire(conversation_for_wire(conversation.pk))
        assert encode_frame(row) == encode_frame(expected)
        assert [tag["name"] for tag in row["customer"]["tags"]] == [
            t.name for t in Tag.objects.filter(customers=customer).order_by("name")]


def test_staff_writes_and_reads(workspace, staff, customer, conversation, listen):
    message_receive(conversation=conversation, customer=customer, content="Hi")
    room, lists = listen([conversation_group(conversation.pk)]), listen([workspace_group(workspace.pk)])
    reply, _ = message_send(conversation=conversation, user=staff, content="Hello")
    assert [e["type"] for e in lists.drain()] == ["message.created"]  # no customer.updated for staff
    payload = conversation_mark_read(conversation=conversation, reader_type="user", reader_id=staff.pk)
    customer_updated, row = lists.drain()
    assert customer_updated["type"] == "customer.updated" and customer_updated["customer"]["unread_count"] == 0
    assert customer_updated["customer"] == _fresh_customer(customer.pk)
    assert (row["type"], set(row)) == ("conversation.updated", CONVERSATION_CHANGED)
    assert row["conversation"]["unread_count"] == 0
    message_publish_updated(reply)
    room_events = room.drain()
    assert [e["type"] for e in room_events] == ["message.created", "messages.read", "message.updated"]
    assert room_events[1] == payload == {
        "type": "messages.read", "conversation_id": conversation.pk, "reader_type": "user", "reader_id": staff.pk,
        "last_read_message_id": reply.pk, "read_at": payload["read_at"]}
    assert set(room_events[2]) == {"type", "conversation_id", "message", "timestamp"}
    assert room_events[2]["message"]["id"] == reply.pk


def test_a_new_message_rendered_in_hand_is_the_message_read_back(workspace, staff, customer, conversation, listen):
    """message.created renders the row just stored without reading it again: it must equal the
    message as REST and history render it from the database (reply, reference, sender, customer,
    read receipts), for a staff and a customer message alike."""
    from conversations.services import message_render

    first, _ = message_receive(conversation=conversation, customer=customer, content="Do you have it in blue?")
    conversation_mark_read(conversation=conversation, reader_type="user", reader_id=staff.pk)
    room = listen([conversation_group(conversation.pk)])
    reply, _ = message_send(conversation=conversation, user=staff, content="Yes", reply_to_message_id=first.pk,
                            reference={"type": "product", "id": 7, "title": "Blue shirt"})
    again, _ = message_receive(conversation=conversation, customer=customer, content="Great")
    created = [e["message"] for e in room.drain() if e["type"] == "message.created"]
    assert created == [message_render(reply), message_render(again)]
    assert created[0]["reply_to_message_id"] == first.pk and created[0]["read_receipts"] == []


def test_conversation_created_and_updated(workspace, staff, listen):
    lists = listen([workspace_group(workspace.pk)])
    customer = make_customer(workspace, first_name="Neo", source="web", external_id="")
    conversation = conversation_create(workspace=workspace, customer=customer)
    conversation_update(conversation=conversation, data={"status": "pending", "assignee": staff.pk})
    created, updated = lists.drain()
    assert (created["type"], set(created)) == ("conversation.created", CONVERSATION_CHANGED)
    assert (updated["type"], set(updated)) == ("conversation.updated", CONVERSATION_CHANGED)
    assert updated["conversation"]["assignee"] == {"id": staff.pk, "username": staff.username}


def test_customers_and_their_conversations_in_a_constant_number_of_queries(workspace, listen):
    def publish(customer_ids):
        lists = listen([workspace_group(workspace.pk)])
        with CaptureQueriesContext(connection) as ctx, transaction.atomic():
            events.publish_customers_with_conversations(customer_ids)
        return len(ctx.captured_queries), lists.drain()

    vip = Tag.objects.create(workspace=workspace, name="VIP")
    ids = []
    for i in range(20):
        customer = make_customer(workspace, first_name=f"C{i}")
        customer.tags.add(vip)
        for _ in range(3):
            make_conversation(workspace, customer)
        ids.append(customer.pk)
    one, one_events = publish(ids[:1])
    twenty, twenty_events = publish(ids)
    assert one == twenty, f"{one} queries for 1 customer, {twenty} for 20 customers with 60 conversations"
    assert len(one_events) == 1 + 3 and len(twenty_events) == 20 + 60
    assert all(e["conversation"]["customer"]["tags"] == [{"id": vip.pk, "name": "VIP", "color": vip.color}]
               for e in twenty_events if e["type"] == "conversation.updated")
