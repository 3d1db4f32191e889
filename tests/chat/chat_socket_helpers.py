"""Helpers shared by the /ws/chat/<id>/ socket tests (tests/chat/test_chat_consumer*.py)."""
import pytest
from channels.db import database_sync_to_async

from conversations.models import Message
from conversations.services import message_receive, message_send
from fiko import presence, redis_clients
from tests.factories import make_user
from tests.sockets import connect, staff_token

QUIET = 0.3  # seconds a socket must stay silent when nothing is due


@pytest.fixture(autouse=True)
def fresh_presence():
    presence._memory.keys.clear()  # in-process registry (no REDIS_URL): no leftovers between tests
    redis_clients.forget()
    yield
    presence._memory.keys.clear()


@pytest.fixture
def bob(workspace):
    return make_user("bob", workspace=workspace)


async def open_chat(user, conversation_id):
    comm, connected, _ = await connect(f"/ws/chat/{conversation_id}/", staff_token(user))
    assert connected
    recent = await comm.receive_json_from(timeout=5)
    assert recent["type"] == "recent_messages"
    return comm, recent


async def drain(comm, timeout=QUIET):
    """Every frame that arrives until the socket stays quiet for ``timeout`` seconds
    (receive_nothing does not cancel the application the way a receive timeout does)."""
    frames = []
    while not await comm.receive_nothing(timeout=timeout):
        frames.append(await comm.receive_json_from())
    return frames


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
