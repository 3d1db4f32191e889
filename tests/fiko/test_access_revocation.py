"""Access ends when it is revoked (SPEC, "Socket close codes"; issue 10, item 1): a deactivated
or deleted user, a removed membership, a deleted customer -> that principal's open sockets get
an error frame ``forbidden`` and close 1008 within 5 s, on every route; REST refuses at once.

These drive the real ASGI application in this process (the cross-process case is in
tests/fiko/test_many_processes.py). The writes are committed (transactional tests): the
revocation is published after commit, as every event is.
"""
import asyncio

import pytest
from asgiref.sync import sync_to_async
from django.test import AsyncClient

from customers.models import Customer
from tests.factories import make_conversation, make_customer, make_user, make_workspace
from tests.sockets import connect, customer_token, receive_until, staff_token
from workspaces.models import Membership

pytestmark = pytest.mark.django_db(transaction=True)

REVOKED_WITHIN = 5.0  # SPEC: within 5 s
MUX_STAFF = "/api/v1/chat/ws/chat/user"
MUX_CUSTOMER = "/api/v1/chat/ws/chat/customer"


async def open_socket(path: str, token: str, first: str = "pong"):
    """Connected and past ``first`` (a list socket sends nothing first: it answers a ping once
    its connect has run, subscriptions included)."""
    communicator, connected, _ = await connect(path, token)
    assert connected
    if first == "pong":
        await communicator.send_json_to({"type": "ping"})
    await receive_until(communicator, first)
    return communicator


async def staff_sockets(token: str, conversation_id: int) -> dict:
    """One socket of each staff route, each past its first frame (subscribed)."""
    sockets = {
        "chat": await open_socket(f"/ws/chat/{conversation_id}/", token, "recent_messages"),
        "conversations": await open_socket("/ws/conversations/", token),
        "customers": await open_socket("/ws/customers/", token),
        "mux": await open_socket(MUX_STAFF, token, "connected"),
    }
    await sockets["mux"].send_json_to({"type": "join_chat", "chat_id": conversation_id})
    await receive_until(sockets["mux"], "joined")
    return sockets


async def closed_forbidden(communicator) -> tuple[list[dict], int | None]:
    """Frames until the close, and its code: fails if that takes longer than 5 s."""
    frames = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + REVOKED_WITHIN
    while True:
        message = await communicator.receive_output(max(0.01, deadline - loop.time()))
        if message["type"] == "websocket.close":
            return frames, message.get("code")
        if message["type"] == "websocket.send":
            import json

            frames.append(json.loads(message["text"]))


async def assert_revoked(sockets: dict):
    for name, communicator in sockets.items():
        frames, code = await closed_forbidden(communicator)
        assert code == 1008, (name, code, frames)
        assert frames and frames[-1]["type"] == "error" and frames[-1]["code"] == "forbidden", (name, frames)


async def assert_open(communicator):
    await communicator.send_json_to({"type": "ping"})
    await receive_until(communicator, "pong")


async def rest_status(token: str, path: str) -> int:
    response = await AsyncClient().get(path, headers={"Authorization": f"Bearer {token}"})
    return response.status_code


@pytest.fixture
def world(db):
    acme, rival = make_workspace("acme"), make_workspace("rival")
    alice = make_user("alice", workspace=acme)
    Membership.objects.create(workspace=rival, user=alice, role="agent")
    john = make_customer(acme, first_name="John", source="web")
    rita = make_customer(rival, first_name="Rita")
    return {
        "acme": acme, "rival": rival, "alice": alice, "john": john,
        "acme_chat": make_conversation(acme, john), "rival_chat": make_conversation(rival, rita),
    }


async def test_a_deactivated_user_loses_every_open_socket_and_rest(world):
    token = staff_token(world["alice"])
    chat = world["acme_chat"].pk
    sockets = await staff_sockets(token, chat)
    assert await rest_status(token, "/api/conversations/") == 200

    alice = world["alice"]
    alice.is_active = False
    await sync_to_async(alice.save)()

    await assert_revoked(sockets)
    assert await rest_status(token, "/api/conversations/") == 401
    communicator, connected, _ = await connect(f"/ws/chat/{chat}/", token)
    frames, code = await closed_forbidden(communicator)
    assert code == 1008 and frames[-1]["code"] == "forbidden"


async def test_a_deleted_user_loses_every_open_socket(world):
    sockets = await staff_sockets(staff_token(world["alice"]), world["acme_chat"].pk)
    await sync_to_async(world["alice"].delete)()
    await assert_revoked(sockets)


async def test_a_removed_membership_closes_the_sockets_of_that_workspace_only(world):
    token = staff_token(world["alice"])
    acme_sockets = await staff_sockets(token, world["acme_chat"].pk)
    rival_chat = await open_socket(f"/ws/chat/{world['rival_chat'].pk}/", token, "recent_messages")
    rival_mux = await open_socket(MUX_STAFF, token, "connected")
    await rival_mux.send_json_to({"type": "join_chat", "chat_id": world["rival_chat"].pk})
    await receive_until(rival_mux, "joined")

    # the owner revokes alice's access to acme
    await sync_to_async(Membership.objects.filter(user=world["alice"], workspace=world["acme"]).delete)()

    await assert_revoked(acme_sockets)  # the list sockets served acme too: closed
    for communicator in (rival_chat, rival_mux):  # only rival's data: still served
        await assert_open(communicator)
    assert await rest_status(token, f"/api/conversations/{world['acme_chat'].pk}/") == 404
    assert await rest_status(token, f"/api/conversations/{world['rival_chat'].pk}/") == 200
    for communicator in (rival_chat, rival_mux):
        await communicator.disconnect()


async def test_a_deleted_customer_loses_their_socket_and_rest(world):
    token = customer_token(world["john"])
    mux = await open_socket(MUX_CUSTOMER, token, "connected")
    await mux.send_json_to({"type": "join_chat", "chat_id": world["acme_chat"].pk})
    await receive_until(mux, "joined")
    assert await rest_status(token, "/api/v1/chat/chats/customer") == 200

    await sync_to_async(Customer.objects.filter(pk=world["john"].pk).delete)()

    await assert_revoked({"customer mux": mux})
    assert await rest_status(token, "/api/v1/chat/chats/customer") == 401


async def test_someone_elses_revocation_closes_nothing(world):
    bob = await sync_to_async(make_user)("bob", workspace=world["acme"])
    sockets = await staff_sockets(staff_token(world["alice"]), world["acme_chat"].pk)
    bobs = await open_socket("/ws/conversations/", staff_token(bob))
    bob.is_active = False
    await sync_to_async(bob.save)()
    # bob's socket closing shows the revocation has reached this process's sockets
    await assert_revoked({"bob": bobs})
    for communicator in sockets.values():
        await assert_open(communicator)
        await communicator.disconnect()
