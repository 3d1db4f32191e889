"""Two workspaces for the isolation matrix — A (``workspace``, the one attacked) and B
(``other_workspace``) — with an object of every kind, the actors who try A's objects, and the
checks that decide whether an answer leaked:

- ``forbidden(actor)``: the texts of A's rows (names, titles, message contents, e-mails, tag
  names, channel names and secrets) that the actor must never see;
- ``fingerprint()``: one query hashing every row of every project table (nothing written);
- ``workspace_rows()``: A's rows only, for cases where B legitimately writes;
- ``normalized()``: an answer with the probed values and timestamps taken out, so that the
  answer for A's object can be compared with the answer for a missing one.
"""
import hashlib
import json
import re
from collections import deque
from dataclasses import dataclass, field

from django.apps import apps
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection, models
from django.test import Client

from conversations.models import Message
from conversations.services import conversation_mark_read, message_receive, message_send
from customers.accounts import customer_register
from customers.models import Tag
from integrations.models import Channel
from tests.factories import make_conversation, make_customer, make_user
from tests.sockets import customer_token, staff_token
from workspaces.models import Workspace

MISSING_ID = 999_999_999
PASSWORD = "pw-isolation-1"
B_ACTORS = ("b_owner", "b_agent", "b_session", "b_customer", "anonymous")
# REST actors of the path probes: B's, plus a customer of A who does not own the object.
REST_ACTORS = B_ACTORS + ("a_other_customer",)


@dataclass
class World:
    a: Workspace
    b: Workspace
    users: dict  # a_owner, a_agent, b_owner, b_agent
    customers: dict  # john, a_web, a_other, a_gram, b_web
    conversations: dict  # john, a_web, a_other, a_gram, b_web
    messages: dict  # name -> Message
    tags: dict  # a_vip, a_late, b_tag
    channels: dict  # a, b
    client_message_ids: list
    tokens: dict = field(default_factory=dict)  # actor -> access token
    session_cookie: str = ""
    _forbidden: dict = field(default_factory=dict)
    _values: dict = field(default_factory=dict)

    # --- objects of A by kind (what the probes name) ---------------------------------------
    def a_values(self, kind: str, actor: str | None = None) -> list:
        """A's values of ``kind``; for ``a_other_customer`` without their own objects."""
        key = (kind, actor == "a_other_customer")
        if key not in self._values:
            self._values[key] = self._a_values(kind, actor)
        return self._values[key]

    def _a_values(self, kind: str, actor: str | None) -> list:
        own_customer = self.customers["a_other"].pk if actor == "a_other_customer" else None
        own_conversation = self.conversations["a_other"].pk if actor == "a_other_customer" else None
        a_customers = [c.pk for k, c in self.customers.items() if k != "b_web" and c.pk != own_customer]
        a_conversations = [c.pk for k, c in self.conversations.items() if k != "b_web" and c.pk != own_conversation]
        a_conversation_ids = {c.pk for k, c in self.conversations.items() if k != "b_web"}
        a_messages = [m.pk for m in self.messages.values() if m.conversation_id in a_conversation_ids
                      and m.conversation_id != own_conversation]
        a_tags = [self.tags["a_vip"], self.tags["a_late"]]
        return {
            "customer": a_customers,
            "conversation": a_conversations,
            "message": a_messages,
            "tag": [t.pk for t in a_tags],
            "tag_list": [[t.pk] for t in a_tags],
            "tag_name": [t.name for t in a_tags],
            "user": [self.users["a_owner"].pk, self.users["a_agent"].pk],
            "workspace": [self.a.pk],
            "channel": [self.channels["a"].pk],
            "text": ["Alphaweb", "johndoe", "Alphagram"],
            "cursor": [a_messages[0], a_messages[-1]],
            "client_message_id": list(self.client_message_ids),
        }[kind]

    @staticmethod
    def missing(kind: str):
        return {
            "tag_list": [MISSING_ID],
            "tag_name": "no-such-tag",
            "text": "nosuchtext",
            "client_message_id": "no-such-cmid",
        }.get(kind, MISSING_ID)

    # --- the acting user's own objects (paths of body probes, base frames) -------------------
    def own(self, kind: str, actor: str):
        if actor == "a_other_customer":
            return {"conversation": self.conversations["a_other"].pk, "customer": self.customers["a_other"].pk,
                    "message": self.messages["a_other_own"].pk}[kind]
        if actor in ("a_owner", "a_customer"):
            return {"conversation": self.conversations["a_web"].pk, "customer": self.customers["a_web"].pk,
                    "message": self.messages["a_web_hello"].pk, "tag": self.tags["a_vip"].pk,
                    "channel": self.channels["a"].pk}[kind]
        return {"conversation": self.conversations["b_web"].pk, "customer": self.customers["b_web"].pk,
                "message": self.messages["b_hello"].pk, "tag": self.tags["b_tag"].pk,
                "channel": self.channels["b"].pk}[kind]

    # --- what an actor must never see -------------------------------------------------------
    def forbidden(self, actor: str) -> set[str]:
        if actor not in self._forbidden:
            self._forbidden[actor] = a_strings(self, exclude_own_of=actor)
        return self._forbidden[actor]

    def refresh_forbidden(self):
        self._forbidden.clear()


def build_world(*, a, b, a_owner, b_owner, john, john_conversation) -> World:
    a_agent = make_user("alpha-agent", workspace=a, role="agent")
    b_agent = make_user("bravo-agent", workspace=b, role="agent")
    channels = {
        "a": Channel.objects.create(workspace=a, platform="instagram", name="alpha-insta-channel",
                                    ig_id="178410000000001", access_token="alpha-access-token-secret",
                                    app_secret="alpha-app-secret-value", verify_token="alpha-verify-token"),
        "b": Channel.objects.create(workspace=b, platform="instagram", name="bravo-insta-channel",
                                    ig_id="178410000000002", access_token="bravo-access-token-secret",
                                    app_secret="bravo-app-secret-value", verify_token="bravo-verify-token"),
    }
    customers = {
        "john": john,
        "a_web": customer_register(workspace=a.pk, first_name="Alphaweb", last_name="Webbuyer",
                                   email="alphaweb@example.com", password=PASSWORD),
        "a_other": customer_register(workspace=a.pk, first_name="Alphaother", last_name="Otherbuyer",
                                     email="alphaother@example.com", password=PASSWORD),
        "a_gram": make_customer(a, source="instagram", external_id="alpha-igsid-1", first_name="Alphagram",
                                username="alphagram_user"),
        "b_web": customer_register(workspace=b.pk, first_name="Bravoweb", last_name="Bravobuyer",
                                   email="bravoweb@example.com", password=PASSWORD),
    }
    tags = {"a_vip": Tag.objects.create(workspace=a, name="alpha-vip"),
            "a_late": Tag.objects.create(workspace=a, name="alpha-late"),
            "b_tag": Tag.objects.create(workspace=b, name="bravo-tag")}
    john.tags.add(tags["a_vip"])
    customers["a_web"].tags.add(tags["a_vip"], tags["a_late"])
    customers["b_web"].tags.add(tags["b_tag"])
    conversations = {
        "john": john_conversation,
        "a_web": make_conversation(a, customers["a_web"], assignee=a_owner),
        "a_other": make_conversation(a, customers["a_other"]),
        "a_gram": make_conversation(a, customers["a_gram"], channel=channels["a"]),
        "b_web": make_conversation(b, customers["b_web"], assignee=b_owner),
    }
    c = conversations
    messages = {
        "john_q": message_receive(conversation=c["john"], customer=john, content="alpha question from john")[0],
        "john_a": message_send(conversation=c["john"], user=a_owner, content="alpha answer to john",
                               client_message_id="alpha-cmid-1")[0],
        "a_web_hello": message_receive(conversation=c["a_web"], customer=customers["a_web"],
                                       content="alpha web hello")[0],
        "a_web_reply": message_send(conversation=c["a_web"], user=a_owner, content="alpha web reply",
                                    client_message_id="alpha-cmid-2")[0],
        "a_gram": message_receive(conversation=c["a_gram"], customer=customers["a_gram"],
                                  content="alpha gram words", channel=channels["a"], external_id="alpha-mid-1")[0],
        "a_other_own": message_receive(conversation=c["a_other"], customer=customers["a_other"],
                                       content="alphaother own words")[0],
        "b_hello": message_receive(conversation=c["b_web"], customer=customers["b_web"], content="bravo hello")[0],
        "b_reply": message_send(conversation=c["b_web"], user=b_owner, content="bravo reply")[0],
    }
    conversation_mark_read(conversation=c["a_web"], reader_type="user", reader_id=a_owner.pk)
    for message in messages.values():
        message.refresh_from_db()
    world = World(a=a, b=b, users={"a_owner": a_owner, "a_agent": a_agent, "b_owner": b_owner, "b_agent": b_agent},
                  customers=customers, conversations=conversations, messages=messages, tags=tags,
                  channels=channels, client_message_ids=["alpha-cmid-1", "alpha-cmid-2"])
    world.tokens = {
        "a_owner": staff_token(a_owner), "b_owner": staff_token(b_owner), "b_agent": staff_token(b_agent),
        "a_customer": customer_token(customers["a_web"]), "b_customer": customer_token(customers["b_web"]),
        "a_other_customer": customer_token(customers["a_other"]),
    }
    session_client = Client()
    session_client.force_login(b_owner)
    world.session_cookie = session_client.cookies[settings.SESSION_COOKIE_NAME].value
    assert_missing_is_missing()
    return world


def assert_missing_is_missing():
    for model in project_models():
        if model._meta.pk is not None and isinstance(model._meta.pk, (models.AutoField, models.BigAutoField)):
            assert not model.objects.filter(pk=MISSING_ID).exists(), f"{model.__name__} {MISSING_ID} exists"


# --- the texts of A -----------------------------------------------------------------------------
_TEXT_FIELDS = {
    "Workspace": ("name", "slug"),
    "User": ("username", "email"),
    "Customer": ("first_name", "last_name", "username", "email", "phone", "external_id"),
    "CustomerAccount": ("email", "phone"),
    "Tag": ("name",),
    "Conversation": ("title",),
    "Message": ("content", "client_message_id", "external_id"),
    "Channel": ("name", "ig_id", "page_id", "access_token", "app_secret", "verify_token", "bot_token",
                "webhook_secret"),
}


def a_strings(world: World, *, exclude_own_of: str | None = None) -> set[str]:
    """Distinctive texts of workspace A's rows (lower case, at least 4 characters). For the
    customer of A who acts, their own customer row and conversation are not forbidden."""
    own_customer = own_conversation = None
    if exclude_own_of == "a_other_customer":
        own_customer, own_conversation = world.customers["a_other"].pk, world.conversations["a_other"].pk
    texts: set[str] = set()
    for model in project_models():
        names = _TEXT_FIELDS.get(model.__name__)
        if not names:
            continue
        queryset = rows_of_workspace(model, world.a.pk)
        if model.__name__ == "Customer" and own_customer:
            queryset = queryset.exclude(pk=own_customer)
        if model.__name__ == "CustomerAccount" and own_customer:
            queryset = queryset.exclude(customer_id=own_customer)
        if model.__name__ in ("Conversation", "Message") and own_conversation:
            queryset = queryset.exclude(**{"pk" if model.__name__ == "Conversation" else "conversation_id":
                                           own_conversation})
        for values in queryset.values_list(*names):
            texts.update(str(v).lower() for v in values if v and len(str(v)) >= 4)
    return texts


def leaks(text: str, forbidden: set[str], probes=()) -> list[str]:
    """The forbidden texts found in ``text`` once the values the client itself sent are removed."""
    lowered = text.lower()
    for probe in sorted((str(p).lower() for p in probes), key=len, reverse=True):
        lowered = lowered.replace(probe, "<probe>")
    return sorted(s for s in forbidden if s in lowered)


# --- rows ---------------------------------------------------------------------------------------
def project_models() -> list[type[models.Model]]:
    """Every concrete model of the project's apps, their many-to-many tables, and the user."""
    root = str(settings.BASE_DIR)
    result = []
    for model in apps.get_models(include_auto_created=True):
        config = model._meta.app_config
        ours = config.path.startswith(root) and "/.venv/" not in config.path
        if (ours or model is get_user_model()) and model._meta.managed and not model._meta.proxy:
            result.append(model)
    return sorted(result, key=lambda m: m._meta.db_table)


def _digest_here(sql: str, params=()) -> tuple[int, str]:
    """(row count, md5 of the rows) of a query, hashed in Python: SQLite has no md5/string_agg."""
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = sorted(repr(row) for row in cursor.fetchall())
    return len(rows), hashlib.md5("|".join(rows).encode()).hexdigest()


def fingerprint() -> dict[str, tuple[int, str]]:
    """(row count, md5 of all rows) of every project table, in one query."""
    tables = [m._meta.db_table for m in project_models()]
    quote = connection.ops.quote_name
    if connection.vendor != "postgresql":
        return {table: _digest_here(f"SELECT * FROM {quote(table)}") for table in tables}
    sql = " UNION ALL ".join(
        f"SELECT %s, count(*), md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) FROM {quote(table)} t"
        for table in tables
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, tables)
        return {table: (count, digest) for table, count, digest in cursor.fetchall()}


def fingerprint_diff(before: dict, after: dict) -> list[str]:
    return [f"{table}: {before[table][0]} -> {after[table][0]} rows" + ("" if before[table][0] != after[table][0]
                                                                        else " (changed)")
            for table in before if before[table] != after.get(table)]


def _workspace_path(model) -> str | None:
    """The lookup from ``model`` to its workspace id through required foreign keys."""
    user_model = get_user_model()
    if model is Workspace:
        return "pk"
    if model is user_model:
        return "memberships__workspace_id"
    queue = deque([(model, "")])
    seen = {model}
    while queue:
        current, prefix = queue.popleft()
        for f in current._meta.fields:
            if not isinstance(f, models.ForeignKey) or f.null:
                continue
            if f.related_model is Workspace:
                return f"{prefix}{f.name}_id"
            if f.related_model not in seen and f.related_model is not user_model:
                seen.add(f.related_model)
                queue.append((f.related_model, f"{prefix}{f.name}__"))
    return None


def rows_of_workspace(model, workspace_id: int):
    path = _workspace_path(model)
    assert path is not None, f"{model.__name__}: no required foreign key path to a workspace"
    return model.objects.filter(**{path: workspace_id}).distinct()


def workspace_rows(workspace_id: int) -> dict[str, tuple[int, str]]:
    """(row count, md5 of the rows) per table, of the rows that belong to the workspace, in one query."""
    quote = connection.ops.quote_name
    parts, params, digests = [], [], {}
    for model in project_models():
        pk_sql, pk_params = rows_of_workspace(model, workspace_id).order_by().values("pk").query.sql_with_params()
        table = model._meta.db_table
        if connection.vendor != "postgresql":
            digests[table] = _digest_here(
                f"SELECT * FROM {quote(table)} t WHERE t.{quote(model._meta.pk.column)} IN ({pk_sql})", pk_params)
            continue
        parts.append(f"SELECT %s, count(*), md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) "
                     f"FROM {quote(table)} t WHERE t.{quote(model._meta.pk.column)} IN ({pk_sql})")
        params += [table, *pk_params]
    if not parts:
        return digests
    with connection.cursor() as cursor:
        cursor.execute(" UNION ALL ".join(parts), params)
        return {table: (count, digest) for table, count, digest in cursor.fetchall()}


def workspace_path_problems() -> list[str]:
    return [f"{m.__name__}: no required foreign key path to a workspace (rows of A cannot be told apart)"
            for m in project_models() if _workspace_path(m) is None]


# --- comparing answers --------------------------------------------------------------------------
_VOLATILE = {"timestamp"}


def _strip(value):
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items() if k not in _VOLATILE}
    if isinstance(value, list):
        return [_strip(v) for v in value]
    return value


def normalized(payload, probes) -> str:
    """JSON (or text) with timestamps dropped and every probed value replaced by <PROBE>."""
    if isinstance(payload, (bytes, str)):
        text = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else payload
        try:
            payload = json.loads(text)
        except ValueError:
            payload = text
    text = payload if isinstance(payload, str) else json.dumps(_strip(payload), sort_keys=True, ensure_ascii=False)
    values = []
    for probe in probes:
        values += [json.dumps(probe)] if isinstance(probe, list) else []
        values += [str(v) for v in (probe if isinstance(probe, list) else [probe])]
    for value in sorted(set(values), key=len, reverse=True):
        text = re.sub(rf"(?<![\w@.-]){re.escape(value)}(?![\w@-])", "<PROBE>", text)
    return text


def message_ids_of(world: World, workspace_id: int) -> set[int]:
    return set(Message.objects.filter(conversation__workspace_id=workspace_id).values_list("pk", flat=True))
