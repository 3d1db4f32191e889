"""The conversations_list frame (/ws/conversations/) is built with the same number of queries
for 1 and for 20 conversations (customer with tags and counts, assignee, last message)."""
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from conversations.consumers import conversations_list_frame
from conversations.services import message_receive, message_send
from customers.models import Tag
from tests.factories import make_conversation, make_customer

pytestmark = pytest.mark.django_db


def _add_conversations(workspace, staff, n, start):
    tag = Tag.objects.get_or_create(workspace=workspace, name="VIP")[0]
    for i in range(start, start + n):
        customer = make_customer(workspace, first_name=f"Customer{i}")
        customer.tags.add(tag)
        conversation = make_conversation(workspace, customer, assignee=staff)
        message_receive(conversation=conversation, customer=customer, content=f"question {i}")
        message_send(conversation=conversation, user=staff, content=f"answer {i}")
        message_receive(conversation=conversation, customer=customer, content=f"thanks {i}")


def _frame(user, filters):
    with CaptureQueriesContext(connection) as ctx:
        frame = conversations_list_frame(user=user, filters=filters)
    return frame, len(ctx.captured_queries)


@pytest.mark.parametrize("filters", [{}, {"search": "customer", "status": "active", "unread_only": True,
                                          "tags": ["VIP"], "assignee": "me", "order_by": "-priority",
                                          "limit": 100}])
def test_conversations_list_frame_queries_do_not_grow_with_rows(staff, workspace, filters):
    _add_conversations(workspace, staff, 1, 0)
    one, one_count = _frame(staff, filters)
    assert one["count"] == 1 and len(one["conversations"]) == 1
    _add_conversations(workspace, staff, 19, 1)
    twenty, twenty_count = _frame(staff, filters)
    assert twenty["count"] == 20 and len(twenty["conversations"]) == 20
    for row in twenty["conversations"]:
        assert row["assignee"] == {"id": staff.pk, "username": "alice"}
        assert row["last_message"]["content"].startswith("thanks") and row["unread_count"] == 2
        assert row["customer"]["tags"][0]["name"] == "VIP" and row["customer"]["unread_count"] == 2
    assert one_count == twenty_count, f"{one_count} queries for 1 conversation, {twenty_count} for 20"


@pytest.mark.skipif(connection.vendor != "postgresql", reason="tags in the row: PostgreSQL (SQLite prefetches them)")
def test_conversations_list_reads_the_customers_tags_in_its_rows_on_postgresql(staff, workspace):
    """On PostgreSQL a page is 1 statement for its rows with their customers' tags (name order,
    as the prefetch gave them), plus the tenancy read the frame makes without the socket's ids."""
    _add_conversations(workspace, staff, 3, 0)
    second = Tag.objects.create(workspace=workspace, name="Alpha", color="#111111")
    first_customer = make_customer(workspace, first_name="Tagged")
    first_customer.tags.add(second, Tag.objects.get(workspace=workspace, name="VIP"))
    make_conversation(workspace, first_customer, assignee=staff)
    with CaptureQueriesContext(connection) as ctx:
        frame = conversations_list_frame(user=staff, filters={}, workspace_ids=[workspace.pk])
    rows = [q["sql"] for q in ctx.captured_queries]
    assert len(rows) == 1, rows  # a page that is not full tells its count: no COUNT
    assert "customers_customer_tags" in rows[0] and "JSON_AGG" in rows[0]
    tagged = next(row for row in frame["conversations"] if row["customer"]["first_name"] == "Tagged")
    assert [tag["name"] for tag in tagged["customer"]["tags"]] == ["Alpha", "VIP"]
    assert tagged["customer"]["tags"][0]["color"] == "#111111"
