"""ConversationFilter: seed 000's filters plus v1 status names. Used only through
conversations.selectors (REST and the /ws/conversations/ socket alike)."""
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


SEARCH_PROBE = 2_000  # rows read to tell a rare word (exact id set) from a common one


def _word_matches(word):
    """``word`` in the conversation's messages (``message_words``, normalized as the word is),
    its title (stored as written: the variant regex) or its customer (``customer_words``, the
    customer's search_text kept on the conversation): three columns of the row, each with its
    trigram index on PostgreSQL."""
    return (Q(message_words__contains=word) | Q(title__iregex=variant_pattern(word))
            | Q(customer_words__contains=word))


def search_probe(word: str) -> set[int] | None:
    """The ids of every conversation (of any workspace: the list query keeps its own tenancy)
    that ``word`` matches, when there are few: at most SEARCH_PROBE rows, read unordered
    through one BitmapOr of the trigram indexes (conv_message_words_trgm, conv_title_trgm,
    conv_customer_words_trgm). None when there are more (a common word), when the word is too
    short for trigrams, or off PostgreSQL."""
    if connection.vendor != "postgresql" or len(word) < 3:
        return None
    found = list(Conversation.objects.filter(_word_matches(word)).order_by()
                 .values_list("id", flat=True)[: SEARCH_PROBE + 1])
    return None if len(found) > SEARCH_PROBE else set(found)


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
        if connection.vendor == "postgresql":  # the conversation's copy of its customer's tag ids (GIN)
            return queryset.filter(customer_tag_ids__overlap=ids)
        return queryset.filter(
            Exists(Customer.tags.through.objects.filter(customer=OuterRef("customer_id"), tag_id__in=ids))
        )
