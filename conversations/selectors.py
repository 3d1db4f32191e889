"""Reads of conversations and messages, with tenancy folded into each query."""
import functools
from datetime import datetime

import orjson
from django.contrib.auth import get_user_model
from django.db import connections, router
from django.db.models import Exists, F, Func, IntegerField, OuterRef, Q, Subquery, TextField, Value
from django.db.models.query import ModelIterable

from customers.models import Customer, Tag
from customers.selectors import customer_count_annotations, tag_options, user_workspaces
from fiko.compiled_sql import CompiledQuery, set_prefetched
from fiko.filtering import UserRequest, apply_filterset, order_by_values
from fiko.inputs import id_or_none
from fiko.pagination import MAX_PAGE_SIZE, Page, PageRequest, fetch_filtered_page
from workspaces.selectors import workspace_ids_for_user

from .filters import ORDER_FIELDS, PRIORITY_NAMES, SOURCE_CHOICES, STATUS_CHOICES, ConversationFilter
from .models import Conversation, Message, ReadMarker, Status

DEFAULT_MESSAGES = 50
MAX_MESSAGES = 100


class _ConversationWireRows(ModelIterable):
    """Conversations whose customer carries the counts its wire shape reads: they are
    annotated on the conversation row (``customer_unread_total``…) and moved onto the
    customer here."""

    def __iter__(self):
        for conversation in super().__iter__():
            customer = conversation.customer
            for name in CUSTOMER_COUNTS:
                setattr(customer, name, getattr(conversation, f"customer_{name}"))
            if "customer_tag_rows" in conversation.__dict__:  # with_customer_tags_in_row
                set_prefetched(customer, "tags", _tags_from_rows(conversation.__dict__.pop("customer_tag_rows"),
                                                                 conversation._state.db))
            yield conversation


CUSTOMER_COUNTS = tuple(customer_count_annotations())

# The customer's tags in the conversation's row (PostgreSQL): one JSON array per row instead of
# a second query and its prefetch (the list's largest Python cost after the rows themselves; every
# message.created event's second round trip). SQLite (no ordered aggregate before 3.44) keeps the
# prefetch.
_TAG_FIELDS = ("id", "workspace_id", "name", "color", "created_at")


def _tag_rows():
    """The customer's tags as JSON text: ``[[id, workspace_id, name, color, created_at], …]``
    in the order of ``Tag.Meta.ordering`` (name; then id), NULL when it has none."""
    quote, tag, through = _reads_connection().ops.quote_name, Tag._meta, Customer.tags.through._meta
    columns = ", ".join(f"t.{quote(tag.get_field(name).column)}" for name in _TAG_FIELDS)
    return Func(F("customer_id"), output_field=TextField(), template=(
        f"(SELECT JSON_AGG(JSON_BUILD_ARRAY({columns}) ORDER BY t.{quote('name')}, t.{quote('id')})::text "
        f"FROM {quote(tag.db_table)} t INNER JOIN {quote(through.db_table)} ct "
        f"ON ct.{quote(through.get_field('tag').column)} = t.{quote('id')} "
        f"WHERE ct.{quote(through.get_field('customer').column)} = %(expressions)s)"))


def _reads_connection():
    return connections[router.db_for_read(Conversation)]


def _tags_from_rows(text: str | None, using: str) -> list[Tag]:
    """Tag instances of ``_tag_rows``'s JSON, as the query of the tags would give them."""
    return [Tag.from_db(using, _TAG_FIELDS, (pk, workspace_id, name, color, datetime.fromisoformat(created_at)))
            for pk, workspace_id, name, color, created_at in orjson.loads(text or "[]")]


def with_customer_tags_in_row(queryset):
    """``queryset`` (of conversations_for_wire) reading each customer's tags in its row on
    PostgreSQL (no prefetch query); unchanged elsewhere."""
    if _reads_connection().vendor != "postgresql":
        return queryset
    return queryset.prefetch_related(None).annotate(customer_tag_rows=_tag_rows())


def customer_tags_loaded(conversation) -> bool:
    """Whether the conversation's customer already holds its tags (read in the row)."""
    return "tags" in conversation.customer.__dict__.get("_prefetched_objects_cache", {})


def conversations_for_wire(queryset=None):
    """Everything ConversationSerializer reads, in 2 queries: the rows joined with assignee,
    last message and customer (the customer's counts as subqueries of the same statement),
    then the customers' tags."""
    queryset = Conversation.objects.all() if queryset is None else queryset
    counts = {f"customer_{name}": value for name, value in customer_count_annotations("customer_id").items()}
    queryset = queryset.select_related("assignee", "last_message", "customer").annotate(**counts)
    queryset = queryset.prefetch_related("customer__tags")
    queryset._iterable_class = _ConversationWireRows
    return queryset


def conversation_lock_for_store(conversation_id: int, *, sender_field: str, sender_id: int | None, client_message_id: str = "",
                                channel_id: int | None = None, external_id: str = "") -> Conversation:
    """The conversation row locked for a new message (``SELECT … FOR UPDATE``), in one
    statement with what the store decides on under that lock: ``duplicate_id``, a stored
    message the new one would repeat (the sender's ``client_message_id`` in this conversation,
    or the platform's message id on this channel), or None; and ``has_unanswered``, whether any
    customer message still waits for an answer (a partial index keeps that probe to the few
    unanswered rows). Its SQL is compiled once per shape and process (fiko/compiled_sql.py)."""
    by_client, by_platform = bool(client_message_id), bool(channel_id and external_id)
    if sender_id is None:  # no known sender: its client ids are those of messages without one
        sender_field = f"{sender_field}__isnull"
    shape = (sender_field, by_client, by_platform)
    compiled = _STORE_LOCKS.get(shape)
    if compiled is None:
        compiled = _STORE_LOCKS.setdefault(shape, CompiledQuery(functools.partial(_store_lock, *shape)))
    values = {"conversation_id": conversation_id}
    if by_client:
        values["client_message_id"] = client_message_id
        if sender_id is not None:
            values["sender_id"] = sender_id
    if by_platform:
        values.update(channel_id=channel_id, external_id=external_id)
    rows = compiled.rows(**values)
    if not rows:
        raise Conversation.DoesNotExist("Conversation matching query does not exist.")
    return rows[0]


_STORE_LOCKS: dict[tuple, CompiledQuery] = {}  # (sender field, by client id, by platform id) -> its lock query


def _store_lock(sender_field: str, by_client: bool, by_platform: bool, *, conversation_id, sender_id=None,
                client_message_id=None, channel_id=None, external_id=None):
    duplicates = None
    if by_client:
        sender = {sender_field: True} if sender_field.endswith("__isnull") else {sender_field: sender_id}
        duplicates = Q(conversation_id=conversation_id, client_message_id=client_message_id, **sender)
    if by_platform:
        same_platform_id = Q(channel_id=channel_id, external_id=external_id)
        duplicates = same_platform_id if duplicates is None else duplicates | same_platform_id
    return _with_store_probes(duplicates).filter(pk=conversation_id)


def _with_store_probes(duplicates: Q | None):
    """Conversations locked (``FOR UPDATE``) with the store's probes: ``duplicate_id``, a
    message matching ``duplicates`` (or None), and ``has_unanswered``."""
    duplicate = Value(None, output_field=IntegerField()) if duplicates is None else Subquery(
        Message.objects.filter(duplicates).order_by().values("pk")[:1])
    unanswered = Message.objects.filter(
        conversation_id=OuterRef("pk"), sender_type=Message.SenderType.CUSTOMER, is_answered=False)
    return (Conversation.objects.select_for_update(of=("self",))
            .annotate(duplicate_id=duplicate, has_unanswered=Exists(unanswered)))


def conversation_lock_open_on_channel(*, customer_id: int, channel_id: int, external_id: str = "") -> Conversation | None:
    """The customer's conversation on a platform channel that is not closed (at most one: a
    partial unique constraint), locked for a new message of theirs as ``conversation_lock_for_store``
    locks it, with the same probes (the platform's message id ``external_id`` on this channel;
    no client id), found by that lookup instead of its id: a webhook update reads the row once,
    where finding it and then locking it were two statements. None when there is none."""
    by_platform = bool(external_id)
    compiled = _OPEN_ON_CHANNEL_LOCKS[by_platform]
    values = {"customer_id": customer_id, "channel_id": channel_id}
    if by_platform:
        values["external_id"] = external_id
    rows = compiled.rows(**values)
    return rows[0] if rows else None


def _open_on_channel_lock(by_platform: bool, *, customer_id, channel_id, external_id=None):
    duplicates = Q(channel_id=channel_id, external_id=external_id) if by_platform else None
    return (_with_store_probes(duplicates).filter(customer_id=customer_id, channel_id=channel_id)
            .exclude(status=Status.CLOSED).order_by("pk")[:1])


_OPEN_ON_CHANNEL_LOCKS = {by_platform: CompiledQuery(functools.partial(_open_on_channel_lock, by_platform))
                          for by_platform in (False, True)}


def conversation_list(*, user, filters=None, request=None, workspace_ids=None):
    """Conversations of the user's workspaces (``workspace_ids`` if the caller holds them, as
    literals), filtered and ordered (ConversationFilter; the default order is the index
    conv_ws_last_msg_nl)."""
    if workspace_ids is None:
        workspace_ids = workspace_ids_for_user(user)
    queryset = with_customer_tags_in_row(
        conversations_for_wire(Conversation.objects.filter(workspace_id__in=list(workspace_ids))))
    queryset = queryset.order_by(F("last_message_at").desc(nulls_last=True), "-updated_at", "-id")
    if request is None and user is not None:
        request = UserRequest(user)
    return apply_filterset(ConversationFilter, filters or {}, queryset, request=request)


def conversation_page(*, user, filters=None, workspace_ids=None) -> tuple[Page, PageRequest]:
    return fetch_filtered_page(filters, lambda filters: conversation_list(user=user, filters=filters,
                                                                           workspace_ids=workspace_ids))


def conversation_get_for_user(*, user, conversation_id) -> Conversation | None:
    """The conversation if it belongs to one of the user's workspaces; None otherwise
    (another workspace's conversation looks exactly like a missing one)."""
    conversation_id = id_or_none(conversation_id)
    if conversation_id is None:
        return None
    return conversations_for_wire(
        Conversation.objects.filter(pk=conversation_id, workspace_id__in=user_workspaces(user))
    ).first()


def conversation_access_for_staff(*, user_id, conversation_id) -> tuple[object | None, Conversation | None]:
    """(the active user ``user_id``, the conversation if it is in one of that user's workspaces)
    in one query: the chat socket's handshake checks the token's user and its access together.
    (None, None) when there is no such active user; (user, None) when the conversation is
    missing or another workspace's. The conversation holds ``id`` and ``workspace_id``; any
    other field loads on first use. The query is compiled once per process (every handshake
    runs it)."""
    conversation_id = id_or_none(conversation_id)
    if conversation_id is None:
        rows = _STAFF_USER.rows(user_id=user_id)
    else:
        rows = _STAFF_ACCESS.rows(user_id=user_id, conversation_id=conversation_id)
    user = rows[0] if rows else None
    if user is None:
        return None, None
    workspace_id = getattr(user, "conversation_workspace_id", None)
    if workspace_id is None:
        return user, None
    return user, instance_of_columns(Conversation, {"id": conversation_id, "workspace_id": workspace_id})


def _active_users(user_id):
    return get_user_model().objects.filter(pk=user_id, is_active=True)


def _active_user(*, user_id):
    return _active_users(user_id)[:1]


def _active_user_with_access(*, user_id, conversation_id):
    return _active_users(user_id).annotate(
        conversation_workspace_id=Subquery(
            Conversation.objects.filter(pk=conversation_id, workspace__memberships__user_id=OuterRef("pk"))
            .values("workspace_id")[:1]))[:1]


_STAFF_USER = CompiledQuery(_active_user)
_STAFF_ACCESS = CompiledQuery(_active_user_with_access)


def conversation_get_for_customer(*, customer, conversation_id) -> Conversation | None:
    conversation_id = id_or_none(conversation_id)
    if conversation_id is None:
        return None
    return conversations_for_wire(Conversation.objects.filter(pk=conversation_id, customer=customer)).first()


def conversation_for_wire(conversation_id: int) -> Conversation:
    return conversations_for_wire(Conversation.objects.filter(pk=conversation_id)).get()


def conversation_filter_options(*, user) -> dict:
    return {
        "statuses": [value for value, _ in STATUS_CHOICES],
        "sources": [value for value, _ in SOURCE_CHOICES],
        "priorities": list(PRIORITY_NAMES),
        "tags": tag_options(user=user),
        "assignees": list(
            get_user_model().objects.filter(memberships__workspace_id__in=user_workspaces(user))
            .distinct().order_by("username").values("id", "username")
        ),
        "order_by": order_by_values(ORDER_FIELDS),
        "unread_only": ["true", "false"],
        "is_archived": ["true", "false", "all"],
        "max_page_size": MAX_PAGE_SIZE,
    }


# --- messages ---------------------------------------------------------------------------------
def messages_for_wire(queryset=None):
    queryset = Message.objects.all() if queryset is None else queryset
    return queryset.select_related("sender_user", "conversation__customer")


def read_markers_for(conversation_ids) -> dict[int, list]:
    """{conversation_id: [row(reader_type, reader_id, last_read_seq, read_at), ...]}: what
    MessageSerializer / message_wire need for read receipts, in one query (compiled once per
    process for one conversation: every chat handshake asks)."""
    conversation_ids = list(conversation_ids)
    if len(conversation_ids) == 1:
        rows = _ONE_CONVERSATION_MARKERS.rows(conversation_id=conversation_ids[0])
    else:
        rows = _read_markers(ReadMarker.objects.filter(conversation_id__in=conversation_ids))
    markers: dict[int, list] = {}
    for marker in rows:
        markers.setdefault(marker.conversation_id, []).append(marker)
    return markers


def _read_markers(queryset):
    return queryset.values_list("conversation_id", "reader_type", "reader_id", "last_read_seq", "read_at", named=True)


_ONE_CONVERSATION_MARKERS = CompiledQuery(
    lambda conversation_id: _read_markers(ReadMarker.objects.filter(conversation_id=conversation_id)))


def _window(queryset, *, before_id, after_id, limit) -> tuple[list, bool]:
    limit = max(1, min(int(limit), MAX_MESSAGES))
    if after_id is not None:
        rows = list(queryset.filter(id__gt=after_id).order_by("seq")[: limit + 1])
        return rows[:limit], len(rows) > limit
    if before_id is not None:
        queryset = queryset.filter(id__lt=before_id)
    rows = list(queryset.order_by("-seq")[: limit + 1])
    has_more = len(rows) > limit
    return list(reversed(rows[:limit])), has_more


def message_window(*, conversation_id: int, before_id=None, after_id=None, limit=DEFAULT_MESSAGES):
    """Up to ``limit`` messages nearest the given id, oldest first, and whether more exist
    beyond them (older for ``before_id`` and the default, newer for ``after_id``)."""
    return _window(messages_for_wire(Message.objects.filter(conversation_id=conversation_id)),
                   before_id=before_id, after_id=after_id, limit=limit)


# What conversations.serializers.message_wire reads of a message, its staff author and the
# conversation's customer, as one row per message.
MESSAGE_WIRE_COLUMNS = (
    "id", "conversation_id", "seq", "content", "role", "sender_type", "sender_user_id", "sender_customer_id",
    "message_type", "media_url", "thumbnail_url", "reply_to_id", "reference", "is_ai_response", "is_answered",
    "is_edited", "is_deleted", "delivery_status", "external_send_result", "created_at",
    "sender_user__first_name", "sender_user__last_name", "sender_user__username",
    "conversation__customer_id", "conversation__customer__first_name", "conversation__customer__last_name",
    "conversation__customer__username", "conversation__customer__source",
)


def message_rows_window(*, conversation_id: int, before_id=None, after_id=None, limit=DEFAULT_MESSAGES):
    """``message_window`` as plain rows (MESSAGE_WIRE_COLUMNS, one query, no model instances):
    for frames that render many messages (``recent_messages``, ``messages_page``). The newest
    ``RECENT_MESSAGES`` (every chat handshake's ``recent_messages``) is compiled once per process."""
    if before_id is None and after_id is None and limit == RECENT_MESSAGES:
        rows = _RECENT_ROWS.rows(conversation_id=conversation_id)
        return list(reversed(rows[:limit])), len(rows) > limit
    queryset = _message_rows(conversation_id)
    return _window(queryset, before_id=before_id, after_id=after_id, limit=limit)


def _message_rows(conversation_id):
    return Message.objects.filter(conversation_id=conversation_id).values_list(*MESSAGE_WIRE_COLUMNS, named=True)


RECENT_MESSAGES = 50
_RECENT_ROWS = CompiledQuery(
    lambda conversation_id: _message_rows(conversation_id).order_by("-seq")[: RECENT_MESSAGES + 1])


def message_get_in_conversation(*, conversation_id: int, message_id) -> Message | None:
    message_id = id_or_none(message_id)
    if message_id is None:
        return None
    return Message.objects.filter(pk=message_id, conversation_id=conversation_id).first()


def instance_of_columns(model, values: dict):
    """A ``model`` instance as the database would load it with only these columns (attname ->
    value); every other field is deferred, so it loads on first use instead of reading as a
    default."""
    names = [f.attname for f in model._meta.concrete_fields if f.attname in values]
    return model.from_db(model.objects.db, names, [values[name] for name in names])
