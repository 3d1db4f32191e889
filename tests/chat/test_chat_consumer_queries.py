"""recent_messages and messages_page frames (/ws/chat/<id>/) are built with the same number
of queries for 1 and for 20 messages (senders, customer, replies, read receipts)."""
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from chat.consumers import messages_page_frame, recent_messages_frame
from conversations.services import conversation_mark_read, message_receive, message_send
from tests.factories import make_user

pytestmark = pytest.mark.django_db


def _add_messages(conversation, customer, staff, bob, n):
    previous = None
    for i in range(n):
        if i % 2:
            previous, _ = message_send(conversation=conversation, user=staff if i % 4 == 1 else bob,
                                       content=f"answer {i}", reply_to_message_id=previous and previous.pk,
                                       reference={"type": "product", "id": i})
        else:
            previous, _ = message_receive(conversation=conversation, customer=customer, content=f"question {i}")
    conversation_mark_read(conversation=conversation, reader_type="user", reader_id=staff.pk)
    conversation_mark_read(conversation=conversation, reader_type="customer", reader_id=customer.pk)


def _count(build):
    with CaptureQueriesContext(connection) as ctx:
        frame = build()
    return frame, len(ctx.captured_queries)


def test_recent_messages_frame_queries_do_not_grow(staff, workspace, customer, conversation):
    bob = make_user("bob", workspace=workspace)
    _add_messages(conversation, customer, staff, bob, 1)
    one, one_count = _count(lambda: recent_messages_frame(conversation_id=conversation.pk))
    assert len(one["messages"]) == 1
    _add_messages(conversation, customer, staff, bob, 19)
    twenty, twenty_count = _count(lambda: recent_messages_frame(conversation_id=conversation.pk))
    assert len(twenty["messages"]) == 20 and twenty["has_more"] is False
    assert {m["sender_name"] for m in twenty["messages"]} == {"John Doe", "alice", "bob"}
    assert all(m["read_receipts"] for m in twenty["messages"])
    assert one_count == twenty_count, f"{one_count} queries for 1 message, {twenty_count} for 20"


def test_messages_page_frame_queries_do_not_grow(staff, workspace, customer, conversation):
    bob = make_user("bob", workspace=workspace)
    _add_messages(conversation, customer, staff, bob, 1)
    one, one_count = _count(lambda: messages_page_frame(conversation_id=conversation.pk, after_id=0))
    _add_messages(conversation, customer, staff, bob, 19)
    twenty, twenty_count = _count(lambda: messages_page_frame(conversation_id=conversation.pk, after_id=0))
    assert (len(one["messages"]), len(twenty["messages"])) == (1, 20)
    assert one_count == twenty_count
