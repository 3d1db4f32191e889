"""CustomerFilter: every filter of seed 001's cheat sheet and seed 000's example.
Used only through customers.selectors (REST and the /ws/customers/ socket alike)."""
import django_filters
from django.db import connection
from django.db.models import Exists, OuterRef, Q

from conversations.filters import SOURCE_CHOICES, STATUS_ALIASES, STATUS_CHOICES
from conversations.models import Conversation
from fiko.filtering import (ChoiceOrAllFilter, IntListFilter, ListFilter, MomentFilter, StrictOrderingFilter,
                            TriStateFilter, request_user)
from fiko.search_normalize import search_words

from .models import Customer
from .tag_names import tag_ids_named

ORDER_FIELDS = (
    ("created_at", "created_at"),
    ("updated_at", "updated_at"),
    ("first_name", "first_name"),
    ("last_name", "last_name"),
    ("last_activity_at", "last_activity_at"),
    ("username", "username"),
)


class _HasValueFilter(TriStateFilter):
    def apply(self, queryset, flag):
        empty = Q(**{self.field_name: ""})
        return queryset.exclude(empty) if flag else queryset.filter(empty)


class CustomerFilter(django_filters.FilterSet):
    search = django_filters.CharFilter(method="filter_search", max_length=200)
    search_term = django_filters.CharFilter(method="filter_search", max_length=200)  # v1 name
    has_email = _HasValueFilter(field_name="email")
    has_phone = _HasValueFilter(field_name="phone")
    # Customer.has_unread: kept by conversations.services, read through its partial indexes
    has_unread = TriStateFilter(field_name="has_unread")
    source = ChoiceOrAllFilter(field_name="source", choices=SOURCE_CHOICES)
    tags = ListFilter(method="filter_tags")
    tag_ids = IntListFilter(method="filter_tag_ids")
    conversation_status = django_filters.ChoiceFilter(choices=STATUS_CHOICES, method="filter_conversation_status")
    date_from = MomentFilter(field_name="created_at")
    date_to = MomentFilter(field_name="created_at", end=True)
    last_activity_from = MomentFilter(field_name="last_activity_at")
    last_activity_to = MomentFilter(field_name="last_activity_at", end=True)
    order_by = StrictOrderingFilter(fields=ORDER_FIELDS, tiebreaks={"last_activity_at": "created_at"})

    conversation_status.allowed_description = ", ".join(c for c, _ in STATUS_CHOICES)

    class Meta:
        model = Customer
        fields = []

    def filter_search(self, queryset, name, value):
        for word in search_words(value):
            queryset = queryset.filter(search_text__contains=word)
        return queryset

    def filter_tags(self, queryset, name, value):
        if not value:
            return queryset
        return self.filter_tag_ids(queryset, name, tag_ids_named(value, request_user(self)) or [0])

    def filter_tag_ids(self, queryset, name, value):
        if not value:
            return queryset
        if connection.vendor == "postgresql":  # the customer's copy of its tag ids (GIN: a bitmap of the wearers)
            return queryset.filter(tag_ids__overlap=value)
        return queryset.filter(Exists(Customer.tags.through.objects.filter(customer=OuterRef("pk"), tag_id__in=value)))

    def filter_conversation_status(self, queryset, name, value):
        if value in ("", "all"):
            return queryset
        status = STATUS_ALIASES.get(value, value)
        return queryset.filter(Exists(Conversation.objects.filter(customer=OuterRef("pk"), status=status)))
