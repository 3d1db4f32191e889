"""fiko/compiled_sql.py: a fixed-shape read compiled to SQL once per process gives exactly the
rows of the plain queryset (joined relations, count annotations, prefetched tags), with the
same queries, and compiles its SQL only the first time; a compiled insert stores what save
stores, and a compiled update sets and counts as asked."""
import pytest
from django.db.models.sql.compiler import SQLCompiler
from django.utils import timezone

from conversations.models import Conversation, Message
from conversations.selectors import conversations_for_wire
from conversations.serializers import conversation_wire
from customers.models import Tag
from fiko.compiled_sql import CompiledInsert, CompiledQuery, CompiledUpdate
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


def _columns(message) -> dict:
    return {f.attname: getattr(message, f.attname) for f in Message._meta.concrete_fields
            if f.attname not in ("id", "seq", "created_at", "updated_at")}


def test_a_compiled_insert_stores_what_save_stores(conversation, staff):
    fields = dict(conversation=conversation, content="hello", role="support", sender_type="user", sender_user=staff,
                  reference={"type": "product", "id": 7, "title": "Tea"}, media_url="/media/a.png",
                  external_send_result={"success": True, "platform": "telegram"}, delivery_status="pending",
                  next_attempt_at=timezone.now())
    saved = Message.objects.create(seq=1, **fields)
    compiled = Message(seq=2, **fields)
    CompiledInsert(Message).insert(compiled)
    assert compiled.pk is not None and compiled.pk != saved.pk and not compiled._state.adding
    stored = Message.objects.get(pk=compiled.pk)
    assert _columns(stored) == _columns(Message.objects.get(pk=saved.pk))
    assert stored.created_at is not None and stored.updated_at is not None  # stamped as save stamps them


def test_a_compiled_insert_then_update_points_the_row_at_the_new_one(conversation, staff):
    update = CompiledUpdate(Conversation, ("last_message_id", "last_seq", "title"), ("customer_unread_count",))
    message = Message(conversation=conversation, seq=1, content="hi", sender_type="user", sender_user=staff)
    CompiledInsert(Message).insert_then_update(message, update, conversation.pk, [1, "Renamed"], [2])
    conversation.refresh_from_db()
    assert (conversation.last_message_id, conversation.last_seq, conversation.title,
            conversation.customer_unread_count) == (message.pk, 1, "Renamed", 2)
    assert Message.objects.get(pk=message.pk).content == "hi"
    assert update.update(conversation.pk, [None, 0, ""], [-2]) == 1
    conversation.refresh_from_db()
    assert (conversation.last_message_id, conversation.title, conversation.customer_unread_count) == (None, "", 0)
