"""Conversation writes cost the same number of queries with 1 and with 10 related rows (the
conversation's messages, its customer's tags and other conversations, the workspace's agents),
and the lists and the chat hear the new values. A message's store is pinned in
test_message_services.py."""
import pytest

from conversations.models import Message, Priority, ReadMarker
from conversations.services import conversation_mark_read, conversation_update, message_receive, message_send
from customers.models import Tag
from fiko.realtime import conversation_group, workspace_group
from tests.factories import make_conversation, make_customer, make_user
from tests.query_counts import SIZES, assert_same_count, count_queries

pytestmark = pytest.mark.django_db(transaction=True)


def _scene(workspace, n: int, label: str):
    """A conversation with ``n`` unread customer messages, whose customer wears ``n`` tags and
    has ``n`` conversations, in a workspace that gained ``n`` agents."""
    customer = make_customer(workspace, first_name=f"Customer {label}")
    customer.tags.add(*[Tag.objects.create(workspace=workspace, name=f"Tag {label}.{i}") for i in range(n)])
    conversation = make_conversation(workspace, customer)
    for _ in range(n - 1):
        make_conversation(workspace, customer)
    for i in range(n):
        message_receive(conversation=conversation, customer=customer, content=f"question {i}")
    agents = [make_user(f"agent-{label}-{i}", workspace=workspace) for i in range(n)]
    return conversation, customer, agents


def _only_row(events, conversation):
    assert [(e["type"], e["conversation_id"]) for e in events] == [("conversation.updated", conversation.pk)]
    return events[0]["conversation"]


@pytest.mark.parametrize("change, shown", [
    ({"status": "pending"}, {"status": "pending"}),
    ({"status": "closed"}, {"status": "closed"}),
    ({"priority": Priority.URGENT}, {"priority": "urgent"}),
    ({"is_archived": True}, {"is_archived": True}),
    ({"status": "closed", "priority": Priority.HIGH, "is_archived": True},
     {"status": "closed", "priority": "high", "is_archived": True}),
])
def test_updating_a_conversation_costs_the_same_for_1_and_10_related_rows(workspace, listen, change, shown):
    lists = listen([workspace_group(workspace.pk)])
    counts = {}
    for n in SIZES:
        conversation, customer, _ = _scene(workspace, n, f"{n}")
        lists.drain()
        counts[n] = count_queries(lambda: conversation_update(conversation=conversation, data=change))
        row = _only_row(lists.drain(), conversation)
        assert {key: row[key] for key in shown} == shown
        assert row["unread_count"] == n and len(row["customer"]["tags"]) == n
        assert row["customer"]["conversations_count"] == n
    assert_same_count(counts)


def test_assigning_a_conversation_costs_the_same_for_1_and_10_related_rows(workspace, listen):
    lists = listen([workspace_group(workspace.pk)])
    assigned, unassigned = {}, {}
    for n in SIZES:
        conversation, _, agents = _scene(workspace, n, f"{n}")
        agent = agents[-1]
        lists.drain()
        assigned[n] = count_queries(lambda: conversation_update(conversation=conversation, data={"assignee": agent.pk}))
        assert _only_row(lists.drain(), conversation)["assignee"] == {"id": agent.pk, "username": agent.username}
        unassigned[n] = count_queries(lambda: conversation_update(conversation=conversation, data={"assignee": None}))
        assert _only_row(lists.drain(), conversation)["assignee"] is None
    assert_same_count(assigned)
    assert_same_count(unassigned)


def test_staff_reading_costs_the_same_for_1_and_10_unread_messages(workspace, staff, listen):
    lists = listen([workspace_group(workspace.pk)])
    counts = {}
    for n in SIZES:
        conversation, customer, _ = _scene(workspace, n, f"{n}")
        room = listen([conversation_group(conversation.pk)])
        lists.drain()
        newest = Message.objects.filter(conversation=conversation).order_by("-seq").first()
        counts[n] = count_queries(lambda: conversation_mark_read(
            conversation=conversation, reader_type=ReadMarker.ReaderType.USER, reader_id=staff.pk))
        customer_event, row_event = lists.drain()
        assert (customer_event["type"], customer_event["customer"]["id"]) == ("customer.updated", customer.pk)
        assert customer_event["customer"]["unread_count"] == 0
        assert _only_row([row_event], conversation)["unread_count"] == 0
        read = room.drain()
        assert [(e["type"], e["reader_type"], e["reader_id"], e["last_read_message_id"]) for e in read] == [
            ("messages.read", "user", staff.pk, newest.pk)]
    assert_same_count(counts)


def test_customer_reading_costs_the_same_for_1_and_10_unread_replies(workspace, staff, listen):
    counts = {}
    for n in SIZES:
        conversation, customer, _ = _scene(workspace, n, f"{n}")
        replies = [message_send(conversation=conversation, user=staff, content=f"answer {i}")[0] for i in range(n)]
        room = listen([conversation_group(conversation.pk)])
        counts[n] = count_queries(lambda: conversation_mark_read(
            conversation=conversation, reader_type=ReadMarker.ReaderType.CUSTOMER, reader_id=customer.pk))
        conversation.refresh_from_db()
        assert conversation.customer_unread_count == 0
        read = room.drain()
        assert [(e["type"], e["reader_type"], e["reader_id"], e["last_read_message_id"]) for e in read] == [
            ("messages.read", "customer", customer.pk, replies[-1].pk)]
    assert_same_count(counts)
