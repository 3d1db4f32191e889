"""Every event reaches every dialect: one stored row, shown as ``message`` on the multiplexed
socket, ``chat_message`` on /ws/chat/<id>/, and in the conversation list, whichever entry
point stored it (SPEC.md "Every event reaches every dialect")."""
import pytest
from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async

from conversations.models import Message
from conversations.services import message_receive, message_send
from fiko import realtime
from tests.chat.chat_socket_helpers import fresh_presence  # noqa: F401  (autouse: empty presence registry)
from tests.sockets import connect, customer_token, receive_until, staff_token

pytestmark = pytest.mark.django_db(transaction=True)


async def mux(path, token, chat_id):
    comm, connected, _ = await connect(path, token)
    assert connected
    assert (await comm.receive_json_from(timeout=5))["type"] == "connected"
    await comm.send_json_to({"type": "join_chat", "chat_id": chat_id})
    assert (await receive_until(comm, "joined"))["chat_id"] == chat_id
    return comm


async def chat_socket(user, conversation_id):
    comm, connected, _ = await connect(f"/ws/chat/{conversation_id}/", staff_token(user))
    assert connected
    assert (await receive_until(comm, "recent_messages", timeout=5))["type"] == "recent_messages"
    return comm


async def list_socket(user):
    comm, connected, _ = await connect("/ws/conversations/", staff_token(user))
    assert connected
    return comm


@database_sync_to_async
def stored(conversation):
    return list(Message.objects.filter(conversation=conversation).values_list("id", "sender_type", "content"))


async def test_multiplexed_staff_message_appears_on_ws_chat_and_in_the_list(staff, conversation, listen):
    listener = await sync_to_async(listen)([realtime.conversation_group(conversation.pk),
                                            realtime.workspace_group(conversation.workspace_id)])
    v1 = await chat_socket(staff, conversation.pk)
    conversations = await list_socket(staff)
    agent = await mux("/api/v1/chat/ws/chat/user", staff_token(staff), conversation.pk)

    await agent.send_json_to({"type": "send_message", "chat_id": conversation.pk, "content": "from seed 004"})
    mine = (await receive_until(agent, "message"))["message"]
    on_v1 = await receive_until(v1, "chat_message")
    listed = await receive_until(conversations, "conversation_updated")

    rows = await stored(conversation)
    assert rows == [(mine["id"], "user", "from seed 004")]  # one row
    assert on_v1["message"] == mine  # the same wire object in both dialects
    assert listed["conversation_id"] == conversation.pk
    assert listed["conversation"]["last_message"]["id"] == mine["id"]
    created = [e for e in await sync_to_async(listener.drain)() if e["type"] == realtime.MESSAGE_CREATED]
    assert len(created) == 2  # conversation group + workspace group, one event each
    assert {e["message"]["id"] for e in created} == {mine["id"]}
    for comm in (v1, conversations, agent):
        await comm.disconnect()


async def test_multiplexed_customer_message_is_a_new_customer_message_in_the_list(staff, customer, conversation):
    v1 = await chat_socket(staff, conversation.pk)
    conversations = await list_socket(staff)
    client = await mux("/api/v1/chat/ws/chat/customer", customer_token(customer), conversation.pk)
    await client.send_json_to({"type": "send_message", "chat_id": conversation.pk, "content": "web chat hello"})
    mine = (await receive_until(client, "message"))["message"]
    assert (await receive_until(v1, "chat_message"))["message"]["id"] == mine["id"]
    pushed = await receive_until(conversations, "new_customer_message")
    assert pushed["message"]["id"] == mine["id"] and pushed["conversation"]["unread_count"] == 1
    assert await stored(conversation) == [(mine["id"], "customer", "web chat hello")]
    for comm in (v1, conversations, client):
        await comm.disconnect()


async def test_ws_chat_message_appears_on_the_multiplexed_sockets(staff, customer, conversation):
    agent = await mux("/api/v1/chat/ws/chat/user", staff_token(staff), conversation.pk)
    client = await mux("/api/v1/chat/ws/chat/customer", customer_token(customer), conversation.pk)
    v1 = await chat_socket(staff, conversation.pk)
    await v1.send_json_to({"type": "chat_message", "content": "from /ws/chat/"})
    on_v1 = (await receive_until(v1, "chat_message"))["message"]
    for comm in (agent, client):
        frame = await receive_until(comm, "message")
        assert frame["chat_id"] == conversation.pk and frame["message"] == on_v1
    assert await stored(conversation) == [(on_v1["id"], "user", "from /ws/chat/")]
    for comm in (v1, agent, client):
        await comm.disconnect()


async def test_service_writes_from_platforms_and_v1_appear_as_message(staff, customer, conversation):
    """What the platform webhooks (message_receive) and /ws/chat/ (message_send) call."""
    agent = await mux("/api/v1/chat/ws/chat/user", staff_token(staff), conversation.pk)
    client = await mux("/api/v1/chat/ws/chat/customer", customer_token(customer), conversation.pk)
    inbound, _ = await database_sync_to_async(message_receive)(
        conversation=conversation, customer=customer, content="from Telegram", message_type="text")
    outbound, _ = await database_sync_to_async(message_send)(conversation=conversation, user=staff, content="reply")
    for comm in (agent, client):
        first, second = await receive_until(comm, "message"), await receive_until(comm, "message")
        assert [first["message"]["id"], second["message"]["id"]] == [inbound.pk, outbound.pk]
        assert first["message"]["sender_type"] == "customer" and second["message"]["sender_type"] == "user"
    for comm in (agent, client):
        await comm.disconnect()


async def test_read_on_ws_chat_is_a_read_receipt_here(staff, customer, conversation):
    client = await mux("/api/v1/chat/ws/chat/customer", customer_token(customer), conversation.pk)
    await client.send_json_to({"type": "send_message", "chat_id": conversation.pk, "content": "anyone?"})
    mine = (await receive_until(client, "message"))["message"]
    v1 = await chat_socket(staff, conversation.pk)
    await v1.send_json_to({"type": "mark_read"})
    receipt = await receive_until(client, "read_receipt")
    assert receipt == {"type": "read_receipt", "chat_id": conversation.pk, "message_id": mine["id"],
                       "reader_type": "user", "reader_id": staff.pk, "read_at": receipt["read_at"]}
    for comm in (v1, client):
        await comm.disconnect()
