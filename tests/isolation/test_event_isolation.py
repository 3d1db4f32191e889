"""Isolation matrix, events: with a socket open on every route of
``fiko.routing.websocket_urlpatterns`` for every actor of B who may open it (and for a customer
of A on their own chat), workspace A produces every event type of
``fiko.realtime.DOMAIN_EVENTS`` through the real entry points (tests/isolation/catalog.py,
EVENT_PRODUCERS). None of those sockets may receive anything of A's.

No clock decides when to stop reading: a listener on A's groups first confirms that every
event type was published; then B causes an event of its own (a rename and a message) that every
B socket renders. Channel-layer messages reach a channel in the order they were sent, so
anything of A's sent to a B socket would arrive before that barrier; a ping/pong closes the
read. Controls: A's own sockets, read the same way, do show A's events.
"""
import asyncio
import json

import pytest
from channels.db import database_sync_to_async
from django.test import Client

from conversations.services import message_edit_from_platform
from fiko import realtime
from fiko.participants import USER, Participant
from tests.isolation import catalog, report
from tests.isolation.sock import Sock
from tests.isolation.world import PASSWORD, leaks
from workspaces.models import Membership

pytestmark = pytest.mark.django_db(transaction=True)

OBSERVERS = ("b_owner", "b_agent", "b_session", "b_customer", "a_other_customer")
B_BARRIERS = ("Bravobarrier", "bravo-barrier-msg")
A_BARRIERS = ("Alphabarrier", "alpha-control-barrier")
OTHER_BARRIER = "alphaother-barrier"


@database_sync_to_async
def rest(world, actor, method, path, body=None):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {world.tokens[actor]}"} if actor in world.tokens else {}
    response = Client(raise_request_exception=False).generic(
        method, "/" + path, json.dumps(body) if body is not None else "", content_type="application/json", **headers)
    assert response.status_code < 300, (method, path, response.status_code, response.content[:300])
    return json.loads(response.content or b"null")


def ids_named(frames, keys=("conversation_id", "chat_id")) -> set:
    found = set()

    def walk(value):
        if isinstance(value, dict):
            for key, item in value.items():
                if key in keys and isinstance(item, int):
                    found.add(item)
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(frames)
    return found


async def open_observers(world, actors, own_of):
    """A socket on every route for every actor that the route accepts (own chat joined)."""
    observers = []
    for template, consumer in catalog.socket_routes():
        for actor in actors:
            params = catalog.path_params(template)
            path = template.replace("{" + params[0] + "}", str(own_of(actor))) if params else template
            setup = ([{"type": "join_chat", "chat_id": own_of(actor)}]
                     if "join_chat" in catalog.frame_types(consumer) else [])
            probe = await Sock(world, path, actor).open()
            await probe.close()
            if probe.closed:
                continue  # this actor may not open this route (covered by the socket matrix)
            observers.append(await Sock(world, path, actor, setup).open())
    return observers


async def produce_every_event(world, a_chat, a_customer_chat):
    """Workspace A emits every domain event type (EVENT_PRODUCERS), through real entry points."""
    w = world
    a_web = w.conversations["a_web"].pk
    # presence.changed: staff opens /ws/chat/ (a_chat), the customer joins on the multiplexed socket
    await a_customer_chat.call({"type": "join_chat", "chat_id": a_web})
    # message.created: the customer writes; staff replies over REST
    await a_customer_chat.call({"type": "send_message", "chat_id": a_web, "content": "alpha customer writes"})
    await rest(w, "a_owner", "POST", f"api/conversations/{a_web}/messages/", {"content": "alpha staff replies"})
    # conversation.updated, customer.updated
    await rest(w, "a_owner", "PATCH", f"api/conversations/{a_web}/", {"status": "pending", "priority": "high"})
    await rest(w, "a_owner", "PATCH", f"api/customers/{w.customers['john'].pk}/", {"first_name": "Johnny"})
    # messages.read: staff on /ws/chat/, the customer on the multiplexed socket
    await a_chat.call({"type": "mark_read"})
    newest = (await rest(w, "a_owner", "GET", f"api/conversations/{a_web}/messages/"))["results"][-1]["id"]
    await a_customer_chat.call({"type": "read_message", "chat_id": a_web, "message_id": newest})
    # typing.changed: staff on /ws/chat/, the customer on the multiplexed socket
    await a_chat.call({"type": "typing", "is_typing": True})
    await a_customer_chat.call({"type": "typing", "chat_id": a_web, "is_typing": True})
    # conversation.created: a web customer opens a chat; customer.created: a customer signs up
    await rest(w, "a_customer", "POST", "api/v1/chat/chats/customer", {"title": "alpha new chat",
                                                                       "initial_message": "alpha first words"})
    await rest(w, "anonymous", "POST", "api/v1/customer-auth/register",
               {"workspace": w.a.pk, "first_name": "Alphanew", "email": "alphanew@example.com", "password": PASSWORD})
    # message.updated: the customer edits a message on Instagram (what the webhook calls)
    edited = await database_sync_to_async(message_edit_from_platform)(
        channel=w.channels["a"], external_id="alpha-mid-1", content="alpha edited words")
    assert edited is not None
    # access.revoked: the agent's membership of A is removed (their sockets would close)
    await database_sync_to_async(
        Membership.objects.filter(user=w.users["a_agent"], workspace=w.a).delete)()


async def wait_for_types(listener, wanted: set) -> set:
    """Drain the listener on A's groups until every wanted type was seen (bounded)."""
    seen: set = set()
    loop = asyncio.get_running_loop()
    for _ in range(20):
        seen |= {event["type"] for event in await loop.run_in_executor(None, listener.drain, 0.3)}
        if wanted <= seen:
            break
    return seen


async def test_event_isolation_matrix(world, settings, listen):
    settings.FIKO_CHAT_TYPING = True
    problems = catalog.event_problems()
    assert not problems, "the isolation matrix does not know:\n" + "\n".join(problems)
    w = world
    failures, controls = [], 0

    a_groups = [realtime.workspace_group(w.a.pk)] + [
        realtime.conversation_group(c.pk) for key, c in w.conversations.items() if key != "b_web"] + [
        realtime.principal_group(Participant(USER, w.users['a_agent'].pk))]
    listener = await asyncio.get_running_loop().run_in_executor(None, listen, a_groups)

    def own_conversation(actor):
        return w.own("conversation", actor)

    observers = await open_observers(w, OBSERVERS, own_conversation)
    a_observers = await open_observers(w, ("a_owner", "a_customer"), own_conversation)
    a_chat = await Sock(w, f"ws/chat/{w.conversations['a_web'].pk}/", "a_owner").open()
    a_customer_chat = await Sock(w, "api/v1/chat/ws/chat/customer", "a_customer").open()

    await produce_every_event(w, a_chat, a_customer_chat)
    seen = await wait_for_types(listener, set(realtime.DOMAIN_EVENTS))
    controls += 1
    if set(realtime.DOMAIN_EVENTS) - seen:
        failures.append(f"CONTROL: A never emitted {sorted(set(realtime.DOMAIN_EVENTS) - seen)}")

    # Barriers: B's own events, A's own events, and the customer of A writing in their own chat.
    b_conversation = w.conversations["b_web"].pk
    await rest(w, "b_owner", "PATCH", f"api/customers/{w.customers['b_web'].pk}/", {"first_name": B_BARRIERS[0]})
    await rest(w, "b_owner", "POST", f"api/conversations/{b_conversation}/messages/", {"content": B_BARRIERS[1]})
    await rest(w, "a_owner", "PATCH", f"api/customers/{w.customers['a_web'].pk}/", {"first_name": A_BARRIERS[0]})
    await rest(w, "a_owner", "POST", f"api/conversations/{w.conversations['a_web'].pk}/messages/",
               {"content": A_BARRIERS[1]})
    await database_sync_to_async(w.refresh_forbidden)()
    for actor in OBSERVERS + ("b_owner",):
        await database_sync_to_async(w.forbidden)(actor)

    cases = 0
    for sock in observers:
        label = f"/{sock.path} as {sock.actor}"
        if sock.actor == "a_other_customer":
            await sock.comm.send_json_to({"type": "send_message", "chat_id": own_conversation(sock.actor),
                                          "content": OTHER_BARRIER})
            frames = await sock.read_until(OTHER_BARRIER)
        else:
            frames = await sock.read_until(*B_BARRIERS)
        cases += len(realtime.DOMAIN_EVENTS)
        text = json.dumps(frames, ensure_ascii=False)
        found = leaks(text, w.forbidden(sock.actor))
        if found:
            failures.append(f"{label}: received A's {found}: {text[:500]}")
        foreign = ids_named(frames) - {own_conversation(sock.actor)}
        if foreign:
            failures.append(f"{label}: frames about conversations {sorted(foreign)}: {text[:500]}")
    for sock in a_observers:
        frames = await sock.read_until(*A_BARRIERS)
        controls += 1
        before_barrier = [f for f in frames if not any(b in json.dumps(f) for b in A_BARRIERS)]
        if not leaks(json.dumps(before_barrier), w.forbidden("b_owner")):
            failures.append(f"CONTROL /{sock.path} as {sock.actor}: A's own socket saw none of A's events: {frames}")
    for sock in observers + a_observers + [a_chat, a_customer_chat]:
        await sock.close()

    line = (f"isolation matrix: {cases} event cases ({len(realtime.DOMAIN_EVENTS)} event types x {len(observers)} "
            f"sockets of B's users and of a customer of A); {controls} controls; {len(failures)} leaks/failures")
    report.record("events", line)
    if failures:
        pytest.fail(line + "\n" + "\n".join(failures), pytrace=False)

