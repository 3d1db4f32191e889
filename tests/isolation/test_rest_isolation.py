"""Isolation matrix, REST: every endpoint and method of the URL conf (tests/isolation/catalog.py
says what is skipped and why) tried by the actors of workspace B — its owner (token and
session), an agent, a customer — plus an anonymous client and a customer of A who does not own
the object, against each of workspace A's objects.

For a path id of A's: 401/403/404, the same status and body as for a missing id, no row
changed, none of A's texts in the answer. For ids of A's in query parameters and bodies (filters,
assignee, tag_ids, reply_to_message_id, customer_id, user_id, workspace): the same answer as for
a missing id, no row changed, nothing of A's. Lists must show nothing of A's, whatever the
filters name. Each case runs in a savepoint that is rolled back, so cases cannot affect each
other.

Controls make sure the matrix can fail: workspace A's own owner (or customer) gets 2xx with the
same paths, bodies and values, and sees A's texts where B must not.
"""
import json
from collections import Counter
from dataclasses import dataclass
from urllib.parse import urlencode

import pytest
from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.test import Client

from tests.isolation import catalog, report
from tests.isolation.world import (B_ACTORS, MISSING_ID, PASSWORD, REST_ACTORS, fingerprint, fingerprint_diff,
                                   leaks, message_ids_of, normalized, workspace_path_problems, workspace_rows)

pytestmark = pytest.mark.django_db

DENIED = {401, 403, 404}
REFUSED = {400, 401, 403, 404}
# Endpoints a customer token may use; for these the A-side control actor is A's customer.
CUSTOMER_ONLY = {"api/v1/chat/chats/customer"}
CUSTOMER_VISIBLE = {"api/v1/chat/chats/{chat_id}/messages"} | CUSTOMER_ONLY
CONTROL_NOT_APPLICABLE = {
    ("api/channels/{channel_id}/", "PATCH", "workspace"): "a channel never moves workspace, even its owner's",
}


@dataclass
class Answer:
    status: int
    text: str
    changed: list


class Matrix:
    def __init__(self, world):
        self.world = world
        self.clients: dict[str, Client] = {}
        self.baseline = fingerprint()
        self.a_rows = workspace_rows(world.a.pk)
        self.failures: list[str] = []
        self.counts: Counter = Counter()
        self.controls = 0

    # --- requests ------------------------------------------------------------------------------
    def client(self, actor: str) -> Client:
        if actor not in self.clients:
            client = Client(raise_request_exception=False)
            if actor == "b_session":
                client.cookies[settings.SESSION_COOKIE_NAME] = self.world.session_cookie
            self.clients[actor] = client
        return self.clients[actor]

    def call(self, actor, method, path, *, query=None, body=None, only_a_rows=False) -> Answer:
        """One request in a savepoint that is rolled back; ``changed`` lists the tables whose
        rows differ afterwards (all rows, or only workspace A's)."""
        headers = {}
        token = self.world.tokens.get(actor)
        if token:
            headers["HTTP_AUTHORIZATION"] = f"Bearer {token}"
        url = "/" + path + ("?" + urlencode(query, doseq=True) if query else "")
        with transaction.atomic():
            if body is None:
                response = self.client(actor).generic(method, url, **headers)
            else:
                response = self.client(actor).generic(method, url, json.dumps(body), content_type="application/json",
                                                      **headers)
            if only_a_rows:
                after = workspace_rows(self.world.a.pk)
                changed = [t for t in after if after[t] != self.a_rows[t]]
            else:
                changed = fingerprint_diff(self.baseline, fingerprint())
            transaction.set_rollback(True)
        return Answer(response.status_code, response.content.decode("utf-8", "replace"), changed)

    # --- checks --------------------------------------------------------------------------------
    def fail(self, label, problem):
        self.failures.append(f"{label}: {problem}")

    def no_leak(self, label, actor, answer, sent=()):
        if answer.status >= 500:
            self.fail(label, f"{answer.status} (server error): {answer.text[:300]}")
        if answer.changed:
            self.fail(label, f"rows changed: {answer.changed}")
        found = leaks(answer.text, self.world.forbidden(actor), probes=[s for s in sent if isinstance(s, str)])
        if found:
            self.fail(label, f"answer shows A's {found}: {answer.text[:300]}")

    def same_as_missing(self, label, answer, missing, probes):
        if answer.status != missing.status or normalized(answer.text, probes) != normalized(missing.text, probes):
            self.fail(label, f"not-yours differs from missing: {answer.status} {answer.text[:300]!r} "
                             f"vs {missing.status} {missing.text[:300]!r}")

    def control(self, label, answer, *, expect_2xx=True, expect_a_text=False):
        self.controls += 1
        if expect_2xx and not 200 <= answer.status < 300:
            self.fail(f"CONTROL {label}", f"A's own user got {answer.status}: {answer.text[:300]}")
        if expect_a_text and not leaks(answer.text, self.world.forbidden("b_owner")):
            self.fail(f"CONTROL {label}", f"A's own user does not see A's texts: {answer.text[:300]}")

    # --- bodies --------------------------------------------------------------------------------
    def base_body(self, template, method, actor):
        body = catalog.BASE_BODIES.get((template, method))
        if body is None:
            return None
        return {k: (self.world.own(catalog.PARAM_KINDS[k], actor) if v is catalog.OWN else v) for k, v in body.items()}


def fill(template: str, value) -> str:
    return template.replace("{" + catalog.path_params(template)[0] + "}", str(value)) if "{" in template else template


def path_kind(template):
    params = catalog.path_params(template)
    return catalog.PATH_OBJECTS[template][params[0]] if params else None


def control_actor(template):
    return "a_customer" if template in CUSTOMER_ONLY else "a_owner"


# --- the parts of the matrix -----------------------------------------------------------------------
def path_probes(m: Matrix, template, method):
    """A's object in the path, every actor."""
    kind = path_kind(template)
    for actor in REST_ACTORS:
        body = m.base_body(template, method, actor)
        missing = m.call(actor, method, fill(template, MISSING_ID), body=body)
        for value in m.world.a_values(kind, actor):
            label = f"{method} /{fill(template, value)} as {actor} (A's {kind})"
            answer = m.call(actor, method, fill(template, value), body=body)
            m.counts["REST path"] += 1
            if answer.status not in DENIED and answer.status < 500:
                m.fail(label, f"answered {answer.status}, not 401/403/404: {answer.text[:300]}")
            m.no_leak(label, actor, answer)
            m.same_as_missing(label, answer, missing, [value, MISSING_ID])
    for actor in ["a_owner"] + (["a_customer"] if template in CUSTOMER_VISIBLE and method == "GET" else []):
        path = fill(template, m.world.own(kind, actor))
        answer = m.call(actor, method, path, body=m.base_body(template, method, actor))
        m.control(f"{method} /{path} as {actor}", answer, expect_a_text=method == "GET")


def id_fields(template, method):
    names = catalog.query_params(template, method) + catalog.body_fields(template, method)
    return [(n, catalog.PARAM_KINDS[n]) for n in names if n in catalog.PARAM_KINDS]


def field_probes(m: Matrix, template, method):
    """A's ids in query parameters and body fields, B's actors, on their own objects."""
    in_query = set(catalog.query_params(template, method))
    kind_of_path = path_kind(template)
    for name, kind in id_fields(template, method):
        for actor in B_ACTORS:
            path = fill(template, m.world.own(kind_of_path, actor)) if kind_of_path else template

            def send(value, actor=actor, path=path, name=name):
                if name in in_query:
                    return m.call(actor, method, path, query={name: value}, only_a_rows=False)
                body = {**(m.base_body(template, method, actor) or {}), name: value}
                return m.call(actor, method, path, body=body, only_a_rows=kind == "client_message_id")

            missing = send(m.world.missing(kind))
            for value in m.world.a_values(kind):
                label = f"{method} /{path} {name}={value!r} as {actor} (A's {kind})"
                answer = send(value)
                m.counts["REST query id" if name in in_query else "REST body id"] += 1
                m.no_leak(label, actor, answer, sent=[value])
                if kind == "cursor":  # a position in the id order: only B's rows may come back
                    if answer.status == 200:
                        ids = {row["id"] for row in json.loads(answer.text).get("results", [])}
                        if ids - message_ids_of(m.world, m.world.b.pk):
                            m.fail(label, f"messages not of B: {sorted(ids)}")
                    continue
                if kind == "client_message_id" and answer.status < 300:
                    if answer.status != missing.status:  # a replay (200) of A's message instead of 201
                        m.fail(label, f"{answer.status} for A's client_message_id, {missing.status} for a fresh one")
                    continue
                if method != "GET" and answer.status not in REFUSED and answer.status < 500:
                    m.fail(label, f"answered {answer.status}: {answer.text[:300]}")
                m.same_as_missing(label, answer, missing, [value, m.world.missing(kind)])
        if kind in ("cursor",) or (template, method, name) in CONTROL_NOT_APPLICABLE:
            continue
        field_control(m, template, method, name, kind, in_query)


def field_control(m: Matrix, template, method, name, kind, in_query):
    """A's own user with A's value: the value takes effect (2xx, or a different list)."""
    actor = control_actor(template)
    kind_of_path = path_kind(template)
    path = fill(template, m.world.own(kind_of_path, actor)) if kind_of_path else template
    w = m.world
    # a user: the filter names the owner (assigned a conversation); a body moves it to the agent
    user = "a_agent" if actor == "a_owner" and name not in in_query else "a_owner"
    value = {"tag_list": [w.tags["a_vip"].pk], "user": w.users[user].pk,
             "customer": w.customers["john"].pk, "workspace": w.a.pk, "message": w.messages["a_web_hello"].pk,
             "client_message_id": "alpha-cmid-2", "tag_name": "alpha-vip", "text": "Alphaweb"}[kind]
    label = f"{method} /{path} {name}={value!r} as {actor}"
    if name in in_query:
        hit = m.call(actor, method, path, query={name: value})
        miss = m.call(actor, method, path, query={name: w.missing(kind)})
        m.controls += 1
        if hit.status != 200 or normalized(hit.text, []) == normalized(miss.text, []):
            m.fail(f"CONTROL {label}", f"the filter has no effect for A's own user: {hit.status} {hit.text[:200]}")
        return
    body = {**(m.base_body(template, method, actor) or {}), name: value}
    answer = m.call(actor, method, path, body=body)
    m.control(label, answer)
    if kind == "client_message_id" and answer.status != 200:
        m.fail(f"CONTROL {label}", f"a replay in A's own conversation answered {answer.status}, not 200")


def unique_key_probes(m: Matrix, template, method):
    """A value unique per workspace (a tag name) taken in A behaves in B like a fresh one."""
    for (t, meth, name), kind in catalog.UNIQUE_KEYS.items():
        if (t, meth) != (template, method):
            continue
        for actor in B_ACTORS:
            path = fill(template, m.world.own(path_kind(template), actor)) if path_kind(template) else template
            base = m.base_body(template, method, actor) or {}
            fresh = m.call(actor, method, path, body={**base, name: m.world.missing(kind)}, only_a_rows=True)
            for value in m.world.a_values(kind):
                label = f"{method} /{path} {name}={value!r} as {actor} (taken in A)"
                answer = m.call(actor, method, path, body={**base, name: value}, only_a_rows=True)
                m.counts["REST unique value"] += 1
                m.no_leak(label, actor, answer, sent=[value])
                if answer.status != fresh.status:
                    m.fail(label, f"{answer.status} for A's value, {fresh.status} for a fresh one: {answer.text[:200]}")
                elif answer.status >= 300:
                    m.same_as_missing(label, answer, fresh, [value, m.world.missing(kind)])
        if method == "POST":  # in A itself the value is taken
            answer = m.call("a_owner", method, template, body={name: "alpha-vip"})
            m.controls += 1
            if answer.status != 400:
                m.fail(f"CONTROL {method} /{template} {name}=alpha-vip as a_owner", f"{answer.status}, not 400")


def list_probes(m: Matrix, template):
    for actor in REST_ACTORS:
        answer = m.call(actor, "GET", template)
        m.counts["REST list"] += 1
        m.no_leak(f"GET /{template} as {actor}", actor, answer)
    actor = control_actor(template)
    m.control(f"GET /{template} as {actor}", m.call(actor, "GET", template), expect_a_text=True)


def customer_auth_probes(m: Matrix):
    """Sign-in and sign-up name a workspace: another workspace's account is unknown there."""
    w = m.world

    def login(workspace, email, password=PASSWORD):
        cache.clear()  # the login throttle counts failures per account and address
        return m.call("anonymous", "POST", "api/v1/customer-auth/login",
                      body={"workspace": workspace, "email": email, "password": password})

    cases = [(w.a.pk, "bravoweb@example.com"), (w.a.slug, "bravoweb@example.com"), (w.b.pk, "alphaweb@example.com"),
             (w.b.slug, "alphaweb@example.com")]
    for workspace, email in cases:
        label = (f"POST /api/v1/customer-auth/login workspace={workspace!r} email={email} "
                 f"(an account of the other workspace)")
        answer, missing = login(workspace, email), login(workspace, "nobody-here@example.com")
        m.counts["REST sign-in"] += 1
        if answer.status != 401:
            m.fail(label, f"answered {answer.status}: {answer.text[:200]}")
        m.no_leak(label, "b_customer", answer, sent=[email])
        m.same_as_missing(label, answer, missing, [email, "nobody-here@example.com"])
    m.control("customer login into A with A's account", login(w.a.pk, "alphaweb@example.com"))

    def register(workspace, email):
        return m.call("anonymous", "POST", "api/v1/customer-auth/register",
                      body={"workspace": workspace, "first_name": "Probe", "email": email, "password": PASSWORD},
                      only_a_rows=True)

    label = "POST /api/v1/customer-auth/register into B with an e-mail taken in A"
    answer, fresh = register(w.b.pk, "alphaweb@example.com"), register(w.b.pk, "nobody-here@example.com")
    m.counts["REST sign-in"] += 1
    m.no_leak(label, "b_customer", answer, sent=["alphaweb@example.com"])
    if answer.status != fresh.status:
        m.fail(label, f"{answer.status} for A's e-mail, {fresh.status} for a fresh one: {answer.text[:200]}")
    m.controls += 1
    if register(w.a.pk, "alphaweb@example.com").status != 400:
        m.fail("CONTROL register into A with A's e-mail", "not refused")


def identity_controls(m: Matrix):
    """Each actor is who the matrix says (a session that silently fell back to anonymous would
    make every case pass for the wrong reason)."""
    for actor, path, expected in [("b_owner", "api/v1/auth/me", "mallory"),
                                  ("b_agent", "api/v1/auth/me", "bravo-agent"),
                                  ("b_session", "api/v1/auth/me", "mallory"),
                                  ("b_customer", "api/v1/chat/chats/customer", "bravoweb"),
                                  ("a_other_customer", "api/v1/chat/chats/customer", "alphaother")]:
        answer = m.call(actor, "GET", path)
        m.controls += 1
        if answer.status != 200 or expected not in answer.text.lower():
            m.fail(f"CONTROL identity of {actor}", f"{answer.status} {answer.text[:200]}")
    m.controls += 1
    if m.call("anonymous", "GET", "api/v1/auth/me").status != 401:
        m.fail("CONTROL identity of anonymous", "not 401")


def test_rest_isolation_matrix(world):
    problems = catalog.rest_problems() + workspace_path_problems()
    assert not problems, "the isolation matrix does not know:\n" + "\n".join(problems)
    m = Matrix(world)
    identity_controls(m)
    for template, method in catalog.rest_endpoints():
        if (template, method) in catalog.PUBLIC:
            continue
        if catalog.path_params(template):
            path_probes(m, template, method)
        elif method == "GET":
            list_probes(m, template)
        field_probes(m, template, method)
        unique_key_probes(m, template, method)
    customer_auth_probes(m)

    total = sum(m.counts.values())
    detail = ", ".join(f"{n} {k}" for k, n in sorted(m.counts.items()))
    line = (f"isolation matrix: {total} REST cases ({detail}); {m.controls} controls; "
            f"{len(m.failures)} leaks/failures")
    report.record("rest", line)
    if m.failures:
        pytest.fail(line + "\n" + "\n".join(m.failures), pytrace=False)
