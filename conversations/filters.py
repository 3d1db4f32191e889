"""ConversationFilter: seed 000's filters plus v1 status names. Used only through
conversations.selectors (REST and the /ws/conversations/ socket alike)."""
from contextlib import contextmanager
from contextvars import ContextVar

import django_filters
from django import forms
from django.db import connection
from django.db.models import Exists, OuterRef, Q

from customers.models import Customer, Source
from customers.tag_names import tag_ids_named
from fiko.errors import InvalidInput
from fiko.filtering import (ChoiceOrAllFilter, IdField, IdFilter, ListFilter, MomentFilter, StrictOrderingFilter,
                            TriStateFilter, id_in, request_user)
from fiko.inputs import parse_int
from fiko.search_normalize import search_words, variant_pattern

from .models import Conversation, Priority, Status

# v1 (seeds 002/003) status names, accepted as filters: they all mean "open".
STATUS_ALIASES = {"active": "open", "support_active": "open", "marketing_active": "open"}
STATUS_CHOICES = [(s, s) for s in Status.values] + [(a, a) for a in STATUS_ALIASES] + [("all", "all")]
SOURCE_CHOICES = [(s, s) for s in Source.values] + [("all", "all")]  # customers.filters filters by it too
PRIORITY_NAMES = {p.label: p.value for p in Priority}
ORDER_FIELDS = (
    ("last_message_at", "last_message_at"),
    ("updated_at", "updated_at"),
    ("created_at", "created_at"),
    ("priority", "priority"),
    ("unread_count", "unread_count"),
    ("status", "status"),
)


def parse_priority(value) -> int | None:
    """``low|medium|high|urgent`` or ``0-3``."""
    text = str(value).strip().lower() if not isinstance(value, int) else value
    if isinstance(text, str) and text in PRIORITY_NAMES:
        return PRIORITY_NAMES[text]
    try:
        return parse_int(text, "priority", minimum=min(Priority.values), maximum=max(Priority.values))
    except InvalidInput:
        return None


class PriorityField(forms.CharField):
    def to_python(self, value):
        value = super().to_python(value)
        if value in ("", None, "all"):
            return None
        parsed = parse_priority(value)
        if parsed is None:
            raise forms.ValidationError("unknown priority.")
        return parsed


class PriorityFilter(django_filters.Filter):
    field_class = PriorityField
    allowed_description = "low, medium, high, urgent, 0, 1, 2, 3, all"


class AssigneeField(IdField):
    """A user id (exact ASCII digits), ``me``, ``none``; ``all`` or empty: no filter."""

    def to_python(self, value):
        if value in ("me", "none"):
            return value
        if value == "all":
            return None
        try:
            return super().to_python(value)
        except forms.ValidationError:
            raise forms.ValidationError("must be a user id, 'me' or 'none'.") from None


class AssigneeFilter(django_filters.Filter):
    field_class = AssigneeField
    allowed_description = "a user id, me, none, all"

    def filter(self, qs, value):
        if value is None:
            return qs
        if value == "none":
            return qs.filter(assignee__isnull=True)
        if value == "me":
            request = self.parent.request
            user = getattr(request, "user", None)
            return qs.filter(assignee_id=user.pk if user is not None else -1)
        return qs.filter(assignee_id=value)


class _UnreadOnlyFilter(TriStateFilter):
    def apply(self, queryset, flag):
        return queryset.filter(unread_count__gt=0) if flag else queryset


class _ArchivedFilter(TriStateFilter):
    def apply(self, queryset, flag):
        return queryset.filter(is_archived=flag)


SEARCH_PROBE = 2_000  # rows read per side to tell a rare word (exact id set) from a common one


_PROBES: ContextVar[dict | None] = ContextVar("conversation_search_probes", default=None)


@contextmanager
def remembered_probes():
    """Within the block, search_probe remembers its answers in the dict it yields
    ({word: ids or None}): the list's count then knows the common words without probing again."""
    token = _PROBES.set({})
    try:
        yield _PROBES.get()
    finally:
        _PROBES.reset(token)


def _word_matches(word):
    """``word`` in the conversation's messages (``message_words``, normalized as the word is),
    its title (stored as written: the variant regex) or its customer (``search_text``; the
    customer row is already joined for the wire, so this is a plain condition on the row)."""
    return (Q(message_words__contains=word) | Q(title__iregex=variant_pattern(word))
            | Q(customer__search_text__contains=word))


def _search_sides(word):
    """The two trigram-indexed reads of a word, unordered: conversations whose messages or
    title have it (one BitmapOr of conv_message_words_trgm and conv_title_trgm), customers
    whose search_text has it."""
    in_conversations = Q(message_words__contains=word) | Q(title__iregex=variant_pattern(word))
    return (Conversation.objects.filter(in_conversations).order_by().values_list("id", flat=True),
            Customer.objects.filter(search_text__contains=word).order_by().values_list("id", flat=True))


def search_probe(word: str) -> set[int] | None:
    """The ids of every conversation (of any workspace: the list query keeps its own tenancy)
    that ``word`` matches, when there are few: at most SEARCH_PROBE rows from each side
    (conversations by their messages and titles, customers), each read through its trigram
    indexes. None when a side has
    more (a common word), when the word is too short for trigrams, or off PostgreSQL."""
    memo = _PROBES.get()
    if memo is not None and word in memo:
        return memo[word]
    found = _probe(word)
    if memo is not None:
        memo[word] = found
    return found


def common_word_count(queryset, word: str, cap: int) -> tuple[int, bool]:
    """The capped count of a search list whose ``word`` is common, without id lists: the list's
    rows whose messages or title have the word (A: one column of the row, so a dense word
    stops at the cap after a short read); when that is within the cap, the rows whose customer
    has it (B: customers through the trigram index, joined to the list through its
    (workspace, customer) index), plus, if A had any, the rows of A that B does not hold.
    ``queryset``: the list without this word's condition (or with it: the same rows)."""
    def capped(rows, limit):
        return rows.order_by().values("pk")[:limit].count()

    in_conversations = Q(message_words__contains=word) | Q(title__iregex=variant_pattern(word))
    by_customer = Q(customer__search_text__contains=word)
    in_a = capped(queryset.filter(in_conversations), cap + 1)
    if in_a > cap:
        return cap, True
    found = capped(queryset.filter(by_customer), cap + 1)
    if in_a and found <= cap:
        found += capped(queryset.filter(in_conversations).exclude(by_customer), cap + 1 - found)
    return min(found, cap), found > cap


def _probe(word: str) -> set[int] | None:
    if connection.vendor != "postgresql" or len(word) < 3:
        return None
    in_conversations, in_customers = _search_sides(word)
    # every side is always read: the number of queries does not depend on the data
    found = list(in_conversations[: SEARCH_PROBE + 1])
    customers = list(in_customers[: SEARCH_PROBE + 1])
    if len(found) > SEARCH_PROBE or len(customers) > SEARCH_PROBE:
        customers, found = [], None
    # the conversations of the matching customers (by the customer_id index)
    by_customer = Conversation.objects.filter(customer_id__in=customers).order_by().values_list("id", flat=True)
    rows = list(by_customer[: SEARCH_PROBE + 1]) if found is not None else []
    if found is None or len(rows) > SEARCH_PROBE:
        return None
    return set(found) | set(rows)


class ConversationFilter(django_filters.FilterSet):
    search = django_filters.CharFilter(method="filter_search", max_length=200)
    status = django_filters.ChoiceFilter(choices=STATUS_CHOICES, method="filter_status")
    source = ChoiceOrAllFilter(field_name="source", choices=SOURCE_CHOICES)
    priority = PriorityFilter(field_name="priority")
    unread_only = _UnreadOnlyFilter()
    tags = ListFilter(method="filter_tags")
    assignee = AssigneeFilter()
    is_archived = _ArchivedFilter()
    customer_id = IdFilter(field_name="customer_id")
    date_from = MomentFilter(field_name="created_at")
    date_to = MomentFilter(field_name="created_at", end=True)
    order_by = StrictOrderingFilter(fields=ORDER_FIELDS, tiebreaks={"last_message_at": "updated_at"})

    status.allowed_description = ", ".join(c for c, _ in STATUS_CHOICES)

    class Meta:
        model = Conversation
        fields = []

    def filter_search(self, queryset, name, value):
        """Every word must match the customer, the title or a message (``message_words``). On
        PostgreSQL each word is first probed through the trigram indexes (search_probe): a rare
        word becomes the exact set of its conversation ids; a common one stays a condition on
        the row, checked while the list is read in display order (dense matches: a page is found
        within a few rows)."""
        for word in search_words(value):
            ids = search_probe(word)
            queryset = queryset.filter(_word_matches(word) if ids is None else id_in(ids))
        return queryset

    def filter_status(self, queryset, name, value):
        if value in ("", "all"):
            return queryset
        return queryset.filter(status=STATUS_ALIASES.get(value, value))

    def filter_tags(self, queryset, name, value):
        if not value:
            return queryset
        ids = tag_ids_named(value, request_user(self)) or [0]  # ids, not names: see customers.tag_names
        return queryset.filter(
            Exists(Customer.tags.through.objects.filter(customer=OuterRef("customer_id"), tag_id__in=ids))
        )
