"""Every REST endpoint and method, every path id, query parameter and body field, with
hostile values (tests/fuzz/hostile.py), through Django's test client.

One test per (operation, slot, actor), all generated from the URL conf and the OpenAPI schema
(rest_surface.py). Each runs the whole catalogue as explicit examples, then values Hypothesis
generates; the other fields of the request hold valid values, so the hostile one is what the
endpoint has to deal with. Invariants, per request:

- never a 5xx;
- a 4xx is JSON with a ``code``; a 2xx/4xx JSON body is valid UTF-8 JSON;
- a 4xx answer to a write changed no row (customers, conversations, messages, tags, channels,
  users, memberships, read markers);
- nothing at ERROR or with a traceback in the log;
- a body that is not acceptable JSON (deeper than 32 levels, a lone surrogate, a NUL) is a 400
  ``invalid_json``; another workspace's id in the path is answered like a missing one (404);
  an id in other scripts' digits, signed, spaced or past bigint is refused, not read as an id;
  a ``javascript:``/``data:`` URL is never accepted as a media URL; no answer echoes a lone
  surrogate or a NUL.

Also generated from the URL conf: every method a route does not serve (a JSON 405) and every
API route with a segment too many (a JSON 404).
"""
from __future__ import annotations

import json
import re

import pytest
from django.core.cache import cache
from hypothesis import example, given
from rest_framework.test import APIClient

from fiko.tokens import customer_tokens_for, staff_tokens_for

from . import hostile as H
from .conftest import fuzz_settings
from .rest_surface import WRITE_METHODS, Operation, Slot, operations, thawed, unserved_methods
from .world import (STATS, BadAnswer, BadIdAccepted, ForeignIdAnswered, NoErrorCode, NotInvalidJSON, ScriptURLAccepted,
                    ServerError, TracebackLogged, WrongStatus, WroteOnReject, fail, id_kind, snapshot, snapshot_diff)

pytestmark = pytest.mark.fuzz

SCRIPT_URL = re.compile(r"^\s*(javascript|vbscript|data):", re.IGNORECASE)

# Valid values by field name, so that only the hostile field is wrong. Ids come from World.
VALID_BY_NAME = {
    "content": "fuzz message", "initial_message": "hello from the fuzz suite", "title": "fuzz chat",
    "name": "fuzz-name", "first_name": "Fuzz", "last_name": "Tester", "password": "pw-12345",
    "color": "#12abef", "email": "fuzz@example.com", "phone": "+15550100", "search": "sara",
    "bot_token": "6123456789:AAFuzzTokenFuzzTokenFuzzTokenFuzz", "webhook_secret": "fuzz-secret-0123456789",
    "ig_id": "17841400000000001", "page_id": "100000000000001", "access_token": "IGQFUZZ",
    "app_secret": "fuzz-app-secret-0123456789abcdef", "verify_token": "fuzz-verify",
}


def cases():
    for op in operations():
        for actor in op.actors:
            for slot in op.slots or (Slot("query", "fuzz"),):
                yield pytest.param(op, slot, actor, id=f"{op} {slot} as {actor}")


class Rest:
    """Builds one request per (operation, slot, value) and checks the invariants."""

    def __init__(self, world, guard):
        self.world, self.guard = world, guard
        self.client = APIClient()
        self.client.raise_request_exception = False  # a view's exception is a 500 to check, not a crash
        self.rows = None  # the last snapshot, while no request may have changed a row
        self.refresh = {"staff": staff_tokens_for(world.own.staff)["refresh"],
                        "customer": customer_tokens_for(world.own.web_customer)["refresh"]}

    # --- values --------------------------------------------------------------------------------
    def resolve(self, value, name: str, template: str, actor: str):
        """``value`` with its Refs replaced by the ids they stand for (the kind ``name`` names)."""
        if isinstance(value, H.Ref):
            return self.world.resolve(value, id_kind(name, template) or "conversation", actor)
        if isinstance(value, list):
            return [self.resolve(v, name, template, actor) for v in value]
        if isinstance(value, dict):
            return {k: self.resolve(v, name, template, actor) for k, v in value.items()}
        return value

    def valid(self, name: str, schema: dict, template: str, actor: str, op: Operation):
        kind = id_kind(name, template)
        if name == "refresh":
            return self.refresh["customer" if "customer-auth" in template else "staff"]
        if name == "username":
            return self.world.own.staff.username
        if name == "workspace" and "customer-auth" in template:
            return self.world.own.workspace.slug
        if kind:
            value = self.world.resolve(H.Ref("own"), kind, actor)
            return [value] if schema.get("type") == "array" else value
        if "enum" in schema:
            return schema["enum"][0]
        if name in VALID_BY_NAME:
            return VALID_BY_NAME[name]
        if name == "reference":
            return {"type": "product", "id": 1, "title": "A product"}
        return {"boolean": False, "integer": 1, "string": "fuzz"}.get(schema.get("type"))

    def base_body(self, op: Operation, actor: str) -> dict:
        body = {}
        for name, schema_json in op.body_schema:
            schema = json.loads(schema_json)
            if name in op.required or name in VALID_BY_NAME or name in ("username",):
                if schema.get("format") == "binary":
                    continue
                body[name] = self.valid(name, schema, op.template, actor, op)
        if op.template.endswith("/auth/login") or op.template.endswith("/customer-auth/login"):
            body.pop("email", None)  # one login name at a time
            if "customer-auth" in op.template:
                body["email"] = self.world.own.web_customer.email
        if "register" in op.template:
            body.pop("phone", None)
        if op.template.startswith("/api/channels/") and op.method == "post":
            for secret in ("ig_id", "page_id", "access_token", "app_secret", "verify_token"):
                body.pop(secret, None)  # a Telegram channel: Instagram credentials would be refused
        return body

    # --- one request ---------------------------------------------------------------------------
    def request(self, op: Operation, slot: Slot, value, actor: str):
        template = op.template
        resolved = self.resolve(value, _leaf(slot.name) or "id", template, actor)  # Refs become real ids
        path = template
        for name in re.findall(r"\{([^}]+)\}", template):
            if slot.where == "path" and slot.name == name:
                # One segment: a "/" the server would decode into a separator stays a character.
                segment = H.path_segment(resolved).replace("%2F", "%252F")
            elif id_kind(name, template):
                segment = str(self.world.resolve(H.Ref("own"), id_kind(name, template), actor))
            else:
                segment = "media/fuzz.png"
            path = path.replace("{" + name + "}", segment)
        if slot.where == "query":
            path += "?" + H.query_string([(slot.name, raw) for raw in H.query_values(resolved)])

        body, content_type = b"", None
        if op.content_type == "application/json":
            content_type = "application/json"
            document = self.base_body(op, actor)
            if slot.where == "body":
                _set(document, slot.name, resolved, thawed(slot.schema))
            elif slot.where == "raw":
                document = resolved
            elif slot.where == "key":
                document[_as_key(resolved)] = 1
            body = H.dumps(document)
        elif op.content_type == "multipart/form-data":
            body, content_type = _multipart(slot, resolved)

        headers = {"HTTP_ACCEPT": "application/json"} if op.template.startswith("/api/") else {}  # a REST client
        if actor == "staff":
            headers["HTTP_AUTHORIZATION"] = f"Bearer {self.world.staff_token}"
        elif actor == "customer":
            headers["HTTP_AUTHORIZATION"] = f"Bearer {self.world.customer_token}"
        if actor == "anonymous":
            cache.clear()  # login throttles start empty: each case is judged on its input, not on the last five
        STATS["rest"] += 1
        if op.content_type:
            response = self.client.generic(op.method.upper(), path, body, content_type=content_type, **headers)
        else:
            response = self.client.generic(op.method.upper(), path, **headers)
        return response

    def check(self, op: Operation, slot: Slot, hostile: H.Hostile, actor: str, expected: tuple[int, ...] = ()):
        """One request; raises a Violation subclass naming every invariant it broke.
        ``expected``: the statuses this request may get (empty: any under 500)."""
        value = hostile.value
        write = op.method in WRITE_METHODS
        before = (self.rows or snapshot()) if write else None
        self.rows = None
        self.guard.take()
        response = self.request(op, slot, value, actor)
        resolved = self.resolve(value, _leaf(slot.name) or "id", op.template, actor)
        status = response.status_code
        shown = H.short(value) + (f" ({H.short(resolved)})" if isinstance(value, H.Ref) else "")
        where = f"{op} {slot}={shown} as {actor} -> {status}"
        problems = []
        if status >= 500:
            STATS["5xx"] += 1
            problems.append((ServerError, "server error"))
        elif expected and status not in expected:
            problems.append((WrongStatus, f"expected {' or '.join(map(str, expected))}"))
        problems += [(TracebackLogged, line) for line in self.guard.bad(self.guard.take())]
        payload = _json(response)
        if 400 <= status < 500:
            if op.template.startswith("/api/") and (not isinstance(payload, dict) or not payload.get("code")):
                problems.append((NoErrorCode, f"4xx without a JSON code: {response.content[:100]!r}"))
            if write:
                self.rows = snapshot()
                changed = snapshot_diff(before, self.rows)
                if changed:
                    problems.append((WroteOnReject, f"rejected but wrote: {', '.join(changed)}"))
        if payload is _BAD_JSON:
            problems.append((BadAnswer, f"answer is not valid JSON: {response.content[:100]!r}"))
        elif H.has_bad_char(payload):
            problems.append((BadAnswer, f"answer echoes a lone surrogate or a NUL: {response.content[:100]!r}"))
        if status < 500 and op.content_type == "application/json" and _refused_json(slot, value):
            if status != 400 or not isinstance(payload, dict) or payload.get("code") != "invalid_json":
                problems.append((NotInvalidJSON, f"not refused as invalid_json: {response.content[:100]!r}"))
        if (slot.where == "path" and isinstance(value, H.Ref) and value.whose == "other" and not value.form
                and id_kind(slot.name, op.template) and status != 404):
            problems.append((ForeignIdAnswered, "another workspace's id is not answered like a missing one (404)"))
        names_a_row = slot.where == "path" or _leaf(slot.name) not in ("id", "pk")  # reference.id is not ours
        if names_a_row and slot.where in ("path", "query", "body") and id_kind(_leaf(slot.name), op.template) \
                and H.bad_id(resolved):
            if status < 400 or status >= 500:
                problems.append((BadIdAccepted, "read as an id instead of refused (400/404)"))
        if (slot.where == "body" and slot.name.endswith("url") and isinstance(value, str)
                and SCRIPT_URL.match(value) and 200 <= status < 300):
            problems.append((ScriptURLAccepted, "a script URL was accepted as media"))
        fail(problems, where)


_BAD_JSON = object()


def _json(response):
    if not response.get("Content-Type", "").startswith("application/json"):
        return None
    try:
        return json.loads(response.content.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return _BAD_JSON


def _refused_json(slot: Slot, value) -> bool:
    if slot.where == "raw":
        return H.is_invalid_json(value, depth=0)
    if slot.where == "key":
        return H.is_invalid_json(_as_key(value))
    if slot.where == "body":
        depth = 1 + slot.name.count(".") + slot.name.count("[]")
        return H.is_invalid_json(value, depth=depth)
    return False


def _leaf(name: str) -> str:
    """``tag_ids[]`` -> ``tag_ids``; ``reference.id`` -> ``id``."""
    return name.split(".")[-1].removesuffix("[]")


def _as_key(value) -> str:
    if isinstance(value, str):
        return value
    return H.text_bytes(value).decode("utf-8", "surrogatepass")


def _set(document: dict, dotted: str, value, schema: dict):
    """Put ``value`` at ``dotted`` (``reference.id``, ``tag_ids[]`` = an item of the list)."""
    parts = dotted.split(".")
    target = document
    for part in parts[:-1]:
        if not isinstance(target.get(part), dict):
            target[part] = {"type": "product", "id": 1} if part == "reference" else {}
        target = target[part]
    last = parts[-1]
    if last.endswith("[]"):
        target[last[:-2]] = [value]
    else:
        if isinstance(value, int) and not isinstance(value, bool) and schema.get("type") == "string":
            value = str(value)  # an id where the schema says string ("workspace id or slug")
        target[last] = value


def _multipart(slot: Slot, value) -> tuple[bytes, str]:
    """A multipart body written by hand: hostile bytes go on the wire as they are."""
    boundary = "fuzzboundary7MA4YWxkTrZu0gW"
    content, filename, field_value = b"%PDF-1.4 fuzz", b"fuzz.pdf", None
    if slot.where == "file" and slot.name.endswith(".filename"):
        filename = H.text_bytes(value)
    elif slot.where == "file":
        content = H.text_bytes(value)
    elif slot.where == "body":
        field_value = H.text_bytes(value)
    content_type = f"multipart/form-data; boundary={boundary}"
    if slot.where == "raw":
        return H.text_bytes(value), content_type
    name = (slot.name.split(".")[0] or "file").encode()
    if field_value is not None:
        part = b'Content-Disposition: form-data; name="' + name + b'"\r\n\r\n' + field_value
    else:
        part = (b'Content-Disposition: form-data; name="' + name + b'"; filename="' + filename + b'"\r\n'
                b"Content-Type: application/octet-stream\r\n\r\n" + content)
    body = b"--" + boundary.encode() + b"\r\n" + part + b"\r\n--" + boundary.encode() + b"--\r\n"
    return body, content_type


@pytest.mark.parametrize("op, slot, actor", list(cases()))
def test_rest_slot_survives_hostile_values(op, slot, actor, world, log_guard):
    rest = Rest(world, log_guard)

    def one(value):
        rest.check(op, slot, value, actor)

    check = given(value=H.hostile())(one)
    for value in H.canonical():
        check = example(value=value)(check)
    fuzz_settings()(check)()


def unknown_paths():
    """Each API route with a segment too many: no route matches, the answer must still be JSON."""
    seen = set()
    for op in operations():
        if op.template.startswith("/api/") and op.template not in seen:
            seen.add(op.template)
            yield op.template.rstrip("/") + "/fuzz-extra/"


@pytest.mark.parametrize("template", list(unknown_paths()))
def test_rest_unknown_path_is_a_json_404(template, world, log_guard):
    rest = Rest(world, log_guard)
    op = Operation("get", template, ("staff",), None)
    rest.check(op, Slot("query", "fuzz"), H.Hostile("1"), "staff", expected=(404,))


def unserved_by_route():
    routes: dict[str, list[str]] = {}
    for method, template in unserved_methods():
        routes.setdefault(template, []).append(method)
    return sorted(routes.items())


@pytest.mark.parametrize("template, methods", unserved_by_route())
def test_rest_unserved_methods_are_a_json_405(template, methods, world, log_guard):
    rest = Rest(world, log_guard)
    failures = []
    for method in methods:
        op = Operation(method, template, ("staff",), "application/json" if method in WRITE_METHODS else None)
        try:
            # Authentication may answer first (a staff token where a customer token is required).
            rest.check(op, Slot("raw"), H.Hostile({"fuzz": 1}), "staff", expected=(405, 401, 403))
        except AssertionError as exc:
            failures.append(str(exc))
    assert not failures, "\n".join(failures)
