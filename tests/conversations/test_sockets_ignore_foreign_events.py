"""Every domain event type that can reach a socket's groups has a handler: events a dialect
does not render are dropped silently and the socket keeps working (Channels would otherwise
raise "No handler for message type" and kill the connection). Plus REST edits reaching the
list sockets."""
import pytest
from channels.db import database_sync_to_async
from rest_framework.test import APIClient

from fiko import presence, realtime
from fiko.timefmt import now_iso
from tests.sockets import connect, receive_until, staff_token

pytestmark = pytest.mark.django_db(transaction=True)


def sample_events(workspace_id, conversation_id):
    base = {"workspace_id": workspace_id, "conversation_id": conversation_id, "timestamp": now_iso()}
    return {
        realtime.MESSAGE_CREATED: {**base, "message": {"id": 1, "seq": 99, "sender_type": "customer"},
                                   "conversation": {"id": conversation_id}},
        realtime.MESSAGE_UPDATED: {**base, "message": {"id": 1}},
        realtime.MESSAGES_READ: {**base, "reader_type": "user", "reader_id": 1, "last_read_message_id": 1,
                                 "read_at": now_iso()},
        realtime.CONVERSATION_CREATED: {**base, "conversation": {"id": conversation_id}},
        realtime.CONVERSATION_UPDATED: {**base, "conversation": {"id": conversation_id}},
        realtime.CUSTOMER_CREATED: {**base, "customer": {"id": 1}},
        realtime.CUSTOMER_UPDATED: {**base, "customer": {"id": 1}},
        realtime.PRESENCE_CHANGED: {**base, "participant_type": "user", "participant_id": 1, "username": "x",
                                    "is_online": True, "sender_channel": "elsewhere"},
        realtime.TYPING: {**base, "participant_type": "user", "participant_id": 1, "username": "x",
                          "is_typing": True, "sender_channel": "elsewhere"},
    }


CASES = [
    ("/ws/customers/", "workspace", [realtime.MESSAGE_CREATED, realtime.MESSAGE_UPDATED, realtime.MESSAGES_READ,
                                     realtime.CONVERSATION_CREATED, realtime.CONVERSATION_UPDATED,
                                     realtime.PRESENCE_CHANGED, realtime.TYPING]),
    ("/ws/conversations/", "workspace", [realtime.MESSAGE_UPDATED, realtime.MESSAGES_READ, realtime.CUSTOMER_CREATED,
                                         realtime.CUSTOMER_UPDATED, realtime.PRESENCE_CHANGED, realtime.TYPING]),
    ("/ws/chat/{id}/", "conversation", [realtime.CONVERSATION_CREATED, realtime.CONVERSATION_UPDATED,
                                        realtime.CUSTOMER_CREATED, realtime.CUSTOMER_UPDATED]),
]


@pytest.mark.parametrize("path, group_kind, ignored", CASES)
async def test_unrendered_events_are_dropped_and_the_socket_lives(staff, workspace, conversation, settings,
                                                                  path, group_kind, ignored):
    settings.FIKO_CHAT_TYPING = False
    presence._memory.keys.clear()
    comm, connected, _ = await connect(path.format(id=conversation.pk), staff_token(staff))
    assert connected
    if group_kind == "conversation":
        assert (await comm.receive_json_from())["type"] == "recent_messages"
    group = (realtime.workspace_group(workspace.pk) if group_kind == "workspace"
             else realtime.conversation_group(conversation.pk))
    events = sample_events(workspace.pk, conversation.pk)
    for event_type in ignored:
        await realtime.publish_now([group], {"type": event_type, **events[event_type]})
    assert await comm.receive_nothing(timeout=0.5)
    await comm.send_json_to({"type": "ping"})
    assert (await comm.receive_json_from())["type"] == "pong"
    await comm.disconnect()


async def test_rest_edits_reach_the_list_sockets(staff, customer, conversation):
    customers, _, _ = await connect("/ws/customers/", staff_token(staff))
    conversations, _, _ = await connect("/ws/conversations/", staff_token(staff))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {staff_token(staff)}")
    response = await database_sync_to_async(client.patch)(
        f"/api/customers/{customer.pk}/", {"first_name": "Jonathan"}, format="json")
    assert response.status_code == 200
    assert (await receive_until(customers, "customer_updated"))["customer"]["first_name"] == "Jonathan"
    renamed = await receive_until(conversations, "conversation_updated")  # the row shows the customer
    assert renamed["conversation"]["customer"]["first_name"] == "Jonathan"
    response = await database_sync_to_async(client.patch)(
        f"/api/conversations/{conversation.pk}/", {"status": "pending", "assignee": staff.pk}, format="json")
    assert response.status_code == 200
    frame = await receive_until(conversations, "conversation_updated")
    assert frame["conversation"]["status"] == "pending"
    assert frame["conversation"]["assignee"] == {"id": staff.pk, "username": "alice"}
    await customers.disconnect(), await conversations.disconnect()
