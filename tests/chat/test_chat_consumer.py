"""/ws/chat/<id>/ through the real ASGI application: connect, send, events, errors.
History and read state: test_chat_consumer_history.py; presence and typing: ..._presence.py."""
import pytest
from channels.db import database_sync_to_async

from conversations.models import Conversation, Message
from conversations.services import message_receive
from tests.chat.chat_socket_helpers import fresh_presence, open_chat, rows, seed_messages  # noqa: F401
from tests.factories import make_conversation, make_customer
from tests.sockets import connect, drain, receive_closed_code, receive_until, staff_token

pytestmark = pytest.mark.django_db(transaction=True)


# --- connect -----------------------------------------------------------------------------------
async def test_recent_messages_are_the_newest_50_oldest_first(staff, customer, conversation):
    await seed_messages(conversation, customer, staff, 55)
    comm, recent = await open_chat(staff, conversation.pk)
    assert [m["seq"] for m in recent["messages"]] == list(range(6, 56))
    assert recent["has_more"] is True and recent["timestamp"].endswith("Z")
    first = recent["messages"][0]
    assert first["content"] == "m6" and first["conversation_id"] == first["chat_id"] == conversation.pk
    assert first["customer"]["username"] == "johndoe"
    assert await drain(comm) == []  # alone: no presence frames, no repeats
    await comm.disconnect()


async def test_recent_messages_of_a_short_conversation(staff, customer, conversation):
    await seed_messages(conversation, customer, staff, 2)
    comm, recent = await open_chat(staff, conversation.pk)
    assert [(m["content"], m["type"], m["sender_type"]) for m in recent["messages"]] == [
        ("m1", "customer", "customer"), ("m2", "support", "user")]
    assert recent["has_more"] is False
    await comm.disconnect()


@pytest.mark.parametrize("path_id", ["999999", "abc", "0", "-1"])
async def test_missing_or_malformed_conversation_closes_4404(staff, conversation, path_id):
    comm, connected, _ = await connect(f"/ws/chat/{path_id}/", staff_token(staff))
    assert connected
    frames, code = await receive_closed_code(comm)
    assert code == 4404
    assert frames == [{"type": "error", "error": "Conversation not found", "message": "Conversation not found",
                       "code": "not_found"}]


async def test_other_workspace_conversation_looks_missing(other_staff, conversation):
    comm, connected, _ = await connect(f"/ws/chat/{conversation.pk}/", staff_token(other_staff))
    frames, code = await receive_closed_code(comm)
    assert code == 4404 and frames[0]["error"] == "Conversation not found"


async def test_no_token_closes_1008(db, conversation):
    comm, connected, _ = await connect(f"/ws/chat/{conversation.pk}/")
    frames, code = await receive_closed_code(comm)
    assert code == 1008


# --- sending -----------------------------------------------------------------------------------
async def test_two_staff_sockets_both_get_the_message_and_the_list_is_updated(staff, bob, conversation):
    alice_chat, _ = await open_chat(staff, conversation.pk)
    bob_chat, _ = await open_chat(bob, conversation.pk)
    await drain(alice_chat), await drain(bob_chat)  # presence frames
    conv_list, connected, _ = await connect("/ws/conversations/", staff_token(staff))
    assert connected

    await alice_chat.send_json_to({"type": "chat_message", "content": "  Hello John  "})
    mine = await receive_until(alice_chat, "chat_message")
    theirs = await receive_until(bob_chat, "chat_message")
    assert mine == theirs
    message = mine["message"]
    assert (message["content"], message["type"], message["sender_type"]) == ("Hello John", "support", "user")
    assert message["sender_user_id"] == staff.pk and message["sender_name"] == "alice" and message["seq"] == 1
    assert mine["external_send_result"] is None  # web conversation: nothing goes to a platform

    update = await receive_until(conv_list, "conversation_updated")
    assert update["conversation_id"] == conversation.pk
    assert update["conversation"]["last_message"]["id"] == message["id"]
    assert update["conversation"]["last_message"]["content"] == "Hello John"
    assert await rows(conversation) == [("Hello John", "support")]
    assert await drain(alice_chat) == [] and await drain(bob_chat) == []  # exactly once each
    for comm in (alice_chat, bob_chat, conv_list):
        await comm.disconnect()


@pytest.mark.parametrize("frame, role", [
    ({"type": "support", "content": "hi"}, "support"),
    ({"type": "marketing", "content": "sale!"}, "marketing"),
    ({"type": "chat_message", "content": "hi", "role": "marketing"}, "marketing"),
    ({"type": "chat_message", "content": "hi"}, "support"),
])
async def test_role_comes_from_the_frame_type_or_role(staff, conversation, frame, role):
    comm, _ = await open_chat(staff, conversation.pk)
    await comm.send_json_to(frame)
    got = await receive_until(comm, "chat_message")
    assert got["message"]["type"] == role
    assert await rows(conversation) == [(frame["content"], role)]
    await comm.disconnect()


async def test_seed_000_frame_with_duplicate_type_key(staff, conversation):
    """JSON.stringify({type: 'chat_message', content, type: 'support'}) sends the last key."""
    comm, _ = await open_chat(staff, conversation.pk)
    await comm.send_to(text_data='{"type": "chat_message", "content": "Hello!", "type": "support"}')
    got = await receive_until(comm, "chat_message")
    assert got["message"]["content"] == "Hello!" and got["message"]["type"] == "support"
    await comm.disconnect()


async def test_reply_reference_and_media(staff, customer, conversation):
    await seed_messages(conversation, customer, staff, 1)
    first = await database_sync_to_async(Message.objects.get)(conversation=conversation, seq=1)
    comm, _ = await open_chat(staff, conversation.pk)
    await comm.send_json_to({"type": "chat_message", "content": "see this", "reply_to_message_id": first.pk,
                             "reference": {"type": "product", "id": 42, "title": "Blue mug"}})
    got = (await receive_until(comm, "chat_message"))["message"]
    assert got["reply_to_message_id"] == first.pk
    assert got["reference"] == {"type": "product", "id": 42, "title": "Blue mug"}
    await comm.send_json_to({"type": "chat_message", "message_type": "image", "media_url": "/uploads/a.png"})
    got = (await receive_until(comm, "chat_message"))["message"]
    assert (got["message_type"], got["media_url"], got["content"]) == ("image", "/uploads/a.png", "")
    await comm.disconnect()


@pytest.mark.parametrize("frame, code, text", [
    ({"content": ""}, "empty_content", "Message content cannot be empty"),
    ({"content": "   \n "}, "empty_content", "Message content cannot be empty"),
    ({}, "empty_content", "Message content cannot be empty"),
    ({"content": "x" * 4097}, "too_long", "Message content is longer than 4096 characters"),
    ({"content": 5}, "invalid_input", "content must be a string"),
    ({"content": "hi", "role": "AI"}, "invalid_input", "role must be support or marketing"),
    ({"content": "hi", "message_type": "sticker"}, "invalid_input", None),
    ({"content": "hi", "reply_to_message_id": "abc"}, "invalid_input", "reply_to_message_id must be a positive integer id"),
    ({"content": "hi", "reply_to_message_id": 999999}, "not_found", None),
    ({"content": "hi", "reference": {"type": "coupon", "id": 1}}, "invalid_input", None),
    ({"content": "hi", "reference": "product"}, "invalid_input", None),
    ({"content": "hi", "client_message_id": ["a"]}, "invalid_input", "client_message_id must be a string"),
    ({"content": "hi", "client_message_id": "x" * 65}, "invalid_input", None),
])
async def test_bad_chat_message_is_an_error_and_stores_nothing(staff, conversation, frame, code, text):
    comm, _ = await open_chat(staff, conversation.pk)
    await comm.send_json_to({"type": "chat_message", **frame})
    error = await comm.receive_json_from()
    assert error["type"] == "error" and error["code"] == code
    assert error["error"] == error["message"]
    if text:
        assert error["error"] == text
    assert await rows(conversation) == []
    await comm.send_json_to({"type": "chat_message", "content": "still works"})
    assert (await receive_until(comm, "chat_message"))["message"]["content"] == "still works"
    await comm.disconnect()


async def test_4096_characters_is_allowed(staff, conversation):
    comm, _ = await open_chat(staff, conversation.pk)
    await comm.send_json_to({"type": "chat_message", "content": "ی" * 4096})
    got = await receive_until(comm, "chat_message")
    assert len(got["message"]["content"]) == 4096
    await comm.disconnect()


async def test_client_message_id_resend_returns_the_stored_message(staff, bob, conversation):
    alice_chat, _ = await open_chat(staff, conversation.pk)
    bob_chat, _ = await open_chat(bob, conversation.pk)
    await drain(alice_chat), await drain(bob_chat)
    frame = {"type": "chat_message", "content": "once", "client_message_id": "c-1"}
    await alice_chat.send_json_to(frame)
    first = await receive_until(alice_chat, "chat_message")
    await alice_chat.send_json_to(frame)  # e.g. resent after a reconnect
    again = await receive_until(alice_chat, "chat_message")
    assert again["message"]["id"] == first["message"]["id"] and again["message"]["seq"] == 1
    assert await rows(conversation) == [("once", "support")]
    assert (await receive_until(bob_chat, "chat_message"))["message"]["id"] == first["message"]["id"]
    assert await drain(bob_chat) == []  # the resend is not broadcast again
    await alice_chat.send_json_to({**frame, "client_message_id": "c-2"})
    assert (await receive_until(alice_chat, "chat_message"))["message"]["seq"] == 2
    await alice_chat.disconnect(), await bob_chat.disconnect()


# --- misc inbound ------------------------------------------------------------------------------
async def test_ping_unknown_type_and_bad_json(staff, conversation):
    comm, _ = await open_chat(staff, conversation.pk)
    await comm.send_json_to({"type": "ping"})
    assert (await comm.receive_json_from())["type"] == "pong"
    await comm.send_to(text_data="not json")
    assert (await comm.receive_json_from())["error"] == "Invalid JSON format"
    await comm.send_json_to({"type": "get_customers"})  # another socket's frame
    assert (await comm.receive_json_from())["code"] == "unknown_type"
    await comm.disconnect()


async def test_customer_message_reaches_chat_list_and_customer_sockets(staff, customer, conversation):
    chat, _ = await open_chat(staff, conversation.pk)
    conv_list, _, _ = await connect("/ws/conversations/", staff_token(staff))
    customers, _, _ = await connect("/ws/customers/", staff_token(staff))
    message, _ = await database_sync_to_async(message_receive)(
        conversation=conversation, customer=customer, content="سلام، کمک لازم دارم")
    got = await receive_until(chat, "chat_message")
    assert got["message"]["id"] == message.pk and got["message"]["type"] == "customer"
    assert got["message"]["sender_name"] == "John Doe"
    new = await receive_until(conv_list, "new_customer_message")
    assert new["conversation_id"] == conversation.pk and new["message"]["id"] == message.pk
    assert new["conversation"]["unread_count"] == 1 and new["timestamp"].endswith("Z")
    assert new["conversation"]["last_message"]["content"] == "سلام، کمک لازم دارم"
    updated = await receive_until(customers, "customer_updated")
    assert updated["customer"]["id"] == customer.pk and updated["customer"]["unread_count"] == 1
    assert updated["customer"]["last_activity_at"] is not None
    for comm in (chat, conv_list, customers):
        assert await drain(comm) == []
        await comm.disconnect()


async def test_other_workspace_hears_nothing(staff, other_staff, customer, conversation, other_workspace):
    rival_list, _, _ = await connect("/ws/conversations/", staff_token(other_staff))
    rival_customers, _, _ = await connect("/ws/customers/", staff_token(other_staff))
    rival_conv = await database_sync_to_async(
        lambda: make_conversation(other_workspace, make_customer(other_workspace, first_name="R")))()
    rival_chat, _ = await open_chat(other_staff, rival_conv.pk)
    chat, _ = await open_chat(staff, conversation.pk)
    await drain(rival_chat)

    await chat.send_json_to({"type": "chat_message", "content": "private"})
    await receive_until(chat, "chat_message")
    await database_sync_to_async(message_receive)(conversation=conversation, customer=customer, content="secret")
    await chat.send_json_to({"type": "mark_read"})
    await receive_until(chat, "messages_read")
    for comm in (rival_list, rival_customers, rival_chat):
        assert await drain(comm) == []
    closed, _, _ = await connect(f"/ws/chat/{conversation.pk}/", staff_token(other_staff))
    assert (await receive_closed_code(closed))[1] == 4404
    for comm in (rival_list, rival_customers, rival_chat, chat):
        await comm.disconnect()


async def test_message_updated_is_rendered(staff, conversation):
    from conversations.services import message_publish_updated
    from django.db import transaction

    comm, _ = await open_chat(staff, conversation.pk)
    await comm.send_json_to({"type": "chat_message", "content": "draft"})
    sent = (await receive_until(comm, "chat_message"))["message"]

    @database_sync_to_async
    def edit():
        with transaction.atomic():
            Message.objects.filter(pk=sent["id"]).update(content="final", is_edited=True)
            message_publish_updated(Message.objects.get(pk=sent["id"]))

    await edit()
    updated = await receive_until(comm, "message_updated")
    assert updated["message"]["id"] == sent["id"]
    assert updated["message"]["content"] == "final" and updated["message"]["is_edited"] is True
    await comm.disconnect()


async def test_conversation_state_is_checked_only_at_connect(staff, conversation):
    comm, _ = await open_chat(staff, conversation.pk)
    await database_sync_to_async(Conversation.objects.filter(pk=conversation.pk).update)(status="closed")
    await comm.send_json_to({"type": "chat_message", "content": "still here"})
    assert (await receive_until(comm, "chat_message"))["message"]["content"] == "still here"
    await comm.disconnect()


async def test_event_of_a_message_already_in_recent_messages_is_not_repeated(staff, customer, conversation):
    """A message stored between joining the group and reading recent_messages arrives both in
    recent_messages and as an event; the event is dropped (every message exactly once)."""
    from conversations.services import message_render
    from fiko import realtime

    await seed_messages(conversation, customer, staff, 3)
    comm, recent = await open_chat(staff, conversation.pk)
    assert recent["messages"][-1]["seq"] == 3

    @database_sync_to_async
    def event_for(seq):
        message = Message.objects.get(conversation=conversation, seq=seq)
        return {"type": realtime.MESSAGE_CREATED, "workspace_id": conversation.workspace_id,
                "conversation_id": conversation.pk, "message": message_render(message), "conversation": {}}

    await realtime.publish_now([realtime.conversation_group(conversation.pk)], await event_for(3))
    assert await drain(comm) == []
    await seed_messages(conversation, customer, staff, 1)  # seq 4: new, delivered
    frame = await receive_until(comm, "chat_message")
    assert frame["message"]["seq"] == 4
    await comm.disconnect()
