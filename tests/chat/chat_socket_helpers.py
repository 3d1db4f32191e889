"""Helpers shared by the chat socket tests (tests/chat/): /ws/chat/<id>/ and the multiplexed
socket. Generic socket helpers (connect, drain, receive_until) are in tests/sockets.py; the
second agent ``bob`` is a fixture of tests/conftest.py."""
import pytest
from channels.db import database_sync_to_async

from conversations.models import Message
from conversations.services import message_receive, message_send
from fiko import presence, redis_clients
from tests.sockets import connect, staff_token


@pytest.fixture(autouse=True)
def fresh_presence():
    presence._memory.keys.clear()  # in-process registry (no REDIS_URL): no leftovers between tests
    redis_clients.forget()
    yield
    presence._memory.keys.clear()


async def open_chat(user, conversation_id):
    comm, connected, _ = await connect(f"/ws/chat/{conversation_id}/", staff_token(user))
    assert connected
    recent = await comm.receive_json_from(timeout=5)
    assert recent["type"] == "recent_messages"
    return comm, recent


@database_sync_to_async
def rows(conversation):
    return list(Message.objects.filter(conversation=conversation).order_by("seq").values_list("content", "role"))


@database_sync_to_async
def seed_messages(conversation, customer, staff, n):
    """n messages, alternating customer (odd seq) and staff (even seq), contents m1..mn."""
    for i in range(n):
        if i % 2:
            message_send(conversation=conversation, user=staff, content=f"m{i + 1}")
        else:
            message_receive(conversation=conversation, customer=customer, content=f"m{i + 1}")
