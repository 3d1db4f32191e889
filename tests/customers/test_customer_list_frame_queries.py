"""The customers_list frame (/ws/customers/) is built with the same number of queries for 1
and for 20 customers (no N+1 through tags, unread counts or conversation counts)."""
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from conversations.services import message_receive
from customers.consumers import customers_list_frame
from customers.models import Tag
from tests.factories import make_conversation, make_customer

pytestmark = pytest.mark.django_db


def _add_customers(workspace, n, start):
    tags = [Tag.objects.get_or_create(workspace=workspace, name=name)[0] for name in ("VIP", "Premium")]
    for i in range(start, start + n):
        customer = make_customer(workspace, first_name=f"Customer{i}", email=f"c{i}@example.com")
        customer.tags.add(*tags)
        for _ in range(2):
            conversation = make_conversation(workspace, customer)
            message_receive(conversation=conversation, customer=customer, content=f"hello {i}")


def _frame(user, filters):
    with CaptureQueriesContext(connection) as ctx:
        frame = customers_list_frame(user=user, filters=filters)
    return frame, len(ctx.captured_queries)


@pytest.mark.parametrize("filters", [{}, {"search": "customer", "tags": ["VIP"], "has_unread": "true",
                                          "order_by": "first_name", "page_size": 100}])
def test_customers_list_frame_queries_do_not_grow_with_rows(staff, workspace, filters):
    _add_customers(workspace, 1, 0)
    one, one_count = _frame(staff, filters)
    assert one["count"] == 1 and len(one["customers"]) == 1
    _add_customers(workspace, 19, 1)
    twenty, twenty_count = _frame(staff, filters)
    assert twenty["count"] == 20 and len(twenty["customers"]) == 20
    assert all(c["unread_count"] == 2 and c["conversations_count"] == 2 and len(c["tags"]) == 2
               for c in twenty["customers"])
    assert one_count == twenty_count, f"{one_count} queries for 1 customer, {twenty_count} for 20"
