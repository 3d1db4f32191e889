"""/ws/chat/<id>/: user_presence and typing_indicator, including events from the other
dialect (a customer on the multiplexed socket publishes the same layer events)."""
import pytest
from channels.db import database_sync_to_async

from fiko import presence, realtime
from fiko.timefmt import now_iso
from tests.chat.chat_socket_helpers import fresh_presence, open_chat  # noqa: F401  (fresh_presence: autouse)
from tests.sockets import drain, receive_until

pytestmark = pytest.mark.django_db(transaction=True)


def without_time(frame):
    assert frame["timestamp"].endswith("Z")
    return {k: v for k, v in frame.items() if k != "timestamp"}


async def test_presence_on_join_and_leave(staff, bob, conversation):
    alice, _ = await open_chat(staff, conversation.pk)
    assert await drain(alice) == []  # alone, and never told about herself
    bob_chat, _ = await open_chat(bob, conversation.pk)
    # the newcomer learns who is already here
    assert [without_time(f) for f in await drain(bob_chat)] == [
        {"type": "user_presence", "user_id": staff.pk, "participant_type": "user", "username": "alice",
         "is_online": True}]
    # the others learn about the newcomer
    assert [without_time(f) for f in await drain(alice)] == [
        {"type": "user_presence", "user_id": bob.pk, "participant_type": "user", "username": "bob",
         "is_online": True}]
    assert await presence.online(presence.conversation_key(conversation.pk)) == {f"user:{staff.pk}", f"user:{bob.pk}"}

    await bob_chat.disconnect()
    left = await receive_until(alice, "user_presence")
    assert (left["user_id"], left["is_online"]) == (bob.pk, False)
    assert await presence.online(presence.conversation_key(conversation.pk)) == {f"user:{staff.pk}"}
    await alice.disconnect()
    assert await presence.online(presence.conversation_key(conversation.pk)) == set()


async def test_second_tab_of_the_same_user_is_not_announced_twice(staff, bob, conversation):
    alice, _ = await open_chat(staff, conversation.pk)
    bob_tab1, _ = await open_chat(bob, conversation.pk)
    await drain(alice), await drain(bob_tab1)
    bob_tab2, _ = await open_chat(bob, conversation.pk)
    await drain(bob_tab2)
    assert await drain(alice) == []  # bob was already online
    await bob_tab1.disconnect()
    assert await drain(alice) == []  # still online in the other tab
    await bob_tab2.disconnect()
    left = await receive_until(alice, "user_presence")
    assert (left["user_id"], left["is_online"]) == (bob.pk, False)
    await alice.disconnect()


async def test_customer_presence_from_the_other_dialect(staff, customer, conversation):
    alice, _ = await open_chat(staff, conversation.pk)
    # what the multiplexed customer socket publishes when the customer joins the chat
    await realtime.publish_now([realtime.conversation_group(conversation.pk)], {
        "type": realtime.PRESENCE_CHANGED, "conversation_id": conversation.pk, "participant_type": "customer",
        "participant_id": customer.pk, "username": "John Doe", "is_online": True, "timestamp": now_iso(),
        "sender_channel": "specific.other-socket",
    })
    frame = await receive_until(alice, "user_presence")
    assert without_time(frame) == {"type": "user_presence", "user_id": customer.pk, "participant_type": "customer",
                                   "username": "John Doe", "is_online": True}
    await alice.disconnect()


async def test_already_online_customer_is_listed_on_connect(staff, customer, conversation):
    await presence.enter(presence.conversation_key(conversation.pk), f"customer:{customer.pk}", "specific.web")
    alice, _ = await open_chat(staff, conversation.pk)
    frame = await receive_until(alice, "user_presence")
    assert (frame["user_id"], frame["participant_type"], frame["username"]) == (customer.pk, "customer", "John Doe")
    await alice.disconnect()


async def test_typing_is_ignored_silently_by_default(staff, bob, conversation, settings):
    settings.FIKO_CHAT_TYPING = False
    alice, _ = await open_chat(staff, conversation.pk)
    bob_chat, _ = await open_chat(bob, conversation.pk)
    await drain(alice), await drain(bob_chat)
    await alice.send_json_to({"type": "typing", "is_typing": True})
    await alice.send_json_to({"type": "typing", "is_typing": "garbage"})  # not even validated
    assert await drain(alice) == [] and await drain(bob_chat) == []
    await alice.send_json_to({"type": "ping"})  # the socket is fine
    assert (await alice.receive_json_from())["type"] == "pong"
    await alice.disconnect(), await bob_chat.disconnect()


async def test_typing_reaches_others_when_enabled(staff, bob, conversation, settings):
    settings.FIKO_CHAT_TYPING = True
    alice, _ = await open_chat(staff, conversation.pk)
    bob_chat, _ = await open_chat(bob, conversation.pk)
    await drain(alice), await drain(bob_chat)
    await alice.send_json_to({"type": "typing", "is_typing": True})
    frame = await receive_until(bob_chat, "typing_indicator")
    assert without_time(frame) == {"type": "typing_indicator", "user_id": staff.pk, "participant_type": "user",
                                   "username": "alice", "is_typing": True, "conversation_id": conversation.pk}
    await alice.send_json_to({"type": "typing", "is_typing": False})
    assert (await receive_until(bob_chat, "typing_indicator"))["is_typing"] is False
    assert await drain(alice) == []  # the typist is not echoed
    await alice.send_json_to({"type": "typing", "is_typing": "yes"})
    error = await alice.receive_json_from()
    assert error["code"] == "invalid_input" and error["field"] == "is_typing"
    assert await drain(bob_chat) == []
    await alice.disconnect(), await bob_chat.disconnect()


async def test_customer_typing_from_the_other_dialect(staff, customer, conversation, settings):
    event = {"type": realtime.TYPING, "conversation_id": conversation.pk, "participant_type": "customer",
             "participant_id": customer.pk, "username": "John Doe", "is_typing": True, "timestamp": now_iso(),
             "sender_channel": "specific.web"}
    settings.FIKO_CHAT_TYPING = True
    alice, _ = await open_chat(staff, conversation.pk)
    await realtime.publish_now([realtime.conversation_group(conversation.pk)], event)
    frame = await receive_until(alice, "typing_indicator")
    assert (frame["user_id"], frame["participant_type"], frame["is_typing"]) == (customer.pk, "customer", True)
    settings.FIKO_CHAT_TYPING = False
    await realtime.publish_now([realtime.conversation_group(conversation.pk)], event)
    assert await drain(alice) == []
    await alice.disconnect()


async def test_customer_read_receipt_from_the_other_dialect(staff, customer, conversation):
    from conversations.services import conversation_mark_read

    alice, _ = await open_chat(staff, conversation.pk)
    await alice.send_json_to({"type": "chat_message", "content": "did you see this?"})
    sent = (await receive_until(alice, "chat_message"))["message"]
    await database_sync_to_async(conversation_mark_read)(
        conversation=conversation, reader_type="customer", reader_id=customer.pk)
    read = await receive_until(alice, "messages_read")
    assert read["user_id"] is None and read["reader_type"] == "customer" and read["reader_id"] == customer.pk
    assert read["last_read_message_id"] == sent["id"]
    await alice.send_json_to({"type": "get_messages"})
    page = await receive_until(alice, "messages_page")
    assert [r["reader_type"] for r in page["messages"][0]["read_receipts"]] == ["customer"]
    await alice.disconnect()
