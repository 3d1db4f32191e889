"""Both platform webhooks, correctly authenticated (Telegram's secret token, Instagram's
``X-Hub-Signature-256`` over the exact body), with realistic updates (the fixtures of
tests/integrations/*/fixtures/) in which hostile values replace one node at a time — every
leaf and every object or list (``"chat": [1]``, ``"from": "x"``) — and with hostile raw bodies.

The nodes come from the fixtures, so a new fixture adds its nodes. Each node pattern
(``message.photo[].file_id``) gets one value of each group of hostile kinds as explicit examples
in the first fixture that has it (rotating through the catalogue, so each value lands on many
nodes); then Hypothesis generates more, on any node of the fixture. Each request has its own update_id /
message_id / mid, so no case is dropped as a repeat of the last. Invariants:

- never a 5xx: the database is up, so a 503 for an update is a bug (the platform would
  deliver it again forever);
- an update answered 4xx or ``ignored`` (every event of it, on Instagram) wrote no row;
- nothing at ERROR or with a traceback in the log.
"""
from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest
from django.test import Client
from hypothesis import example, given
from hypothesis import strategies as st

from integrations.instagram.views import SIGNATURE_HEADER, signature_for
from integrations.telegram.views import SECRET_HEADER

from . import hostile as H
from .conftest import fuzz_settings
from .world import (MISSING_ID, STATS, BadAnswer, ServerError, TracebackLogged, WroteOnReject, fail, make_world,
                    snapshot, snapshot_diff)

# The views are async: their ORM calls run in another thread, which must see committed rows.
pytestmark = [pytest.mark.fuzz, pytest.mark.django_db(transaction=True)]

FIXTURES = Path(__file__).resolve().parent.parent / "integrations"
PLATFORMS = ("telegram", "instagram")
# Each node gets one value from each group (the groups together are the whole catalogue):
# one that breaks its shape or what can be stored, one that breaks its meaning.
GROUPS = (("wrong_type", "huge_string", "deep_nesting", "nul", "lone_surrogate"),
          ("unicode_digits", "out_of_range_number", "out_of_range_date", "foreign_id", "url"))


@pytest.fixture
def webhook_world(transactional_db, platform_sim):
    return make_world()


def fixture_names(platform: str) -> list[str]:
    return sorted(p.name for p in (FIXTURES / platform / "fixtures").glob("*.json"))


def load(platform: str, name: str, sim_base: str = "http://127.0.0.1:9") -> dict:
    text = (FIXTURES / platform / "fixtures" / name).read_text()
    placeholders = {"SIM": sim_base, "ECHO_MID": "m_fuzz_echo", "ECHO_TEXT": "echo", "READ_MID": "m_fuzz_read"}
    for key, value in placeholders.items():
        text = text.replace("{" + key + "}", value)
    return json.loads(text)


def nodes(document, path=()) -> list[tuple]:
    """Every path below the root: objects, lists and leaves."""
    found = []
    if isinstance(document, dict):
        children = document.items()
    else:
        children = enumerate(document) if isinstance(document, list) else ()
    for key, child in children:
        found.append(path + (key,))
        found += nodes(child, path + (key,))
    return found


def pattern(path: tuple) -> tuple:
    return tuple("[]" if isinstance(key, int) else key for key in path)


def new_nodes(platform: str, name: str) -> list[tuple]:
    """The nodes of this fixture whose pattern (list indices ignored) no earlier fixture of the
    platform has: ``message.from.id`` is fuzzed once per platform, ``photo[].file_id`` once."""
    seen = set()
    for earlier in fixture_names(platform):
        if earlier == name:
            break
        seen |= {pattern(path) for path in nodes(load(platform, earlier))}
    fresh = []
    for path in nodes(load(platform, name)):
        if pattern(path) not in seen:
            seen.add(pattern(path))
            fresh.append(path)
    return fresh


def replace(document, path: tuple, value):
    if not path:
        return value
    copy = dict(document) if isinstance(document, dict) else list(document)
    copy[path[0]] = replace(document[path[0]], path[1:], value)
    return copy


class Webhook:
    def __init__(self, platform: str, world, sim, guard):
        self.platform, self.world, self.sim, self.guard = platform, world, sim, guard
        self.channel = world.own.telegram if platform == "telegram" else world.own.instagram
        self.client = Client(raise_request_exception=False)
        self.serial = itertools.count(1)
        self.rows = None

    def fresh(self, document, hostile_path: tuple):
        """A new update id / message id / mid for this request (unless that is the hostile node)."""
        n = next(self.serial)

        def bump(doc, path, key, make):
            if isinstance(doc, dict) and key in doc and path + (key,) != hostile_path:
                doc[key] = make(doc[key])

        def walk(doc, path=()):
            if isinstance(doc, dict):
                bump(doc, path, "update_id", lambda v: 900_000_000 + n if isinstance(v, int) else v)
                bump(doc, path, "message_id", lambda v: 50_000 + n if isinstance(v, int) else v)
                bump(doc, path, "mid", lambda v: f"{v}-fuzz{n}" if isinstance(v, str) else v)
                for key, child in doc.items():
                    walk(child, path + (key,))
            elif isinstance(doc, list):
                for i, child in enumerate(doc):
                    walk(child, path + (i,))

        document = json.loads(json.dumps(document))
        walk(document)
        return document

    def resolve(self, value, path: tuple):
        """``Ref("other")``: the rival workspace's id of the same kind (its Instagram account
        where the node names the business, its customer's platform id elsewhere)."""
        if not isinstance(value, H.Ref):
            return value
        if value.whose == "missing":
            return H.spell(MISSING_ID, value.form)
        if value.whose == "own":  # our customer's platform id, spelled in other digits
            return H.spell(int(self.world.own.customer.external_id), value.form)
        other = self.world.other
        names = [key for key in path if isinstance(key, str)]
        if self.platform == "instagram":
            business = "recipient" in names or names[-2:] == ["entry", "id"]
            return other.instagram.ig_id if business else other.customer.external_id
        return int(other.customer.external_id)

    def post(self, body: bytes):
        path = f"/integrations/{self.platform}/{self.channel.pk}/webhook/"
        if self.platform == "telegram":
            headers = {SECRET_HEADER: self.channel.webhook_secret}
        else:
            headers = {SIGNATURE_HEADER: signature_for(body, self.channel.app_secret)}
        STATS["webhook"] += 1
        return self.client.post(path, data=body, content_type="application/json", headers=headers)

    def check(self, body: bytes, where: str):
        before = self.rows or snapshot()
        self.rows = None
        self.guard.take()
        response = self.post(body)
        status = response.status_code
        where = f"{self.platform} {where} -> {status}"
        problems = []
        if status >= 500:
            STATS["5xx"] += 1
            problems.append((ServerError, f"server error {response.content[:120]!r}"))
        problems += [(TracebackLogged, line) for line in self.guard.bad(self.guard.take())]
        try:
            payload = json.loads(response.content)
        except ValueError:
            payload = None
        if payload is None or H.has_bad_char(payload):
            problems.append((BadAnswer, f"not JSON, or echoes a lone surrogate or a NUL: {response.content[:100]!r}"))
        rejected = 400 <= status < 500
        if isinstance(payload, dict):  # Telegram: {"ignored": why}; Instagram: {"results": ["ignored", ...]}
            results = payload.get("results")
            rejected |= "ignored" in payload or (isinstance(results, list) and all(r == "ignored" for r in results))
        if rejected:
            self.rows = snapshot()
            changed = snapshot_diff(before, self.rows)
            if changed:
                problems.append((WroteOnReject, f"answered {payload} but wrote: {', '.join(changed)}"))
        fail(problems, where)


def explicit_values(index: int) -> list[H.Hostile]:
    """One value of each group for the ``index``-th node, rotating through the group."""
    values = []
    for group in GROUPS:
        pool = [v for kind in group for v in H.CATALOGUE[kind]]
        values.append(H.Hostile(pool[index % len(pool)]))
    return values


def cases():
    for platform in PLATFORMS:
        for name in fixture_names(platform):
            yield pytest.param(platform, name, id=f"{platform} {name}")


@pytest.mark.parametrize("platform, name", list(cases()))
def test_webhook_update_survives_hostile_values(platform, name, webhook_world, platform_sim, log_guard):
    hook = Webhook(platform, webhook_world, platform_sim, log_guard)
    document = load(platform, name, platform_sim.base_url)
    paths = nodes(document)

    def one(node, value):
        path = paths[node]
        update = replace(hook.fresh(document, path), path, hook.resolve(value.value, path))
        hook.check(H.dumps(update), f"{name} {'.'.join(map(str, path))}={H.short(value.value)}")

    check = given(node=st.integers(0, len(paths) - 1), value=H.hostile())(one)
    for path in new_nodes(platform, name):
        node = paths.index(path)
        for value in explicit_values(node):
            check = example(node=node, value=value)(check)
    fuzz_settings(scale=len(paths) / 8)(check)()  # the fixture's nodes / 4 generated cases (CI profile)


@pytest.mark.parametrize("platform", PLATFORMS)
def test_webhook_raw_body_survives_hostile_values(platform, webhook_world, platform_sim, log_guard):
    """The whole body hostile: not an object, too deep, surrogates, NULs, huge."""
    hook = Webhook(platform, webhook_world, platform_sim, log_guard)

    def one(value):
        body = H.dumps(hook.resolve(value.value, ("id",)))
        hook.check(body, f"body={H.short(value.value)}")

    check = given(value=H.hostile())(one)
    for value in H.canonical():
        check = example(value=value)(check)
    fuzz_settings(scale=3)(check)()


@pytest.mark.parametrize("platform", PLATFORMS)
def test_webhook_of_another_workspace_channel_is_refused(platform, webhook_world, platform_sim, log_guard):
    """Our secret / signature on the rival's channel: 403, nothing stored."""
    hook = Webhook(platform, webhook_world, platform_sim, log_guard)
    document = hook.fresh(load(platform, "text.json", platform_sim.base_url), ())
    world = webhook_world
    hook.channel = world.other.telegram if platform == "telegram" else world.other.instagram
    own = world.own.telegram if platform == "telegram" else world.own.instagram
    body = H.dumps(document)
    before = snapshot()
    path = f"/integrations/{platform}/{hook.channel.pk}/webhook/"
    headers = ({SECRET_HEADER: own.webhook_secret} if platform == "telegram"
               else {SIGNATURE_HEADER: signature_for(body, own.app_secret)})
    STATS["webhook"] += 1
    response = hook.client.post(path, data=body, content_type="application/json", headers=headers)
    assert response.status_code == 403
    assert snapshot_diff(before, snapshot()) == []


@pytest.mark.parametrize("param", ["hub.mode", "hub.verify_token", "hub.challenge"])
def test_instagram_subscription_check_survives_hostile_values(param, webhook_world, log_guard):
    """GET with ``hub.*`` parameters (the right verify token, one parameter hostile): never a
    5xx or a traceback, and a challenge is echoed as plain text, never as something a browser
    would render."""
    channel = webhook_world.own.instagram
    client = Client(raise_request_exception=False)
    good = {"hub.mode": "subscribe", "hub.verify_token": channel.verify_token, "hub.challenge": "1158201444"}

    def hook_value(value):
        return H.spell(int(channel.pk), value.form) if isinstance(value, H.Ref) else value

    def one(value):
        raw = {**{k: v.encode() for k, v in good.items()}, param: H.text_bytes(hook_value(value.value))}
        query = H.query_string(list(raw.items()))
        log_guard.take()
        STATS["webhook"] += 1
        response = client.get(f"/integrations/instagram/{channel.pk}/webhook/?{query}")
        where = f"GET instagram webhook {param}={H.short(value.value)} -> {response.status_code}"
        problems = []
        if response.status_code >= 500:
            STATS["5xx"] += 1
            problems.append((ServerError, "server error"))
        problems += [(TracebackLogged, line) for line in log_guard.bad(log_guard.take())]
        if response.status_code == 200 and not response["Content-Type"].startswith("text/plain"):
            problems.append((BadAnswer, f"challenge answered as {response['Content-Type']}"))
        fail(problems, where)

    check = given(value=H.hostile())(one)
    for value in H.canonical():
        check = example(value=value)(check)
    fuzz_settings()(check)()
