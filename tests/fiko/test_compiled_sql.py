"""fiko/compiled_sql.py: a fixed-shape read compiled to SQL once per process gives exactly the
rows of the plain queryset (joined relations, count annotations, prefetched tags), with the
same queries, and compiles its SQL only the first time."""
import pytest
from django.db.models.sql.compiler import SQLCompiler

from conversations.selectors import conversations_for_wire
from conversations.serializers import conversation_wire
from customers.models import Tag
from fiko.compiled_sql import CompiledQuery
from tests.factories import make_conversation, make_customer

pytestmark = pytest.mark.django_db


@pytest.fixture
def two_conversations(workspace, staff):
    vip = Tag.objects.create(workspace=workspace, name="VIP")
    first = make_customer(workspace, first_name="Ali", last_name="Rezaei")
    first.tags.add(vip)
    second = make_customer(workspace, source="instagram", first_name="Sara")
    return (make_conversation(workspace, first, assignee=staff, priority=3),
            make_conversation(workspace, second, status="closed"))


@pytest.fixture
def compilations(monkeypatch):
    count, original = [0], SQLCompiler.as_sql

    def as_sql(self, *args, **kwargs):
        count[0] += 1
        return original(self, *args, **kwargs)

    monkeypatch.setattr(SQLCompiler, "as_sql", as_sql)
    return count


def test_compiled_rows_are_the_querysets_rows(two_conversations, django_assert_num_queries, compilations):
    compiled = CompiledQuery(lambda pk: conversations_for_wire().order_by().filter(pk=pk))
    for conversation in two_conversations:
        expected = conversation_wire(conversations_for_wire().get(pk=conversation.pk))
        compilations[0] = 0
        with django_assert_num_queries(2):  # the row, then the customer's tags
            rows = compiled.rows(pk=conversation.pk)
        assert [conversation_wire(row) for row in rows] == [expected]
        if conversation is two_conversations[0]:
            assert compilations[0] > 1  # the row's query (with its subqueries), then the tags'
        else:
            assert compilations[0] == 1  # only the tags' query: the row's SQL is reused


def test_a_value_that_matches_nothing_gives_no_rows(two_conversations):
    compiled = CompiledQuery(lambda pk: conversations_for_wire().order_by().filter(pk=pk))
    assert compiled.rows(pk=two_conversations[0].pk)
    assert compiled.rows(pk=10**9) == []
