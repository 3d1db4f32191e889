"""The multiplexed chat socket (seed 004) through the real ASGI application: every frame type,
access rules, and what each side sees."""
import pytest
from channels.db import database_sync_to_async

from conversations.models import Conversation, Message, ReadMarker
from conversations.services import message_publish_updated, message_send
from fiko import presence, realtime
from tests.chat.chat_socket_helpers import fresh_presence  # noqa: F401  (autouse: empty presence registry)
from tests.factories import make_conversation, make_customer, make_user
from tests.sockets import connect, customer_token, drain, receive_closed_code, receive_until, staff_token

pytestmark = pytest.mark.django_db(transaction=True)

STAFF_PATH = "/api/v1/chat/ws/chat/user"
CUSTOMER_PATH = "/api/v1/chat/ws/chat/customer"


async def open_staff(user):
    comm, connected, _ = await connect(STAFF_PATH, staff_token(user))
    assert connected
    assert await comm.receive_json_from(timeout=5) == {"type": "connected", "participant_type": "user",
                                                       "participant_id": user.pk}
    return comm


async def open_customer(customer):
    comm, connected, _ = await connect(CUSTOMER_PATH, customer_token(customer))
    assert connected
    assert await comm.receive_json_from(timeout=5) == {"type": "connected", "participant_type": "customer",
                                                       "participant_id": customer.pk}
    return comm


async def join(comm, chat_id):
    await comm.send_json_to({"type": "join_chat", "chat_id": chat_id})
    frame = await comm.receive_json_from(timeout=5)
    assert frame["type"] == "joined" and frame["chat_id"] == chat_id, frame
    return frame


async def close(*comms):
    for comm in comms:
        await comm.disconnect()


@database_sync_to_async
def messages_in(conversation):
    return list(Message.objects.filter(conversation=conversation).order_by("seq"))


# --- connection and auth -------------------------------------------------------------------------
async def test_connected_frame_for_staff_and_customer(staff, customer):
    await close(await open_staff(staff), await open_customer(customer))


@pytest.mark.parametrize("path, who", [(STAFF_PATH, "customer"), (CUSTOMER_PATH, "staff"), (STAFF_PATH, None),
                                       (CUSTOMER_PATH, None)])
async def test_wrong_kind_or_missing_token_closes_1008(staff, customer, path, who):
    token = {"customer": customer_token(customer), "staff": staff_token(staff), None: None}[who]
    comm, connected, _ = await connect(path, token)
    assert connected  # accepted, then closed, so a browser sees the code
    frames, code = await receive_closed_code(comm)
    assert code == 1008
    assert frames[0]["type"] == "error"


async def test_ping_pong(staff):
    comm = await open_staff(staff)
    await comm.send_json_to({"type": "ping"})
    frame = await comm.receive_json_from()
    assert frame["type"] == "pong" and frame["timestamp"].endswith("Z")
    await close(comm)


# --- join / leave and presence -------------------------------------------------------------------
async def test_join_announces_to_others_and_leave_says_user_left(staff, customer, conversation):
    agent = await open_staff(staff)
    await join(agent, conversation.pk)
    client = await open_customer(customer)
    joined = await join(client, conversation.pk)
    assert {"participant_type": "user", "participant_id": staff.pk} in joined["online_participants"]
    assert await agent.receive_json_from() == {"type": "user_joined", "chat_id": conversation.pk,
                                               "participant_type": "customer", "participant_id": customer.pk}
    assert await drain(client) == []  # no echo of one's own join

    await client.send_json_to({"type": "leave_chat", "chat_id": conversation.pk})
    assert await client.receive_json_from() == {"type": "left", "chat_id": conversation.pk}
    assert await agent.receive_json_from() == {"type": "user_left", "chat_id": conversation.pk,
                                               "participant_type": "customer", "participant_id": customer.pk}
    assert "customer:%d" % customer.pk not in await presence.online(presence.conversation_key(conversation.pk))

    # A chat the socket left renders nothing any more.
    await database_sync_to_async(message_send)(conversation=conversation, user=staff, content="after you left")
    assert (await agent.receive_json_from())["type"] == "message"
    assert await drain(client) == []
    await close(agent, client)


async def test_events_in_flight_for_a_left_chat_are_not_rendered(customer, conversation):
    """An event the fan-out had already handed to the socket when it left the chat is dropped
    (chat_id check), whatever its type."""
    from fiko import fanout

    client = await open_customer(customer)
    await join(client, conversation.pk)
    (socket,) = fanout.hub().members[realtime.conversation_group(conversation.pk)]
    await client.send_json_to({"type": "leave_chat", "chat_id": conversation.pk})
    assert (await client.receive_json_from())["type"] == "left"
    for event in (
        {"type": "message.created", "conversation_id": conversation.pk, "message": {"id": 1}},
        {"type": "message.updated", "conversation_id": conversation.pk, "message": {"id": 1}},
        {"type": "messages.read", "conversation_id": conversation.pk, "reader_type": "user", "reader_id": 1,
         "last_read_message_id": 1, "read_at": "2026-01-09T10:31:00Z"},
        {"type": "typing.changed", "conversation_id": conversation.pk, "participant_type": "user",
         "participant_id": 1, "is_typing": True, "sender_channel": "other"},
        {"type": "presence.changed", "conversation_id": conversation.pk, "participant_type": "user",
         "participant_id": 1, "is_online": True, "sender_channel": "other"},
        {"type": "conversation.updated", "conversation_id": conversation.pk},
    ):
        socket.deliver(event, 100)
    assert await drain(client) == []
    await client.send_json_to({"type": "ping"})
    assert (await client.receive_json_from())["type"] == "pong"  # and no handler blew up
    await close(client)


async def test_disconnect_says_user_left(staff, customer, conversation):
    agent = await open_staff(staff)
    await join(agent, conversation.pk)
    client = await open_customer(customer)
    await join(client, conversation.pk)
    assert (await agent.receive_json_from())["type"] == "user_joined"
    await client.disconnect()
    assert await agent.receive_json_from() == {"type": "user_left", "chat_id": conversation.pk,
                                               "participant_type": "customer", "participant_id": customer.pk}
    await close(agent)


async def test_staff_cannot_join_another_workspaces_chat(staff, other_workspace):
    rival_customer = await database_sync_to_async(make_customer)(other_workspace, first_name="Rita")
    rival_chat = await database_sync_to_async(make_conversation)(other_workspace, rival_customer)
    agent = await open_staff(staff)
    for chat_id in (rival_chat.pk, 999999):
        await agent.send_json_to({"type": "join_chat", "chat_id": chat_id})
        frame = await agent.receive_json_from()
        assert frame["type"] == "error" and frame["code"] == "not_found" and frame["error"] == "Chat not found"
    await database_sync_to_async(message_send)(conversation=rival_chat, user=await database_sync_to_async(
        make_user)("rival-agent", workspace=other_workspace), content="secret")
    assert await drain(agent) == []
    await close(agent)


async def test_customer_cannot_join_another_customers_chat(workspace, customer, conversation, staff):
    other = await database_sync_to_async(make_customer)(workspace, first_name="Eve", source="web")
    client = await open_customer(other)
    await client.send_json_to({"type": "join_chat", "chat_id": conversation.pk})
    frame = await client.receive_json_from()
    assert frame["type"] == "error" and frame["code"] == "not_found"
    # Nothing from that chat reaches it afterwards: messages, typing, presence, receipts.
    agent = await open_staff(staff)
    await join(agent, conversation.pk)
    await agent.send_json_to({"type": "send_message", "chat_id": conversation.pk, "content": "for John only"})
    await agent.send_json_to({"type": "typing", "chat_id": conversation.pk, "is_typing": True})
    assert (await agent.receive_json_from())["type"] == "message"
    assert await drain(client) == []
    # And it cannot write there either.
    await client.send_json_to({"type": "send_message", "chat_id": conversation.pk, "content": "hi"})
    assert (await client.receive_json_from())["code"] == "not_joined"
    assert len(await messages_in(conversation)) == 1
    await close(client, agent)


async def test_join_chat_input_errors(staff):
    agent = await open_staff(staff)
    for frame in ({"type": "join_chat"}, {"type": "join_chat", "chat_id": "abc"}, {"type": "join_chat", "chat_id": True}):
        await agent.send_json_to(frame)
        reply = await agent.receive_json_from()
        assert reply["type"] == "error" and reply["code"] == "invalid_input"
    await agent.send_json_to({"type": "leave_chat", "chat_id": 5})
    assert (await agent.receive_json_from())["code"] == "not_joined"
    await close(agent)


# --- messages -------------------------------------------------------------------------------------
async def test_send_before_join_is_not_joined_and_stores_nothing(staff, conversation):
    agent = await open_staff(staff)
    await agent.send_json_to({"type": "send_message", "chat_id": conversation.pk, "content": "hello"})
    frame = await agent.receive_json_from()
    assert frame["type"] == "error" and frame["code"] == "not_joined" and frame["chat_id"] == conversation.pk
    assert await messages_in(conversation) == []
    await close(agent)


async def test_staff_message_reaches_everyone_joined_once(staff, bob, customer, conversation):
    agent, colleague, client = await open_staff(staff), await open_staff(bob), await open_customer(customer)
    for comm in (agent, colleague, client):
        await join(comm, conversation.pk)
    await drain(agent), await drain(colleague)
    await agent.send_json_to({"type": "send_message", "chat_id": conversation.pk, "content": "Hi, how can I help?",
                              "message_type": "text"})
    frames = [await receive_until(comm, "message") for comm in (agent, colleague, client)]
    stored = await messages_in(conversation)
    assert len(stored) == 1 and stored[0].sender_type == "user" and stored[0].sender_user_id == staff.pk
    for frame in frames:
        assert frame["chat_id"] == conversation.pk
        message = frame["message"]
        assert message["id"] == stored[0].pk and message["chat_id"] == conversation.pk
        assert message["content"] == "Hi, how can I help?" and message["sender_type"] == "user"
        assert message["sender_user_id"] == staff.pk and message["sender_name"] == "alice" and message["seq"] == 1
    for comm in (agent, colleague, client):
        assert await drain(comm) == []
    await close(agent, colleague, client)


async def test_customer_message_is_stored_as_received_web_chat(staff, customer, conversation):
    agent, client = await open_staff(staff), await open_customer(customer)
    await join(agent, conversation.pk)
    await join(client, conversation.pk)
    await client.send_json_to({"type": "send_message", "chat_id": conversation.pk, "content": "I'd like to book"})
    to_agent = await receive_until(agent, "message")
    to_client = await receive_until(client, "message")
    assert to_agent == to_client
    message = to_agent["message"]
    assert message["sender_type"] == "customer" and message["type"] == "customer"
    assert message["sender_customer_id"] == customer.pk and message["delivery_status"] == "received"
    conv = await database_sync_to_async(Conversation.objects.get)(pk=conversation.pk)
    assert conv.unread_count == 1 and conv.last_message_id == message["id"]
    await close(agent, client)


async def test_one_connection_gets_messages_of_every_joined_chat(staff, workspace, customer, conversation):
    second_customer = await database_sync_to_async(make_customer)(workspace, first_name="Ann")
    second = await database_sync_to_async(make_conversation)(workspace, second_customer)
    agent = await open_staff(staff)
    await join(agent, conversation.pk)
    await join(agent, second.pk)
    await agent.send_json_to({"type": "send_message", "chat_id": conversation.pk, "content": "one"})
    await agent.send_json_to({"type": "send_message", "chat_id": second.pk, "content": "two"})
    got = {(await receive_until(agent, "message"))["chat_id"] for _ in range(2)}
    assert got == {conversation.pk, second.pk}
    await close(agent)


async def test_media_reply_reference_and_idempotent_resend(staff, customer, conversation, settings):
    agent = await open_staff(staff)
    await join(agent, conversation.pk)
    await agent.send_json_to({"type": "send_message", "chat_id": conversation.pk, "content": "first"})
    first = (await receive_until(agent, "message"))["message"]

    # Image with our uploaded file: the thumbnail stored beside it is attached.
    chat_dir = settings.MEDIA_ROOT / "chat"
    chat_dir.mkdir(parents=True)
    (chat_dir / "1736424600.123_0a1b2c3d_photo.jpg").write_bytes(b"x")
    (chat_dir / "1736424600.123_0a1b2c3d_photo_thumb.jpg").write_bytes(b"x")
    await agent.send_json_to({
        "type": "send_message", "chat_id": conversation.pk, "content": "Check out this photo", "message_type": "image",
        "media_url": "/uploads/chat/1736424600.123_0a1b2c3d_photo.jpg", "reply_to_message_id": first["id"],
        "reference": {"type": "appointment", "id": 42, "title": "Haircut"}, "client_message_id": "c-1",
    })
    message = (await receive_until(agent, "message"))["message"]
    assert message["message_type"] == "image"
    assert message["media_url"] == "/uploads/chat/1736424600.123_0a1b2c3d_photo.jpg"
    assert message["thumbnail_url"] == "/uploads/chat/1736424600.123_0a1b2c3d_photo_thumb.jpg"
    assert message["reply_to_message_id"] == first["id"]
    assert message["reference"] == {"type": "appointment", "id": 42, "title": "Haircut"}

    # The same client_message_id again: the stored message back to the sender, no new row.
    await agent.send_json_to({"type": "send_message", "chat_id": conversation.pk, "content": "Check out this photo",
                              "message_type": "image", "media_url": message["media_url"], "client_message_id": "c-1"})
    again = await receive_until(agent, "message")
    assert again["message"]["id"] == message["id"]
    assert len(await messages_in(conversation)) == 2
    await close(agent)


async def test_send_message_bad_input_stores_nothing(staff, workspace, customer, conversation):
    other_customer = await database_sync_to_async(make_customer)(workspace, first_name="Zed")
    other_chat = await database_sync_to_async(make_conversation)(workspace, other_customer)
    foreign, _ = await database_sync_to_async(message_send)(conversation=other_chat, user=staff, content="elsewhere")
    agent = await open_staff(staff)
    await join(agent, conversation.pk)
    cases = [
        ({"content": "   "}, "empty_content"),
        ({"content": "x" * 4097}, "too_long"),
        ({"content": "hi", "reply_to_message_id": foreign.pk}, "not_found"),  # reply_to must be in this chat
        ({"content": "hi", "reference": {"type": "coupon", "id": 1}}, "invalid_input"),
        ({"content": "hi", "message_type": "sticker"}, "invalid_input"),
        ({"content": "", "message_type": "image", "media_url": "javascript:alert(1)"}, "invalid_input"),
        ({"content": 5}, "invalid_input"),
    ]
    for extra, code in cases:
        await agent.send_json_to({"type": "send_message", "chat_id": conversation.pk, **extra})
        frame = await agent.receive_json_from()
        assert frame["type"] == "error" and frame["code"] == code, (extra, frame)
    assert await messages_in(conversation) == []
    await close(agent)


# --- typing, read receipts, updates ----------------------------------------------------------------
async def test_typing_reaches_others_not_the_typist(staff, customer, conversation):
    agent, client = await open_staff(staff), await open_customer(customer)
    await join(agent, conversation.pk)
    await join(client, conversation.pk)
    # Both quiet first: the agent's own arrival, published just before the client joined, may
    # still reach the client (the fan-out hands an event to whoever is a member when it arrives).
    await drain(agent)
    await drain(client)
    await client.send_json_to({"type": "typing", "chat_id": conversation.pk, "is_typing": True})
    assert await agent.receive_json_from() == {"type": "typing", "chat_id": conversation.pk,
                                               "participant_type": "customer", "participant_id": customer.pk,
                                               "is_typing": True}
    await agent.send_json_to({"type": "typing", "chat_id": conversation.pk, "is_typing": False})
    assert await client.receive_json_from() == {"type": "typing", "chat_id": conversation.pk,
                                                "participant_type": "user", "participant_id": staff.pk,
                                                "is_typing": False}
    assert await drain(agent) == [] and await drain(client) == []
    await agent.send_json_to({"type": "typing", "chat_id": conversation.pk, "is_typing": "yes"})
    assert (await agent.receive_json_from())["code"] == "invalid_input"
    await agent.send_json_to({"type": "typing", "chat_id": 424242, "is_typing": True})
    assert (await agent.receive_json_from())["code"] == "not_joined"
    await close(agent, client)


async def test_read_message_sends_read_receipt_to_everyone(staff, customer, conversation):
    agent, client = await open_staff(staff), await open_customer(customer)
    await join(agent, conversation.pk)
    await join(client, conversation.pk)
    await drain(agent)
    await agent.send_json_to({"type": "send_message", "chat_id": conversation.pk, "content": "Your booking is set"})
    message = (await receive_until(client, "message"))["message"]
    await receive_until(agent, "message")
    await client.send_json_to({"type": "read_message", "chat_id": conversation.pk, "message_id": message["id"]})
    for comm in (client, agent):
        receipt = await receive_until(comm, "read_receipt")
        assert receipt["chat_id"] == conversation.pk and receipt["message_id"] == message["id"]
        assert receipt["reader_type"] == "customer" and receipt["reader_id"] == customer.pk
        assert receipt["read_at"].endswith("Z")
    marker = await database_sync_to_async(ReadMarker.objects.get)(conversation=conversation, reader_type="customer")
    conv = await database_sync_to_async(Conversation.objects.get)(pk=conversation.pk)
    assert marker.reader_id == customer.pk and marker.last_read_seq == 1 and conv.customer_unread_count == 0

    # Staff read too; a message of another chat is not found and changes nothing.
    await agent.send_json_to({"type": "read_message", "chat_id": conversation.pk, "message_id": message["id"]})
    receipt = await receive_until(client, "read_receipt")
    assert receipt["reader_type"] == "user" and receipt["reader_id"] == staff.pk
    await agent.send_json_to({"type": "read_message", "chat_id": conversation.pk, "message_id": 987654})
    assert (await receive_until(agent, "error"))["code"] == "not_found"
    await agent.send_json_to({"type": "read_message", "chat_id": conversation.pk})
    assert (await receive_until(agent, "error"))["code"] == "invalid_input"
    await close(agent, client)


async def test_message_updated_is_rendered(staff, customer, conversation):
    client = await open_customer(customer)
    await join(client, conversation.pk)
    message, _ = await database_sync_to_async(message_send)(conversation=conversation, user=staff, content="v1")
    assert (await client.receive_json_from())["type"] == "message"

    @database_sync_to_async
    def edit():
        from django.db import transaction

        with transaction.atomic():
            Message.objects.filter(pk=message.pk).update(content="v2", is_edited=True)
            message.refresh_from_db()
            message_publish_updated(message)

    await edit()
    frame = await client.receive_json_from()
    assert frame["type"] == "message_updated" and frame["chat_id"] == conversation.pk
    assert frame["message"]["id"] == message.pk and frame["message"]["content"] == "v2"
    assert frame["message"]["is_edited"] is True
    await close(client)


async def test_unknown_frame_and_bad_json_keep_socket_open(customer):
    client = await open_customer(customer)
    await client.send_to(text_data="{nope")
    assert (await client.receive_json_from())["code"] == "invalid_json"
    await client.send_json_to({"type": "launch"})
    assert (await client.receive_json_from())["code"] == "unknown_type"
    await client.send_json_to({"type": "ping"})
    assert (await client.receive_json_from())["type"] == "pong"
    await close(client)


async def test_customer_sends_an_uploaded_photo_and_staff_gets_its_thumbnail(staff, customer, conversation):
    """The seed's flow: upload over REST, then send_message with the returned file_url."""
    import io

    from asgiref.sync import sync_to_async
    from PIL import Image
    from rest_framework.test import APIClient

    from fiko.tokens import customer_tokens_for

    def upload_photo():
        out = io.BytesIO()
        Image.new("RGB", (640, 480), (0, 128, 0)).save(out, format="JPEG")
        out.seek(0)
        out.name = "garden.jpg"
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {customer_tokens_for(customer)['access']}")
        response = client.post("/api/v1/chat/upload", {"file": out}, format="multipart")
        assert response.status_code == 201, response.content
        return response.json()

    uploaded = await sync_to_async(upload_photo)()
    agent, client = await open_staff(staff), await open_customer(customer)
    await join(agent, conversation.pk)
    await join(client, conversation.pk)
    await client.send_json_to({"type": "send_message", "chat_id": conversation.pk, "content": "",
                               "message_type": "image", "media_url": "https://tracker.example/pixel.gif"})
    refused = await client.receive_json_from()
    assert refused["code"] == "invalid_input" and "uploaded here" in refused["error"]
    await client.send_json_to({"type": "send_message", "chat_id": conversation.pk, "content": "",
                               "message_type": uploaded["message_type"], "media_url": uploaded["file_url"]})
    message = (await receive_until(agent, "message"))["message"]
    assert message["message_type"] == "image" and message["media_url"] == uploaded["file_url"]
    assert message["thumbnail_url"] == uploaded["thumbnail_url"] and message["sender_type"] == "customer"
    assert len(await messages_in(conversation)) == 1
    await close(agent, client)
