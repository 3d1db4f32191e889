"""The /ws/chat/<id>/ handshake is cheap, and its cost does not grow with the conversation:

- ``recent_messages`` and ``messages_page`` are two queries each (the messages with their
  authors and customer; the read markers), for 1 and for 20 messages;
- a whole handshake through fiko.asgi.application is three queries: the token's user and the
  conversation's access together, then those two. Who is already online comes from presence
  (one Redis round trip), with names, so it costs no query;
- sockets joining a conversation together share one read of ``recent_messages``: the next
  socket's handshake is one query (its own access), until a message event makes the read stale;
- the wire shape of a message has one definition (conversations.serializers.message_wire), which
  MessageSerializer delegates to and whose fields it declares."""
import threading
from contextlib import contextmanager

import pytest
from channels.db import database_sync_to_async
from django.db import connection
from django.db.backends.utils import CursorWrapper
from django.test.utils import CaptureQueriesContext

from chat.consumers import messages_page_frame, recent_messages_frame
from conversations.models import Message
from conversations.selectors import message_window, read_markers_for
from conversations.serializers import MessageSerializer
from conversations.services import conversation_mark_read, message_receive, message_send
from fiko import presence
from tests.factories import make_user
from tests.sockets import connect, drain, receive_closed_code, receive_until, staff_token

FRAME_QUERIES = 2  # messages (authors, customer joined), read markers
HANDSHAKE_QUERIES = 1 + FRAME_QUERIES  # token's user + conversation access, then the frame


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


@contextmanager
def queries_on_every_thread():
    """SQL run on any thread (socket database work runs on a thread pool, where
    CaptureQueriesContext on this thread's connection sees nothing)."""
    seen, lock, original = [], threading.Lock(), CursorWrapper._execute

    def _execute(self, sql, *args, **kwargs):
        with lock:
            seen.append(sql)
        return original(self, sql, *args, **kwargs)

    CursorWrapper._execute = _execute
    try:
        yield seen
    finally:
        CursorWrapper._execute = original


# --- frames ----------------------------------------------------------------------------------
@pytest.mark.django_db
def test_recent_messages_frame_is_two_queries_for_1_and_for_20_messages(staff, workspace, customer, conversation):
    bob = make_user("bob", workspace=workspace)
    _add_messages(conversation, customer, staff, bob, 1)
    one, one_count = _count(lambda: recent_messages_frame(conversation_id=conversation.pk))
    assert len(one["messages"]) == 1
    _add_messages(conversation, customer, staff, bob, 19)
    twenty, twenty_count = _count(lambda: recent_messages_frame(conversation_id=conversation.pk))
    assert len(twenty["messages"]) == 20 and twenty["has_more"] is False
    assert {m["sender_name"] for m in twenty["messages"]} == {"John Doe", "alice", "bob"}
    assert all(m["read_receipts"] for m in twenty["messages"])
    assert (one_count, twenty_count) == (FRAME_QUERIES, FRAME_QUERIES)


@pytest.mark.django_db
def test_messages_page_frame_is_two_queries_for_1_and_for_20_messages(staff, workspace, customer, conversation):
    bob = make_user("bob", workspace=workspace)
    _add_messages(conversation, customer, staff, bob, 1)
    one, one_count = _count(lambda: messages_page_frame(conversation_id=conversation.pk, after_id=0))
    _add_messages(conversation, customer, staff, bob, 19)
    twenty, twenty_count = _count(lambda: messages_page_frame(conversation_id=conversation.pk, after_id=0))
    assert (len(one["messages"]), len(twenty["messages"])) == (1, 20)
    assert (one_count, twenty_count) == (FRAME_QUERIES, FRAME_QUERIES)


@pytest.mark.django_db
def test_frames_render_messages_exactly_as_message_serializer(staff, workspace, customer, conversation):
    """The socket frames render rows without model instances; the REST API renders instances
    through MessageSerializer. Same messages, same dicts, key order included."""
    bob = make_user("bob", workspace=workspace)
    _add_messages(conversation, customer, staff, bob, 12)
    rows = list(Message.objects.filter(conversation=conversation).order_by("seq"))
    rows[1].external_send_result = {"success": True, "platform": "telegram", "external_message_id": 77}
    rows[3].external_send_result = {"success": False, "platform": "instagram", "error": "blocked"}
    rows[5].reference = {"type": "pack", "id": "p-1", "title": "Spring"}
    rows[7].sender_type, rows[7].role = Message.SenderType.AI, Message.Role.AI
    rows[9].sender_type = Message.SenderType.SYSTEM
    for row in rows[1:10:2]:
        row.save()
    instances, _ = message_window(conversation_id=conversation.pk)
    by_serializer = MessageSerializer(instances, many=True,
                                      context={"read_markers": read_markers_for([conversation.pk])}).data
    frame = recent_messages_frame(conversation_id=conversation.pk)
    assert [list(m.items()) for m in frame["messages"]] == [list(m.items()) for m in by_serializer]
    assert frame["messages"][1]["external_send_result"] == {"success": True, "platform": "telegram",
                                                            "external_message_id": "77"}
    assert frame["messages"][5]["reference"] == {"type": "pack", "id": "p-1", "title": "Spring"}
    assert [frame["messages"][i]["sender_name"] for i in (7, 9)] == ["Ai", "System"]


@pytest.mark.django_db
def test_message_serializer_declares_the_fields_message_wire_renders(staff, customer, conversation):
    message, _ = message_receive(conversation=conversation, customer=customer, content="hi")
    rendered = MessageSerializer(message).data
    assert list(rendered) == MessageSerializer.Meta.fields == list(MessageSerializer().fields)


# --- the whole handshake -----------------------------------------------------------------------
async def _handshake(user, conversation_id, others: int):
    """Connect and read everything connect sends (recent_messages, one user_presence per other
    participant online); a pong proves connect has returned."""
    comm, connected, _ = await connect(f"/ws/chat/{conversation_id}/", staff_token(user))
    assert connected
    frame = await comm.receive_json_from(timeout=5)
    assert frame["type"] == "recent_messages", frame
    presences = [await receive_until(comm, "user_presence", timeout=5) for _ in range(others)]
    await comm.send_json_to({"type": "ping"})
    await receive_until(comm, "pong", timeout=5)
    return comm, frame, presences


@pytest.mark.django_db(transaction=True)
async def test_handshake_is_three_queries_for_1_and_for_20_messages_and_others_online(
        staff, workspace, customer, conversation):
    bob = await database_sync_to_async(make_user)("bob", workspace=workspace)
    await database_sync_to_async(_add_messages)(conversation, customer, staff, bob, 1)
    staff_token(staff), staff_token(bob)  # warm the token code outside the count
    with queries_on_every_thread() as seen:
        alone, frame, _ = await _handshake(staff, conversation.pk, others=0)
    assert len(frame["messages"]) == 1
    assert len(seen) == HANDSHAKE_QUERIES, seen

    await database_sync_to_async(_add_messages)(conversation, customer, staff, bob, 19)
    with queries_on_every_thread() as seen:  # alice is online: bob learns it, by name, from presence
        second, frame, presences = await _handshake(bob, conversation.pk, others=1)
    assert len(frame["messages"]) == 20
    assert [(p["user_id"], p["username"], p["is_online"]) for p in presences] == [(staff.pk, "alice", True)]
    assert len(seen) == HANDSHAKE_QUERIES, seen
    await alone.disconnect()
    await second.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_a_participant_that_entered_without_a_name_costs_one_query(staff, customer, conversation):
    """The multiplexed customer socket enters presence without a name: the newcomer asks the
    database for that one name (one more query), and shows it."""
    await presence.enter(presence.conversation_key(conversation.pk), f"customer:{customer.pk}", "web-tab")
    with queries_on_every_thread() as seen:
        comm, _, presences = await _handshake(staff, conversation.pk, others=1)
    assert [(p["participant_type"], p["user_id"], p["username"]) for p in presences] == [
        ("customer", customer.pk, "John Doe")]
    assert len(seen) == HANDSHAKE_QUERIES + 1, seen
    await comm.disconnect()


# --- sockets joining together share one read of recent_messages ------------------------------
SHARED_HANDSHAKE_QUERIES = 1  # the token's user and the conversation's access; the frame is shared


@pytest.mark.django_db(transaction=True)
async def test_sockets_joining_together_share_one_read_and_each_checks_its_own_access(
        settings, staff, bob, other_staff, workspace, customer, conversation):
    """A team opening a conversation at once (a reconnect after a restart) costs one read of
    its messages, not one per socket; every socket still checks its own access, and a socket
    that may not see the conversation gets nothing of the shared frame."""
    settings.CHAT_RECENT_MESSAGES_SHARED_SECONDS = 60  # "together", however slow this machine is
    await database_sync_to_async(_add_messages)(conversation, customer, staff, bob, 5)
    staff_token(staff), staff_token(bob), staff_token(other_staff)
    with queries_on_every_thread() as seen:
        first, first_frame, _ = await _handshake(staff, conversation.pk, others=0)
    assert len(seen) == HANDSHAKE_QUERIES, seen
    with queries_on_every_thread() as seen:
        second, second_frame, presences = await _handshake(bob, conversation.pk, others=1)
    assert len(seen) == SHARED_HANDSHAKE_QUERIES, seen
    assert second_frame["messages"] == first_frame["messages"] and len(second_frame["messages"]) == 5
    assert second_frame["has_more"] is False
    assert [p["username"] for p in presences] == ["alice"]  # bob's own presence event left the frame shared

    with queries_on_every_thread() as seen:
        outsider, connected, _ = await connect(f"/ws/chat/{conversation.pk}/", staff_token(other_staff))
        assert connected
        frames, code = await receive_closed_code(outsider)
    assert code == 4404 and [f["type"] for f in frames] == ["error"], frames
    assert len(seen) == SHARED_HANDSHAKE_QUERIES, seen
    await first.disconnect()
    await second.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_a_message_stored_after_the_shared_read_is_in_the_next_sockets_recent_messages(
        settings, staff, bob, workspace, customer, conversation):
    """The shared read goes stale with the first message event the conversation hears; a socket
    that connects after a message was stored (its event published, perhaps not yet heard here)
    reads again and finds it, and gets it once."""
    settings.CHAT_RECENT_MESSAGES_SHARED_SECONDS = 60
    await database_sync_to_async(_add_messages)(conversation, customer, staff, bob, 2)
    first, first_frame, _ = await _handshake(staff, conversation.pk, others=0)
    stored, _ = await database_sync_to_async(message_receive)(conversation=conversation, customer=customer,
                                                              content="after the shared read")
    with queries_on_every_thread() as seen:
        second, second_frame, _ = await _handshake(bob, conversation.pk, others=1)
    assert [m["content"] for m in second_frame["messages"]][-1] == "after the shared read"
    assert len(seen) == HANDSHAKE_QUERIES, seen
    assert not [f for f in await drain(second) if f.get("type") == "chat_message"]  # not a second time
    # ... and the read bob made is the one shared from now on
    third_user = await database_sync_to_async(make_user)("carol", workspace=workspace)
    staff_token(third_user)
    with queries_on_every_thread() as seen:
        third, third_frame, _ = await _handshake(third_user, conversation.pk, others=2)
    assert third_frame["messages"] == second_frame["messages"]
    assert len(seen) == SHARED_HANDSHAKE_QUERIES, seen
    assert (await receive_until(first, "chat_message"))["message"]["id"] == stored.pk
    for comm in (first, second, third):
        await comm.disconnect()
