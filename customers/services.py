"""Writes of customers and tags. Each publishes its domain event on commit."""
from django.db import IntegrityError, transaction
from django.utils import timezone

from conversations import events
from conversations.models import Conversation
from fiko.errors import ErrorCode, InvalidInput

from .models import Customer, Tag
from .selectors import customer_by_platform_id, customer_with_counts


def customer_publish(customer_id: int, *, created: bool = False) -> None:
    """Queue ``customer.created``/``customer.updated`` for the customer's workspace."""
    events.publish_customers([customer_id], created=created)


def _conversations_follow_words(customer: Customer, before: str) -> None:
    """The customer's conversations keep a copy of its search_text (Conversation.customer_words,
    what a conversation search by the customer's name reads): rewritten when it changed."""
    if customer.search_text != before:
        Conversation.objects.filter(customer_id=customer.pk).update(customer_words=customer.search_text)


@transaction.atomic(savepoint=False)  # joins a caller's transaction: see conversations/services.py
def customer_upsert_from_platform(
    *, workspace, source: str, external_id: str, first_name: str = "", last_name: str = "",
    username: str = "", profile_picture: str | None = None, profile_fetched_at=None,
) -> tuple[Customer, bool]:
    """Find or create the customer (workspace, source, external id) and refresh what the
    platform told us. Safe under concurrent deliveries (the unique key decides)."""
    external_id = str(external_id)
    profile = {"first_name": first_name or "", "last_name": last_name or "", "username": username or ""}
    if profile_picture is not None:
        profile["profile_picture"] = profile_picture
    if profile_fetched_at is not None:  # when the platform profile was last fetched (Instagram)
        profile["profile_fetched_at"] = profile_fetched_at
    customer = customer_by_platform_id(workspace_id=workspace.pk, source=source, external_id=external_id)
    created = False
    if customer is None:
        try:
            with transaction.atomic():
                customer = Customer.objects.create(workspace=workspace, source=source, external_id=external_id, **profile)
                created = True
        except IntegrityError:
            # Only the unique key's race is recovered (another delivery created them first);
            # any other violation is an unstorable profile and goes back to the caller.
            customer = customer_by_platform_id(workspace_id=workspace.pk, source=source, external_id=external_id)
            if customer is None:
                raise
    if not created:
        changed = [k for k, v in profile.items() if v and getattr(customer, k) != v]
        if not changed:
            return customer, False
        before = customer.search_text
        for key in changed:
            setattr(customer, key, profile[key])
        customer.save(update_fields=changed)
        _conversations_follow_words(customer, before)
        # Conversation rows embed the customer: the lists must see the new name or picture.
        events.publish_customers_with_conversations([customer.pk])
        return customer, False
    customer_publish(customer.pk, created=True)
    return customer, True


@transaction.atomic
def customer_create_for_web(*, workspace, first_name: str, last_name: str = "", email: str = "", phone: str = "") -> Customer:
    customer = Customer.objects.create(
        workspace=workspace, source="web", first_name=first_name, last_name=last_name, email=email, phone=phone
    )
    customer_publish(customer.pk, created=True)
    return customer


@transaction.atomic
def customer_update(*, customer: Customer, data: dict) -> Customer:
    """PATCH of name, email, phone and tags (``tag_ids`` must be tags of the same workspace)."""
    fields = [k for k in ("first_name", "last_name", "email", "phone") if k in data]
    before = customer.search_text
    for key in fields:
        setattr(customer, key, data[key])
    if fields:
        customer.save(update_fields=fields)
        _conversations_follow_words(customer, before)
    if "tag_ids" in data:
        tag_ids = set(data["tag_ids"])
        tags = list(Tag.objects.filter(workspace_id=customer.workspace_id, pk__in=tag_ids))
        if len(tags) != len(tag_ids):
            missing = sorted(tag_ids - {t.pk for t in tags})
            raise InvalidInput(f"Unknown tag ids: {missing}", ErrorCode.INVALID_INPUT, field="tag_ids")
        customer.tags.set(tags)  # the copies of its tag ids follow the links: customers.tag_copies
        Customer.objects.filter(pk=customer.pk).update(updated_at=timezone.now())
    # Conversation rows embed the customer: the conversation lists must see the new name/tags.
    events.publish_customers_with_conversations([customer.pk])
    return customer_with_counts(customer.pk)
