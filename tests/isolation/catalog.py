"""What the isolation matrix tries, generated from the code so that a new endpoint, socket
route, frame type, filter, body field or event type cannot escape it.

Sources:
- REST: every path and method of ``django.urls.get_resolver()`` (walked recursively); the query
  parameters and JSON body fields of each operation come from drf-spectacular's schema (the one
  served at ``/api/schema/``).
- Sockets: ``fiko.routing.websocket_urlpatterns``; the inbound frame types are the consumers'
  ``on_<type>`` methods plus ``type_aliases``, and the frame keys a handler reads are found in
  its source (and in the source of every helper it hands the frame to).
- Events: ``fiko.realtime.DOMAIN_EVENTS``.

Every path parameter, query parameter, body field, frame key and filter is classified below as
naming an object of a kind (probed with workspace A's objects) or as naming none. Anything the
tables do not know makes ``problems()`` non-empty and the matrix fails: extend the tables (and
the world in tests/isolation/world.py) together with the new endpoint.

Not in the REST matrix, and why:
- ``admin/`` — Django admin: staff sessions with ``is_staff``, its own permission system; no
  workspace user is admin staff.
- ``api/schema/`` and ``docs`` — the OpenAPI document and the docs pages (Swagger UI, ReDoc, the
  WebSocket protocol): no workspace data.
- ``""`` — the landing page: static text and links, no workspace data.
- ``uploads/`` — static file serving of stored media by unguessable path (no ids, no workspace
  lookups; covered by the upload/media tests).
- ``integrations/`` — the Telegram/Instagram webhooks: authenticated by the platform's
  signature/secret per channel, not by a user token (tests/integrations/*/test_webhook*.py).
- Sign-in and refresh endpoints (``PUBLIC``) take credentials, not workspace objects; the two
  customer endpoints that name a workspace are probed by special cases (login with another
  workspace's account, sign-up with an e-mail taken in another workspace).
- ``api/v1/chat/upload`` names no object: it stores a new file and answers its URL.
"""
import inspect
import re
from functools import lru_cache

from django.urls import URLPattern, URLResolver, get_resolver

# --- REST --------------------------------------------------------------------------------------
SKIPPED_PREFIXES = {
    "admin/": "Django admin (is_staff sessions, own permissions)",
    "api/schema/": "OpenAPI document",
    "docs": "Swagger UI, ReDoc, the protocol page",
    "inbox/": "the inbox console's static HTML shell (no data: it signs in over the public API)",
    "uploads/": "stored media served by unguessable path",
    "integrations/": "platform webhooks (platform signature per channel)",
}

# Path templates with an id parameter -> the kind of object the parameter names.
PATH_OBJECTS = {
    "api/customers/{pk}/": {"pk": "customer"},
    "api/tags/{pk}/": {"pk": "tag"},
    "api/conversations/{pk}/": {"pk": "conversation"},
    "api/conversations/{conversation_id}/messages/": {"conversation_id": "conversation"},
    "api/v1/chat/chats/{chat_id}/messages": {"chat_id": "conversation"},
    "api/channels/{channel_id}/": {"channel_id": "channel"},
}

# (template, method) that are not probed with A's objects, and why.
PUBLIC = {
    ("api/auth/token/", "POST"): "staff sign-in: credentials, no workspace object",
    ("api/auth/token/refresh/", "POST"): "token refresh: a token, no workspace object",
    ("api/v1/auth/login", "POST"): "staff sign-in: credentials, no workspace object",
    ("api/v1/auth/refresh", "POST"): "token refresh: a token, no workspace object",
    ("api/v1/customer-auth/refresh", "POST"): "token refresh: a token, no workspace object",
    ("api/v1/customer-auth/login", "POST"): "customer sign-in: special cases (another workspace's account)",
    ("api/v1/customer-auth/register", "POST"): "customer sign-up: special case (an e-mail taken in A)",
    ("api/v1/chat/upload", "POST"): "names no object: stores a new file and answers its URL",
}

OWN = object()  # placeholder in a base body: the acting user's own object of the field's kind

# A valid body for every write that is probed: with it, only the probed id decides the answer.
BASE_BODIES = {
    ("api/customers/{pk}/", "PATCH"): {"first_name": "Pwned"},
    ("api/tags/", "POST"): {"name": "pwned-tag"},
    ("api/tags/{pk}/", "PUT"): {"name": "pwned-tag"},
    ("api/tags/{pk}/", "PATCH"): {"name": "pwned-tag"},
    ("api/conversations/{pk}/", "PATCH"): {"status": "closed"},
    ("api/conversations/{conversation_id}/messages/", "POST"): {"content": "pwned message"},
    ("api/channels/", "POST"): {"platform": "instagram", "name": "pwned", "ig_id": "178410000000099",
                               "access_token": "pwned-token", "app_secret": "pwned-secret",
                               "verify_token": "pwned-verify"},
    ("api/channels/{channel_id}/", "PATCH"): {"name": "pwned"},
    ("api/v1/chat/chats", "POST"): {"customer_id": OWN, "title": "pwned"},
    ("api/v1/chat/chats/customer", "POST"): {"title": "pwned"},
}

# Query parameters and body fields (REST) and filters (sockets) that name something of a
# workspace -> kind. "cursor" is a position in the global id order (before_id/after_id), not a
# reference: it must not reveal anything, but its answer depends on the number itself.
PARAM_KINDS = {
    "tag_ids": "tag_list",
    "tags": "tag_name",
    "assignee": "user",
    "customer_id": "customer",
    "user_id": "user",
    "workspace": "workspace",
    "reply_to_message_id": "message",
    "message_id": "message",
    "chat_id": "conversation",
    "search": "text",
    "search_term": "text",
    "before_id": "cursor",
    "after_id": "cursor",
    "client_message_id": "client_message_id",
    "token": "credential",
    "filters": "filters",
}
NON_ID_PARAMS = {
    # pagination, ordering, flags, dates, enums
    "limit", "offset", "page", "page_size", "order_by", "status", "source", "priority", "is_archived",
    "unread_only", "date_from", "date_to", "has_email", "has_phone", "has_unread", "last_activity_from",
    "last_activity_to", "conversation_status", "is_active", "platform", "message_type", "role", "type",
    "is_typing",
    # the keyset cursor: a signed token of the sort values of the caller's own last row; it only
    # narrows the caller's list (a cursor of another workspace's list: tests/fiko/test_keyset_pagination.py)
    "cursor",
    # free text and values of the object itself
    "first_name", "last_name", "email", "phone", "name", "color", "content", "media_url", "thumbnail_url",
    "title", "initial_message", "file",
    # an external catalogue reference ({type: appointment|product|pack, id}), not a Fiko object
    "reference",
    # platform credentials of a channel (write-only)
    "bot_token", "webhook_secret", "ig_id", "page_id", "access_token", "app_secret", "verify_token",
    # sign-in
    "username", "password", "refresh",
}

# Values unique within a workspace: a value taken in A must behave in B exactly like a fresh one.
UNIQUE_KEYS = {
    ("api/tags/", "POST", "name"): "tag_name",
    ("api/tags/{pk}/", "PUT", "name"): "tag_name",
    ("api/tags/{pk}/", "PATCH", "name"): "tag_name",
}

# Which actor of workspace A sees A's data on a list (the control that proves the leak check
# can see A's data there).
LIST_VIEWERS = {"api/v1/chat/chats/customer": "a_customer"}  # default: "a_owner"

_METHODS = ("get", "post", "put", "patch", "delete")  # HEAD and OPTIONS run GET's handler / no handler


def _template(pattern) -> str:
    text = str(pattern.pattern)
    if text.startswith("^"):  # a regex pattern (DRF routers)
        text = text[1:]
        text = text[:-1] if text.endswith("$") else text
        text = re.sub(r"\(\?P<(\w+)>[^)]*\)", r"{\1}", text)
        text = text.replace(r"\.", ".")
    else:
        text = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", text)
    return text


def _walk(patterns, prefix=""):
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from _walk(pattern.url_patterns, prefix + _template(pattern))
        elif isinstance(pattern, URLPattern):
            yield prefix + _template(pattern), pattern.callback


def _methods(callback) -> list[str] | None:
    actions = getattr(callback, "actions", None)
    if actions:  # a DRF viewset route (DRF adds "head" to this dict at the first GET: not ours)
        return sorted(m.upper() for m in actions if m in _METHODS)
    view = getattr(callback, "cls", None) or getattr(callback, "view_class", None)
    if view is None:
        return None  # a function view: cannot tell
    return sorted(m.upper() for m in _METHODS if hasattr(view, m))


SKIPPED_PATHS = {"": "the landing page (no workspace data)"}


def skipped(template: str) -> str | None:
    if template in SKIPPED_PATHS:
        return SKIPPED_PATHS[template]
    for prefix, reason in SKIPPED_PREFIXES.items():
        if template.startswith(prefix):
            return reason
    return None


@lru_cache(maxsize=1)
def _schema():
    from drf_spectacular.generators import SchemaGenerator

    return SchemaGenerator().get_schema(request=None, public=True)


def _schema_key(template: str) -> str:
    return re.sub(r"\{[^}]+\}", "{}", "/" + template)


def schema_operation(template: str, method: str) -> dict | None:
    schema = _schema()
    for path, operations in schema["paths"].items():
        if _schema_key(path[1:]) == _schema_key(template):
            return operations.get(method.lower())
    return None


def query_params(template: str, method: str) -> list[str]:
    operation = schema_operation(template, method) or {}
    return sorted(p["name"] for p in operation.get("parameters", []) if p["in"] == "query")


def body_fields(template: str, method: str) -> list[str]:
    operation = schema_operation(template, method) or {}
    components = _schema()["components"]["schemas"]
    fields = []
    for content in (operation.get("requestBody") or {}).get("content", {}).values():
        schema = content["schema"]
        if "$ref" in schema:
            schema = components[schema["$ref"].rsplit("/", 1)[-1]]
        fields += list(schema.get("properties", {}))
    return sorted(set(fields))


def path_params(template: str) -> list[str]:
    return re.findall(r"\{(\w+)\}", template)


def rest_endpoints() -> list[tuple[str, str]]:
    """Every (template, METHOD) of the URL conf that the matrix covers (skips removed)."""
    result = []
    for template, callback in _walk(get_resolver().url_patterns):
        if skipped(template):
            continue
        for method in _methods(callback) or ["?"]:
            result.append((template, method))
    return sorted(set(result))


def rest_problems() -> list[str]:
    problems = []
    endpoints = rest_endpoints()
    for template, method in endpoints:
        if method == "?":
            problems.append(f"{template}: a function view outside SKIPPED_PREFIXES (methods unknown)")
            continue
        if re.search(r"[\^$()\[\]\\+*?]", template):
            problems.append(f"{template}: could not turn the pattern into a path template")
        params = path_params(template)
        if params and set(PATH_OBJECTS.get(template, {})) != set(params):
            problems.append(f"{template}: path parameters {params} not in PATH_OBJECTS (add what they name)")
        if schema_operation(template, method) is None:
            problems.append(f"{method} {template}: not in the OpenAPI schema (its parameters are unknown)")
            continue
        if (template, method) in PUBLIC:
            continue
        for name in query_params(template, method) + body_fields(template, method):
            if name not in PARAM_KINDS and name not in NON_ID_PARAMS:
                problems.append(f"{method} {template}: parameter/field {name!r} is not classified")
        if method in ("POST", "PUT", "PATCH") and (template, method) not in BASE_BODIES:
            problems.append(f"{method} {template}: no BASE_BODIES entry")
    known = set(endpoints)
    for key in list(PUBLIC) + list(BASE_BODIES):
        if key not in known:
            problems.append(f"stale table entry {key}: not in the URL conf")
    for template in PATH_OBJECTS:
        if not any(t == template for t, _ in endpoints):
            problems.append(f"stale PATH_OBJECTS entry {template}")
    return problems


# --- sockets -----------------------------------------------------------------------------------
SOCKET_PATH_OBJECTS = {"ws/chat/{conversation_id}/": {"conversation_id": "conversation"}}

# Inbound frames: a valid frame for each type, OWN_* replaced by the actor's own objects, so
# that only the probed key decides the answer.
OWN_CONVERSATION, OWN_MESSAGE = "<own conversation>", "<own message>"
BASE_FRAMES = {
    "join_chat": {"chat_id": OWN_CONVERSATION},
    "leave_chat": {"chat_id": OWN_CONVERSATION},
    "send_message": {"chat_id": OWN_CONVERSATION, "content": "probe"},
    "typing": {"chat_id": OWN_CONVERSATION, "is_typing": True},
    "read_message": {"chat_id": OWN_CONVERSATION, "message_id": OWN_MESSAGE},
    "chat_message": {"content": "probe"},
    "support": {"content": "probe"},
    "marketing": {"content": "probe"},
}


def socket_routes() -> list[tuple[str, type]]:
    from fiko.routing import websocket_urlpatterns

    routes = []
    for template, callback in _walk(websocket_urlpatterns):
        consumer = getattr(callback, "consumer_class", None)
        routes.append((template, consumer))
    return routes


def frame_types(consumer) -> dict[str, str]:
    """Inbound frame type -> handler method name, as BaseConsumer.dispatch_frame resolves them."""
    types = {name[3:]: name for name in dir(consumer)
             if name.startswith("on_") and callable(getattr(consumer, name))}
    for alias, target in getattr(consumer, "type_aliases", {}).items():
        types[alias] = f"on_{target}"
    return dict(sorted(types.items()))


_FRAME_KEY_RES = (
    re.compile(r"frame\.get\(\s*[\"'](\w+)[\"']"),
    re.compile(r"frame\[\s*[\"'](\w+)[\"']\s*\]"),
    re.compile(r"\(\s*frame\s*,\s*[\"'](\w+)[\"']"),
)
_CALL_WITH_FRAME = re.compile(r"([A-Za-z_][\w.]*)\(([^()]*\bframe\b[^()]*)\)")


def frame_keys(consumer, method_name: str) -> set[str]:
    """The keys of the inbound frame that a handler (or any helper it passes the frame to) reads."""
    keys: set[str] = set()
    seen: set = set()

    def visit(func):
        func = inspect.unwrap(func)
        if func in seen:
            return
        seen.add(func)
        try:
            source = inspect.getsource(func)
        except (OSError, TypeError):
            return
        for regex in _FRAME_KEY_RES:
            keys.update(regex.findall(source))
        for name, _args in _CALL_WITH_FRAME.findall(source):
            if name.startswith("self."):
                target = getattr(consumer, name[5:], None)
            else:
                target = func.__globals__.get(name.split(".")[0])
                for part in name.split(".")[1:]:
                    target = getattr(target, part, None)
            if callable(target) and getattr(target, "__module__", "").split(".")[0] in _PROJECT_PACKAGES:
                visit(target)

    visit(getattr(consumer, method_name))
    return keys


_PROJECT_PACKAGES = {"fiko", "chat", "conversations", "customers", "integrations", "workspaces"}


def list_filtersets() -> dict[type, type]:
    """The FilterSet behind each list socket's ``filters`` (the same as its REST list)."""
    from conversations.consumers import ConversationListConsumer
    from conversations.filters import ConversationFilter
    from customers.consumers import CustomerListConsumer
    from customers.filters import CustomerFilter

    return {CustomerListConsumer: CustomerFilter, ConversationListConsumer: ConversationFilter}


def socket_problems() -> list[str]:
    problems = []
    filtersets = list_filtersets()
    for template, consumer in socket_routes():
        if consumer is None:
            problems.append(f"{template}: not a Channels consumer")
            continue
        params = path_params(template)
        if params and set(SOCKET_PATH_OBJECTS.get(template, {})) != set(params):
            problems.append(f"{template}: path parameters {params} not in SOCKET_PATH_OBJECTS")
        for frame_type, method in frame_types(consumer).items():
            for key in frame_keys(consumer, method):
                if key not in PARAM_KINDS and key not in NON_ID_PARAMS:
                    problems.append(f"{consumer.__name__} {frame_type}: frame key {key!r} is not classified")
                if PARAM_KINDS.get(key) == "filters":
                    filterset = filtersets.get(consumer)
                    if filterset is None:
                        problems.append(f"{consumer.__name__} {frame_type}: reads filters, FilterSet unknown")
                        continue
                    for name in filterset.base_filters:
                        if name not in PARAM_KINDS and name not in NON_ID_PARAMS:
                            problems.append(f"{filterset.__name__}: filter {name!r} is not classified")
    return problems


# --- events ------------------------------------------------------------------------------------
# Which producer (tests/isolation/test_event_isolation.py) makes workspace A emit each event.
EVENT_PRODUCERS = {
    "message.created": ["customer writes on the web chat", "staff replies over REST"],
    "message.updated": ["the customer edits a message on Instagram"],
    "messages.read": ["staff marks read on /ws/chat/", "the customer reads on the multiplexed socket"],
    "conversation.created": ["a web customer opens a chat over REST"],
    "conversation.updated": ["staff PATCHes the conversation"],
    "customer.created": ["a customer signs up"],
    "customer.updated": ["staff renames the customer"],
    "presence.changed": ["staff opens /ws/chat/", "the customer joins on the multiplexed socket"],
    "typing.changed": ["staff types on /ws/chat/", "the customer types on the multiplexed socket"],
    "access.revoked": ["the agent's membership of A is removed"],
}


def event_problems() -> list[str]:
    from fiko import realtime

    problems = [f"event type {t!r} has no producer in EVENT_PRODUCERS" for t in sorted(realtime.DOMAIN_EVENTS)
                if t not in EVENT_PRODUCERS]
    problems += [f"stale EVENT_PRODUCERS entry {t!r}" for t in EVENT_PRODUCERS if t not in realtime.DOMAIN_EVENTS]
    return problems
