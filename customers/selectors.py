"""Reads of customers and tags. Tenancy is folded into each query: the lists take the user's
workspace ids as literals (a socket holds them; REST reads them once), which lets PostgreSQL
read a page straight from the sort index; single-row reads use a membership subquery."""
from django.db.models import Count, F, IntegerField, OuterRef, Subquery, Sum, Value
from django.db.models.functions import Coalesce

from conversations.models import Conversation
from fiko.compiled_sql import CompiledQuery
from fiko.filtering import UserRequest, apply_filterset, order_by_values
from fiko.inputs import id_or_none
from fiko.pagination import MAX_PAGE_SIZE, Page, PageRequest, fetch_filtered_page
from workspaces.models import Membership
from workspaces.selectors import workspace_ids_for_user

from .filters import CustomerFilter, ORDER_FIELDS, SOURCE_CHOICES
from .models import Customer, Tag


def user_workspaces(user):
    """Subquery of the workspace ids ``user`` belongs to."""
    return Membership.objects.filter(user_id=getattr(user, "pk", None)).values("workspace_id")


def customer_count_annotations(customer_ref: str = "pk") -> dict:
    """The counts a customer carries on the wire, as annotations of any row whose
    ``customer_ref`` is the customer's id: ``unread_total`` (over their conversations) and
    ``conversations_total``."""
    per_customer = Conversation.objects.filter(customer=OuterRef(customer_ref)).order_by().values("customer")
    return {
        "unread_total": Coalesce(
            Subquery(per_customer.annotate(total=Sum("unread_count")).values("total")[:1], output_field=IntegerField()),
            Value(0),
        ),
        "conversations_total": Coalesce(
            Subquery(per_customer.annotate(total=Count("id")).values("total")[:1], output_field=IntegerField()),
            Value(0),
        ),
    }


# A platform customer by its unique key, on the path of every platform delivery: compiled once
# per process (fiko/compiled_sql.py), as the other reads on the path of every stored message.
_BY_PLATFORM_ID = CompiledQuery(
    lambda workspace_id, source, external_id: Customer.objects.filter(
        workspace_id=workspace_id, source=source, external_id=external_id).order_by("pk")[:1])


def customer_by_platform_id(*, workspace_id: int, source: str, external_id) -> Customer | None:
    """The customer (workspace, platform, the platform's id for them), or None."""
    rows = _BY_PLATFORM_ID.rows(workspace_id=workspace_id, source=source, external_id=str(external_id))
    return rows[0] if rows else None


def customers_with_counts(queryset=None):
    """Customers annotated for CustomerSerializer: unread and conversation totals, tags."""
    queryset = Customer.objects.all() if queryset is None else queryset
    return queryset.annotate(**customer_count_annotations()).prefetch_related("tags")


def customer_list(*, user, filters=None, request=None, workspace_ids=None):
    """Customers of the user's workspaces (``workspace_ids`` if the caller holds them),
    filtered and ordered (CustomerFilter; the default order is the index customer_ws_activity_cover,
    which also holds search_text and email, and for has_unread=true the partial index
    customer_ws_unread_activity, which also holds source)."""
    if workspace_ids is None:
        workspace_ids = workspace_ids_for_user(user)
    queryset = customers_with_counts(Customer.objects.filter(workspace_id__in=list(workspace_ids)))
    queryset = queryset.order_by(F("last_activity_at").desc(nulls_last=True), "-created_at", "-id")
    if request is None and user is not None:
        request = UserRequest(user)
    return apply_filterset(CustomerFilter, filters or {}, queryset, request=request)


def customer_page(*, user, filters=None, workspace_ids=None) -> tuple[Page, PageRequest]:
    return fetch_filtered_page(filters, lambda filters: customer_list(user=user, filters=filters,
                                                                       workspace_ids=workspace_ids))


def customer_get_for_user(*, user, customer_id) -> Customer | None:
    customer_id = id_or_none(customer_id)
    if customer_id is None:
        return None
    return customers_with_counts(
        Customer.objects.filter(pk=customer_id, workspace_id__in=user_workspaces(user))
    ).first()


def customer_with_counts(customer_id: int) -> Customer:
    return customers_with_counts(Customer.objects.filter(pk=customer_id)).get()


def tag_list(*, user):
    return Tag.objects.filter(workspace_id__in=user_workspaces(user)).order_by("name")


def tag_options(*, user) -> list[dict]:
    """The user's tags for filter options: ``{id, name, color, count}`` (its customers)."""
    return list(tag_list(user=user).annotate(count=Count("customers", distinct=True))
                .values("id", "name", "color", "count"))


def customer_filter_options(*, user) -> dict:
    from conversations.filters import STATUS_CHOICES

    return {
        "sources": [value for value, _ in SOURCE_CHOICES],
        "tags": tag_options(user=user),
        "order_by": order_by_values(ORDER_FIELDS),
        "conversation_statuses": [value for value, _ in STATUS_CHOICES],
        "has_email": ["true", "false", "all"],
        "has_phone": ["true", "false", "all"],
        "has_unread": ["true", "false", "all"],
        "max_page_size": MAX_PAGE_SIZE,
    }
