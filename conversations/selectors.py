"""Reads of conversations and messages, with tenancy folded into each query."""
from django.contrib.auth import get_user_model
from django.db.models import Count, F, Prefetch

from customers.models import Customer
from customers.selectors import customers_with_counts, user_workspaces
from fiko.filtering import apply_filterset
from fiko.inputs import id_or_none
from fiko.pagination import PageRequest, parse_page_request

from .filters import ORDER_FIELDS, PRIORITY_NAMES, SOURCE_CHOICES, STATUS_CHOICES, ConversationFilter
from .models import Conversation, Message, ReadMarker

DEFAULT_MESSAGES = 50
MAX_MESSAGES = 100


def conversations_for_wire(queryset=None):
    """Everything ConversationSerializer reads, in a constant number of queries."""
    queryset = Conversation.objects.all() if queryset is None else queryset
    return queryset.select_related("assignee", "last_message").prefetch_related(
        Prefetch("customer", queryset=customers_with_counts(Customer.objects.all()))
    )


def conversation_list(*, user, filters=None, request=None):
    queryset = conversations_for_wire(Conversation.objects.filter(workspace_id__in=user_workspaces(user)))
    queryset = queryset.order_by(F("last_message_at").desc(nulls_last=True), "-updated_at", "-id")
    if request is None and user is not None:
        request = _UserRequest(user)
    return apply_filterset(ConversationFilter, filters or {}, queryset, request=request)


class _UserRequest:
    """What ConversationFilter needs of a request (``assignee=me``) when called from a socket."""

    def __init__(self, user):
        self.user = user


def conversation_page(*, user, filters=None) -> tuple[list[Conversation], int, PageRequest]:
    filters = filters or {}
    page = parse_page_request(filters)
    queryset = conversation_list(user=user, filters=filters)
    total = queryset.count()
    return list(queryset[page.offset: page.offset + page.limit]), total, page


def conversation_get_for_user(*, user, conversation_id) -> Conversation | None:
    """The conversation if it belongs to one of the user's workspaces; None otherwise
    (another workspace's conversation looks exactly like a missing one)."""
    conversation_id = id_or_none(conversation_id)
    if conversation_id is None:
        return None
    return conversations_for_wire(
        Conversation.objects.filter(pk=conversation_id, workspace_id__in=user_workspaces(user))
    ).first()


def conversation_get_for_customer(*, customer, conversation_id) -> Conversation | None:
    conversation_id = id_or_none(conversation_id)
    if conversation_id is None:
        return None
    return conversations_for_wire(Conversation.objects.filter(pk=conversation_id, customer=customer)).first()


def conversation_for_wire(conversation_id: int) -> Conversation:
    return conversations_for_wire(Conversation.objects.filter(pk=conversation_id)).get()


def conversation_filter_options(*, user) -> dict:
    from customers.selectors import tag_list

    order_by = []
    for name, _ in ORDER_FIELDS:
        order_by += [name, f"-{name}"]
    return {
        "statuses": [value for value, _ in STATUS_CHOICES],
        "sources": [value for value, _ in SOURCE_CHOICES],
        "priorities": list(PRIORITY_NAMES),
        "tags": list(tag_list(user=user).annotate(count=Count("customers", distinct=True)).values("id", "name", "color", "count")),
        "assignees": list(
            get_user_model().objects.filter(memberships__workspace_id__in=user_workspaces(user))
            .distinct().order_by("username").values("id", "username")
        ),
        "order_by": order_by,
        "unread_only": ["true", "false"],
        "is_archived": ["true", "false", "all"],
        "max_page_size": 100,
    }


# --- messages ---------------------------------------------------------------------------------
def messages_for_wire(queryset=None):
    queryset = Message.objects.all() if queryset is None else queryset
    return queryset.select_related("sender_user", "conversation__customer")


def read_markers_for(conversation_ids) -> dict[int, list[ReadMarker]]:
    markers: dict[int, list[ReadMarker]] = {}
    for marker in ReadMarker.objects.filter(conversation_id__in=list(conversation_ids)):
        markers.setdefault(marker.conversation_id, []).append(marker)
    return markers


def message_window(*, conversation_id: int, before_id=None, after_id=None, limit=DEFAULT_MESSAGES):
    """Up to ``limit`` messages nearest the given id, oldest first, and whether more exist
    beyond them (older for ``before_id`` and the default, newer for ``after_id``)."""
    limit = max(1, min(int(limit), MAX_MESSAGES))
    queryset = messages_for_wire(Message.objects.filter(conversation_id=conversation_id))
    if after_id is not None:
        rows = list(queryset.filter(id__gt=after_id).order_by("seq")[: limit + 1])
        return rows[:limit], len(rows) > limit
    if before_id is not None:
        queryset = queryset.filter(id__lt=before_id)
    rows = list(queryset.order_by("-seq")[: limit + 1])
    has_more = len(rows) > limit
    return list(reversed(rows[:limit])), has_more


def message_get_in_conversation(*, conversation_id: int, message_id) -> Message | None:
    message_id = id_or_none(message_id)
    if message_id is None:
        return None
    return Message.objects.filter(pk=message_id, conversation_id=conversation_id).first()
