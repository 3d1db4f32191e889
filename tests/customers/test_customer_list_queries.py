"""customer_list / conversation_list build a page with a constant number of queries."""
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from conversations.selectors import conversation_page
from conversations.serializers import ConversationSerializer
from conversations.services import message_receive
from customers.models import Tag
from customers.selectors import customer_page
from customers.serializers import CustomerSerializer
from tests.factories import make_conversation, make_customer

pytestmark = pytest.mark.django_db


def _populate(workspace, n):
    vip = Tag.objects.create(workspace=workspace, name=f"VIP{n}")
    for i in range(n):
        customer = make_customer(workspace, first_name=f"C{i}")
        customer.tags.add(vip)
        conversation = make_conversation(workspace, customer)
        message_receive(conversation=conversation, customer=customer, content=f"hello {i}")


def _queries(fn):
    with CaptureQueriesContext(connection) as ctx:
        fn()
    return len(ctx.captured_queries)


@pytest.mark.parametrize("selector, serializer", [(customer_page, CustomerSerializer),
                                                  (conversation_page, ConversationSerializer)])
def test_list_page_query_count_is_constant(staff, workspace, selector, serializer):
    def build():
        result, _ = selector(user=staff, filters={"search": "c", "page_size": 100})
        return serializer(result.rows, many=True).data, result.total

    _populate(workspace, 1)
    one = _queries(build)
    data, total = build()
    assert total == 1 and len(data) == 1
    _populate(workspace, 19)
    twenty = _queries(build)
    data, total = build()
    assert total == 20 and len(data) == 20
    assert one == twenty, f"{one} queries for 1 row, {twenty} for 20"
    assert all(row.get("unread_count", 0) == 1 for row in data)
