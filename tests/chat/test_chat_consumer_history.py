"""/ws/chat/<id>/: mark_read -> messages_read (and the list's unread count), get_messages
-> messages_page (history before an id, catch-up after one), and their bad input."""
import pytest
from channels.db import database_sync_to_async

from conversations.models import ReadMarker
from conversations.services import message_receive
from tests.chat.chat_socket_helpers import fresh_presence, open_chat, seed_messages  # noqa: F401
from tests.sockets import connect, drain, receive_until, staff_token

pytestmark = pytest.mark.django_db(transaction=True)


# --- reading -----------------------------------------------------------------------------------
async def test_mark_read_reaches_everyone_and_clears_unread_on_the_list(staff, bob, customer, conversation):
    await seed_messages(conversation, customer, staff, 1)  # one unread customer message
    await database_sync_to_async(message_receive)(conversation=conversation, customer=customer, content="again")
    alice_chat, recent = await open_chat(staff, conversation.pk)
    bob_chat, _ = await open_chat(bob, conversation.pk)
    await drain(alice_chat), await drain(bob_chat)
    conv_list, _, _ = await connect("/ws/conversations/", staff_token(bob))
    await conv_list.send_json_to({"type": "get_conversations"})
    listed = await receive_until(conv_list, "conversations_list")
    assert listed["conversations"][0]["unread_count"] == 2

    await alice_chat.send_json_to({"type": "mark_read"})
    for comm in (alice_chat, bob_chat):
        read = await receive_until(comm, "messages_read")
        assert read["user_id"] == staff.pk and read["conversation_id"] == conversation.pk
        assert read["last_read_message_id"] == recent["messages"][-1]["id"] and read["read_at"].endswith("Z")
        assert read["reader_type"] == "user"
    update = await receive_until(conv_list, "conversation_updated")
    assert update["conversation"]["unread_count"] == 0
    await conv_list.send_json_to({"type": "refresh_conversations"})
    assert (await receive_until(conv_list, "conversations_list"))["conversations"][0]["unread_count"] == 0
    marker = await database_sync_to_async(ReadMarker.objects.get)(conversation=conversation, reader_id=staff.pk)
    assert marker.last_read_seq == 2

    # read receipts show up in history
    await bob_chat.send_json_to({"type": "get_messages"})
    page = await receive_until(bob_chat, "messages_page")
    assert page["messages"][-1]["read_receipts"][0]["reader_id"] == staff.pk
    for comm in (alice_chat, bob_chat, conv_list):
        await comm.disconnect()


async def test_mark_read_up_to_a_message_and_bad_ids(staff, customer, conversation):
    await seed_messages(conversation, customer, staff, 3)
    comm, recent = await open_chat(staff, conversation.pk)
    first = recent["messages"][0]["id"]
    await comm.send_json_to({"type": "mark_read", "message_id": first})
    assert (await receive_until(comm, "messages_read"))["last_read_message_id"] == first
    await comm.send_json_to({"type": "mark_read", "message_id": 999999})
    assert (await comm.receive_json_from())["code"] == "not_found"
    await comm.send_json_to({"type": "mark_read", "message_id": "first"})
    assert (await comm.receive_json_from())["code"] == "invalid_input"
    await comm.disconnect()


async def test_get_messages_before_and_after(staff, customer, conversation):
    await seed_messages(conversation, customer, staff, 120)
    comm, recent = await open_chat(staff, conversation.pk)
    oldest_seen = recent["messages"][0]["id"]
    await comm.send_json_to({"type": "get_messages", "before_id": oldest_seen, "limit": 30})
    page = await receive_until(comm, "messages_page")
    assert [m["seq"] for m in page["messages"]] == list(range(41, 71)) and page["has_more"] is True
    await comm.send_json_to({"type": "get_messages", "before_id": page["messages"][0]["id"], "limit": 100})
    page = await receive_until(comm, "messages_page")
    assert [m["seq"] for m in page["messages"]] == list(range(1, 41)) and page["has_more"] is False

    # catch-up after a gap: everything after the last id seen, oldest first
    ten = recent["messages"][-11]["id"]  # seq 110
    await comm.send_json_to({"type": "get_messages", "after_id": ten, "limit": 5})
    page = await receive_until(comm, "messages_page")
    assert [m["seq"] for m in page["messages"]] == [111, 112, 113, 114, 115] and page["has_more"] is True
    await comm.send_json_to({"type": "get_messages", "after_id": recent["messages"][-1]["id"]})
    page = await receive_until(comm, "messages_page")
    assert page["messages"] == [] and page["has_more"] is False
    await comm.send_json_to({"type": "get_messages"})
    page = await receive_until(comm, "messages_page")
    assert len(page["messages"]) == 50 and page["messages"][-1]["seq"] == 120
    await comm.disconnect()


@pytest.mark.parametrize("frame, field", [
    ({"before_id": "x"}, "before_id"),
    ({"after_id": -3}, "after_id"),
    ({"after_id": True}, "after_id"),
    ({"before_id": 5, "after_id": 2}, "before_id"),
    ({"limit": 0}, "limit"),
    ({"limit": 101}, "limit"),
    ({"limit": "10"}, "limit"),
    ({"limit": 2.5}, "limit"),
])
async def test_get_messages_bad_input(staff, conversation, frame, field):
    comm, _ = await open_chat(staff, conversation.pk)
    await comm.send_json_to({"type": "get_messages", **frame})
    error = await comm.receive_json_from()
    assert error["type"] == "error" and error["code"] == "invalid_input" and error["field"] == field
    await comm.send_json_to({"type": "get_messages", "limit": 1})
    assert (await receive_until(comm, "messages_page"))["has_more"] is False
    await comm.disconnect()
