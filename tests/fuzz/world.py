"""What every fuzz test shares: two workspaces of real rows (ours and a rival's, so ids of
another workspace are real ids), the ids a field name stands for, the row snapshot behind "no
row written by a rejected input", the log guard behind "no traceback", and the case counters
printed at the end of the run."""
from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field

from django.contrib.auth import get_user_model
from django.db import connection

from conversations.models import Conversation, Message, ReadMarker
from conversations.services import message_receive, message_send
from customers.models import Customer, CustomerAccount, Tag
from fiko.tokens import customer_tokens_for, staff_tokens_for
from integrations.models import Channel
from tests.factories import make_conversation, make_customer, make_user, make_workspace
from workspaces.models import Membership, Workspace

from .hostile import Ref, spell

# --- counters (printed by conftest.pytest_terminal_summary) -------------------------------------------
STATS: Counter = Counter()

MISSING_ID = 2**62  # fits every id column, names no row


@dataclass
class Side:
    """One workspace's rows."""

    workspace: Workspace
    staff: object
    customer: Customer  # a Telegram customer
    conversation: Conversation
    message: Message
    web_customer: Customer  # logs in to the web chat
    web_conversation: Conversation
    web_message: Message
    tag: Tag
    telegram: Channel
    instagram: Channel
    ids: dict = field(default_factory=dict)


def _side(slug: str, username: str, telegram_id: int, ig_account: str) -> Side:
    workspace = make_workspace(slug)
    staff = make_user(username, workspace=workspace, role="owner")
    customer = make_customer(workspace, source="telegram", external_id=str(telegram_id), first_name="Sara",
                             last_name="K", username=f"{slug}_sara")
    telegram = Channel.objects.create(workspace=workspace, platform="telegram", name=f"@{slug}_bot",
                                      bot_token=f"612345:{slug}-bot-token", webhook_secret=f"{slug}-secret-0123456789")
    instagram = Channel.objects.create(workspace=workspace, platform="instagram", name=f"{slug}.shop",
                                       ig_id=ig_account, access_token=f"IGQ-{slug}",
                                       app_secret=f"{slug}-app-secret-0123456789abcdef", verify_token=f"{slug}-verify")
    conversation = make_conversation(workspace, customer, channel=telegram)
    message, _ = message_receive(conversation=conversation, customer=customer, content="hello")
    message_send(conversation=conversation, user=staff, content="hi, how can I help?")
    web_customer = make_customer(workspace, source="web", first_name="Web", email=f"web@{slug}.example")
    web_conversation = make_conversation(workspace, web_customer)
    web_message, _ = message_receive(conversation=web_conversation, customer=web_customer, content="from the web")
    tag = Tag.objects.create(workspace=workspace, name=f"{slug}-vip", color="#ff0000")
    customer.tags.add(tag)
    side = Side(workspace, staff, customer, conversation, message, web_customer, web_conversation, web_message,
                tag, telegram, instagram)
    side.ids = {"workspace": workspace.pk, "user": staff.pk, "customer": customer.pk, "conversation": conversation.pk,
                "message": message.pk, "tag": tag.pk, "channel": telegram.pk}
    return side


@dataclass
class World:
    own: Side
    other: Side
    staff_token: str
    customer_token: str

    def resolve(self, ref: Ref, kind: str, actor: str = "staff"):
        """The id ``ref`` stands for (spelled in ``ref.form``, if any); a customer's rows are
        their web chat."""
        if ref.whose == "missing":
            return spell(MISSING_ID, ref.form)
        side = self.other if ref.whose == "other" else self.own
        if actor == "customer" and kind == "conversation":
            return spell(side.web_conversation.pk, ref.form)
        if actor == "customer" and kind == "message":
            return spell(side.web_message.pk, ref.form)
        return spell(side.ids[kind], ref.form)


def make_world() -> World:
    # Ours has the ids the webhook fixtures use (tests/integrations/*/fixtures/): the Telegram
    # customer and the Instagram business account they are addressed to.
    own = _side("acme", "alice", 385720164, "17841405822304914")
    other = _side("rival", "mallory", 502934817, "17841405822399999")
    return World(own, other, staff_tokens_for(own.staff)["access"], customer_tokens_for(own.web_customer)["access"])


# Which kind of row an id-like field names (REST bodies and paths, socket frames, filters).
_KIND_BY_NAME = {
    "workspace": "workspace", "workspace_id": "workspace",
    "customer_id": "customer", "customer": "customer",
    "user_id": "user", "assignee": "user", "sender_user_id": "user",
    "tag_ids": "tag", "tag_id": "tag",
    "chat_id": "conversation", "conversation_id": "conversation",
    "message_id": "message", "reply_to_message_id": "message", "before_id": "message", "after_id": "message",
    "channel_id": "channel",
}
_KIND_BY_COLLECTION = {"customers": "customer", "conversations": "conversation", "chats": "conversation",
                       "tags": "tag", "channels": "channel"}


def id_kind(name: str, path: str = "") -> str | None:
    """The kind of row ``name`` refers to, or None when it is not an id."""
    if name in _KIND_BY_NAME:
        return _KIND_BY_NAME[name]
    if name in ("id", "pk"):
        for segment in reversed([s for s in path.split("/") if s and not s.startswith("{")]):
            if segment in _KIND_BY_COLLECTION:
                return _KIND_BY_COLLECTION[segment]
        return "conversation"
    return None


# --- invariant violations: one class each, so Hypothesis reports each kind separately ------------------
class Violation(AssertionError):
    pass


class ServerError(Violation):
    """A 5xx (or a socket's server_error) for bad input."""


class TracebackLogged(Violation):
    """A traceback or an ERROR record in the log."""


class NoErrorCode(Violation):
    """A 4xx that is not JSON with a ``code`` (or an answer that is not valid JSON)."""


class BadAnswer(Violation):
    """An answer that is not valid JSON, echoes a lone surrogate or a NUL (input it cannot
    encode), or an error frame without ``error``, ``message`` and ``code``."""


class WrongStatus(Violation):
    """A status the request cannot have (an unknown path that is not a 404, ...)."""


class WroteOnReject(Violation):
    """A rejected input changed a row."""


class NotInvalidJSON(Violation):
    """Too deep, a lone surrogate or a NUL, not answered as invalid_json."""


class ForeignIdAnswered(Violation):
    """Another workspace's id answered differently from a missing one."""


class BadIdAccepted(Violation):
    """An id in other scripts' digits, with a sign, a space or ``_``, or past bigint, read as
    an id instead of refused (``/api/tags/%D9%A1/`` deleting tag 1)."""


class ScriptURLAccepted(Violation):
    """A javascript:/data: URL stored as media."""


class SocketBroken(Violation):
    """A socket that closed, or stopped answering ping, after a bad frame."""


def fail(problems: list[tuple[type, str]], where: str):
    """Raise the first problem's class with every problem in the message."""
    if problems:
        STATS["violations"] += 1
        raise problems[0][0](f"{where}: " + "; ".join(text for _, text in problems))


# --- "no row written": a snapshot of every domain table ---------------------------------------------
def _snapshot_tables() -> list[str]:
    models = [Workspace, Membership, get_user_model(), Customer, Customer.tags.through, CustomerAccount, Tag,
              Conversation, Message, ReadMarker, Channel]
    return [model._meta.db_table for model in models]


def snapshot() -> tuple:
    """A digest of every row of the domain tables (a handful of rows each: one query on
    PostgreSQL). Bookkeeping tables (InboundEvent, sessions) are left out."""
    tables = _snapshot_tables()
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            qn = connection.ops.quote_name
            digest = "md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), ''))"
            cursor.execute(" UNION ALL ".join(f"(SELECT {i}, count(*), {digest} FROM {qn(name)} t)"
                                              for i, name in enumerate(tables)))
            return tuple(sorted(cursor.fetchall()))
        digests = []
        for i, name in enumerate(tables):
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(name)}")
            rows = cursor.fetchall()
            digests.append((i, len(rows), hash(tuple(sorted(map(repr, rows))))))
        return tuple(digests)


def snapshot_diff(before: tuple, after: tuple) -> list[str]:
    tables = _snapshot_tables()
    changed = []
    for (index, old_count, old_digest), (_, new_count, new_digest) in zip(before, after):
        if (old_count, old_digest) != (new_count, new_digest):
            name = tables[index]
            changed.append(f"{name} ({old_count}→{new_count} rows)" if old_count != new_count else name)
    return changed


# --- "no traceback in the log" ------------------------------------------------------------------------
class LogGuard(logging.Handler):
    """Collects WARNING and above from every logger; ``take()`` returns what is new, and
    ``bad()`` the records that are a bug for bad input: a traceback, or ERROR and above."""

    def __init__(self):
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record):
        self.records.append(record)

    def take(self) -> list[logging.LogRecord]:
        records, self.records = self.records, []
        return records

    @staticmethod
    def bad(records) -> list[str]:
        out = []
        for record in records:
            if record.exc_info or record.levelno >= logging.ERROR:
                exc = record.exc_info[1] if record.exc_info else None
                where = ""
                if exc is not None and exc.__traceback__ is not None:
                    tb = exc.__traceback__
                    while tb.tb_next:
                        tb = tb.tb_next
                    where = f" at {tb.tb_frame.f_code.co_filename.rsplit('/', 2)[-2:]}:{tb.tb_lineno}"
                    where = where.replace("['", "").replace("', '", "/").replace("']", "")
                detail = f"{type(exc).__name__}: {str(exc)[:160]}{where}" if exc else record.getMessage()[:200]
                out.append(f"{record.levelname} {record.name}: {detail}")
        return out
