"""Isolation matrix, sockets: every route of ``fiko.routing.websocket_urlpatterns`` through the
real ASGI application, and every inbound frame type of its consumer (its ``on_<type>``
methods and aliases), tried by B's owner (token and session cookie), B's agent, B's customer,
a customer of A who does not own the object, and an anonymous client.

- A route with A's conversation in its path closes exactly like a missing id (frames and code).
- On every socket that accepts the actor, each frame key that names an object (chat_id,
  message_id, reply_to_message_id, filters that name tags/users/customers, search texts) is
  sent with each of A's objects: the frames that come back equal those for a missing id, no row
  is written, nothing of A's is shown and no ``server_error`` comes back. Frames that name no
  object are sent once: nothing of A's, no ``server_error``, A's rows untouched.
- The answer to a frame is everything the socket sends until the ``pong`` of a ``ping`` sent
  right after it (frames are handled in order), so no case waits on a clock.

Controls: A's own owner/customer sends the same frames with the same values and gets no error.
"""
import json
from collections import Counter

import pytest
from channels.db import database_sync_to_async

from conversations.models import Message
from tests.isolation import catalog, report
from tests.isolation.sock import Sock
from tests.isolation.world import MISSING_ID, fingerprint, leaks, normalized, workspace_rows

pytestmark = pytest.mark.django_db(transaction=True)

SOCKET_ACTORS = ("b_owner", "b_agent", "b_session", "b_customer", "a_other_customer", "anonymous")
STAFF_ACTORS = ("b_owner", "b_agent", "b_session")
CUSTOMER_ACTORS = ("b_customer", "a_other_customer")


class Matrix:
    def __init__(self, world):
        self.world = world
        self.failures: list[str] = []
        self.counts: Counter = Counter()
        self.controls = 0

    def fail(self, label, problem):
        self.failures.append(f"{label}: {problem}")

    def check(self, label, actor, frames, *, sent=(), before=None, after=None):
        text = json.dumps(frames, ensure_ascii=False)
        errors = [f for f in frames if f.get("code") == "server_error"]
        if errors:
            self.fail(label, f"server_error: {errors}")
        found = leaks(text, self.world.forbidden(actor), probes=[s for s in sent if isinstance(s, str)])
        if found:
            self.fail(label, f"frames show A's {found}: {text[:400]}")
        if before is not None and before != after:
            self.fail(label, f"rows changed in {[t for t in before if before[t] != after.get(t)]}")


fingerprint_async = database_sync_to_async(fingerprint)
workspace_rows_async = database_sync_to_async(workspace_rows)


@database_sync_to_async
def message_ids_async(conversation_id):
    return set(Message.objects.filter(conversation_id=conversation_id).values_list("pk", flat=True))


def own_frame(world, frame_type, actor):
    base = dict(catalog.BASE_FRAMES.get(frame_type, {}))
    for key, value in base.items():
        if value == catalog.OWN_CONVERSATION:
            base[key] = world.own("conversation", actor)
        elif value == catalog.OWN_MESSAGE:
            base[key] = world.own("message", actor)
    return {"type": frame_type, **base}


def setup_frames(world, consumer, actor):
    """Multiplexed sockets join the actor's own chat first (so chat_id is all that differs)."""
    if "join_chat" not in catalog.frame_types(consumer):
        return []
    return [{"type": "join_chat", "chat_id": world.own("conversation", actor)}]


def probes_of(world, consumer, frame_type, method, actor):
    """(label, frame with A's value, frame with a missing value, kind, values sent, is_filter)
    for each key of this frame type that names an object. A filter or a search narrows a list
    (answered with a list); any other key names the object acted on (answered with an error)."""
    result = []
    base = own_frame(world, frame_type, actor)
    for key in sorted(catalog.frame_keys(consumer, method)):
        kind = catalog.PARAM_KINDS.get(key)
        if kind is None:
            continue
        if kind == "filters":
            filterset = catalog.list_filtersets()[consumer]
            for name in sorted(filterset.base_filters):
                fkind = catalog.PARAM_KINDS.get(name)
                if fkind is None:
                    continue
                wrap = (lambda v: [v]) if fkind == "tag_name" else (lambda v: v)
                for value in world.a_values(fkind, actor):
                    result.append((f"{key}.{name}={value!r}", {**base, key: {name: wrap(value)}},
                                   {**base, key: {name: wrap(world.missing(fkind))}}, fkind,
                                   [value, world.missing(fkind)], True))
        elif kind == "credential":
            for who in ("a_owner", "a_customer"):
                result.append((f"{key}=<{who}'s token>", {**base, key: world.tokens[who]}, None, kind, [], False))
        else:
            for value in world.a_values(kind, actor):
                result.append((f"{key}={value!r}", {**base, key: value}, {**base, key: world.missing(kind)}, kind,
                               [value, world.missing(kind)], kind == "text"))
    return result


async def connect_cases(m: Matrix, template, consumer):
    """Connect as every actor; a path naming A's object closes like a missing one."""
    world = m.world
    params = catalog.path_params(template)
    opened = []
    for actor in SOCKET_ACTORS:
        if params:
            kind = catalog.SOCKET_PATH_OBJECTS[template][params[0]]
            missing = await Sock(world, template.replace("{" + params[0] + "}", str(MISSING_ID)), actor).open()
            await missing.close()
            for value in world.a_values(kind, actor):
                label = f"connect /{template.format(**{params[0]: value})} as {actor} (A's {kind})"
                before = await fingerprint_async()
                sock = await Sock(world, template.replace("{" + params[0] + "}", str(value)), actor).open()
                await sock.close()
                m.counts["socket connect"] += 1
                m.check(label, actor, sock.initial, before=before, after=await fingerprint_async())
                if sock.closed not in (4404, 1008):
                    m.fail(label, f"not closed 4404/1008 (close code {sock.closed}, frames {sock.initial})")
                if (sock.closed, normalized(sock.initial, [value, MISSING_ID])) != \
                        (missing.closed, normalized(missing.initial, [value, MISSING_ID])):
                    m.fail(label, f"differs from a missing id: {sock.closed} {sock.initial} vs "
                                  f"{missing.closed} {missing.initial}")
            own_path = template.replace("{" + params[0] + "}", str(world.own(kind, actor)))
            sock = await Sock(world, own_path, actor).open()
            await sock.close()
            if not sock.closed:
                opened.append((own_path, actor))
        else:
            sock = await Sock(world, template, actor).open()
            await sock.close()
            m.counts["socket connect"] += 1
            m.check(f"connect /{template} as {actor}", actor, sock.initial)
            if not sock.closed:
                opened.append((template, actor))
    return opened


async def frame_cases(m: Matrix, path, actor, consumer):
    world = m.world
    for frame_type, method in catalog.frame_types(consumer).items():
        sock = await Sock(world, path, actor, setup_frames(world, consumer, actor)).open()
        probes = probes_of(world, consumer, frame_type, method, actor)
        if not probes:
            a_before = await workspace_rows_async(world.a.pk)
            frames, closed = await sock.call(own_frame(world, frame_type, actor))
            m.counts["socket frame (no id)"] += 1
            m.check(f"/{path} {frame_type} as {actor}", actor, frames, before=a_before,
                    after=await workspace_rows_async(world.a.pk))
            await sock.close()
            continue
        for label, frame, missing_frame, kind, sent, is_filter in probes:
            label = f"/{path} {frame_type} {label} as {actor}"
            if kind == "client_message_id":
                known_ids = await message_ids_async(world.own("conversation", actor))
            before, frames, after = await call_watching_rows(sock, frame, kind, actor)
            m.counts["socket frame"] += 1
            m.check(label, actor, frames, sent=sent, before=before, after=after)
            if kind == "credential":
                if [f.get("code") for f in frames] != ["forbidden"]:
                    m.fail(label, f"another principal's token was not refused: {frames}")
                continue
            if kind == "client_message_id":
                late = await stored_message_shown(sock, actor, known_ids, frames)
                m.check(label, actor, late, sent=sent)
                frames += late
                known_ids = await message_ids_async(world.own("conversation", actor))
            missing_frames, _ = await sock.call(missing_frame)
            if kind == "client_message_id":
                missing_frames += await stored_message_shown(sock, actor, known_ids, missing_frames)
            if kind == "cursor":
                ids = {msg["id"] for f in frames for msg in f.get("messages", [])}
                own_ids = await message_ids_async(world.own("conversation", actor))
                if ids - own_ids:
                    m.fail(label, f"messages not of the actor's workspace: {sorted(ids - own_ids)}")
                continue
            if kind == "client_message_id":
                if [f.get("type") for f in frames] != [f.get("type") for f in missing_frames]:
                    m.fail(label, f"A's client id answered {frames}, a fresh one {missing_frames}")
                continue
            if normalized(frames, sent) != normalized(missing_frames, sent):
                m.fail(label, f"not-yours differs from missing: {frames} vs {missing_frames}")
            if not is_filter and not any(f.get("type") == "error" for f in frames):
                m.fail(label, f"no error frame for A's object: {frames}")
        await sock.close()


async def stored_message_shown(sock, actor, known_ids, frames) -> list[dict]:
    """A send that stores a message is answered by that message's event, which comes through
    the fan-out (Redis) and may arrive after the ``pong`` of the ping sent after it. Wait for
    the event of each message the send stored that ``frames`` do not show yet (every socket
    with a send frame is in the conversation's group), so one send's answer never spills into
    the next one's."""
    stored = await message_ids_async(sock.world.own("conversation", actor)) - known_ids
    shown = {(f.get("message") or {}).get("id") for f in frames if isinstance(f.get("message"), dict)}
    more = []
    for message_id in sorted(stored - shown):
        more += await sock.read_until_message(message_id)
    return more


async def call_watching_rows(sock, frame, kind, actor):
    """(rows before, answer, rows after). Every row of every table must stay as it was, except
    that a fresh client_message_id legitimately stores the actor's own message: then A's rows
    (and for A's own customer, whose chat is in A, nothing) are compared."""
    world = sock.world
    if kind != "client_message_id":
        rows = fingerprint_async
    elif actor != "a_other_customer":
        rows = lambda: workspace_rows_async(world.a.pk)  # noqa: E731
    else:
        return None, (await sock.call(frame))[0], None
    before = await rows()
    frames, _ = await sock.call(frame)
    return before, frames, await rows()


async def control_cases(m: Matrix, template, consumer):
    """A's own user, same frames, same values: accepted (no error frame); lists show A's texts."""
    world = m.world
    actor = "a_owner" if consumer.principal_kind == "staff" else "a_customer"
    params = catalog.path_params(template)
    path = template.replace("{" + params[0] + "}", str(world.own("conversation", actor))) if params else template
    control_values = {"conversation": world.own("conversation", actor), "message": world.own("message", actor),
                      "tag_list": [world.tags["a_vip"].pk], "tag_name": world.tags["a_vip"].name,
                      "user": world.users["a_owner"].pk, "customer": world.customers["a_web"].pk, "text": "Alphaweb"}
    for frame_type, method in catalog.frame_types(consumer).items():
        for label, frame, _missing, kind, sent, is_filter in probes_of(world, consumer, frame_type, method, actor):
            if not sent or sent[0] != control_values.get(kind):
                continue
            sock = await Sock(world, path, actor, setup_frames(world, consumer, actor)).open()
            frames, _ = await sock.call(frame)
            await sock.close()
            m.controls += 1
            if any(f.get("type") == "error" for f in frames):
                m.fail(f"CONTROL /{path} {frame_type} {label} as {actor}", f"refused for A's own user: {frames}")
            if is_filter and not leaks(json.dumps(frames), world.forbidden("b_owner"), probes=[str(s) for s in sent]):
                m.fail(f"CONTROL /{path} {frame_type} {label} as {actor}", f"A's own list shows nothing of A: {frames}")


async def test_socket_isolation_matrix(world, settings):
    settings.FIKO_CHAT_TYPING = True  # the typing handler of /ws/chat/ runs too
    problems = catalog.socket_problems()
    assert not problems, "the isolation matrix does not know:\n" + "\n".join(problems)
    m = Matrix(world)
    for actor in SOCKET_ACTORS + ("b_owner",):  # computed here: the checks run on the event loop
        await database_sync_to_async(world.forbidden)(actor)
    routes = catalog.socket_routes()
    for template, consumer in routes:
        opened = await connect_cases(m, template, consumer)
        # Control: every actor of the right kind gets in (else the cases prove nothing).
        kind_actors = STAFF_ACTORS if consumer.principal_kind == "staff" else CUSTOMER_ACTORS
        m.controls += 1
        if sorted(actor for _, actor in opened) != sorted(kind_actors):
            m.fail(f"CONTROL /{template}", f"opened for {sorted(a for _, a in opened)}, expected {sorted(kind_actors)}")
        for path, actor in opened:
            await frame_cases(m, path, actor, consumer)
    for template, consumer in routes:
        await control_cases(m, template, consumer)

    total = sum(m.counts.values())
    detail = ", ".join(f"{n} {k}" for k, n in sorted(m.counts.items()))
    line = (f"isolation matrix: {total} socket cases ({detail}) on {len(routes)} routes; {m.controls} controls; "
            f"{len(m.failures)} leaks/failures")
    report.record("socket", line)
    if m.failures:
        pytest.fail(line + "\n" + "\n".join(m.failures), pytrace=False)
