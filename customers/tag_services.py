"""Writes of tags. A tag's name is unique in its workspace (the database constraint decides,
so two concurrent creates cannot both win). Renaming, recolouring or deleting a tag changes
the customers wearing it and the conversation rows that embed them, so each customer is
announced with ``customer.updated`` and each of their conversations with
``conversation.updated`` (a constant number of queries, however many)."""
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Func, Value
from django.db.models.expressions import RawSQL

from conversations import events
from conversations.models import Conversation, IdArrayField
from fiko.errors import ErrorCode, InvalidInput
from workspaces.selectors import workspace_ids_for_user

from .models import Customer, Tag


def _name_taken(name: str) -> InvalidInput:
    return InvalidInput(f"A tag named '{name}' already exists in this workspace", ErrorCode.INVALID_INPUT, field="name")


def _customer_ids(tag: Tag) -> list[int]:
    return list(Customer.tags.through.objects.filter(tag=tag).values_list("customer_id", flat=True))


def tag_workspace_for(*, user, workspace_id: int | None) -> int:
    """The workspace a new tag goes to: the one asked for (if the user belongs to it), else
    the user's only workspace. A user of several workspaces must say which."""
    ids = workspace_ids_for_user(user)
    if workspace_id is not None:
        if workspace_id not in ids:
            raise InvalidInput("workspace: no such workspace among yours", field="workspace")
        return workspace_id
    if len(ids) == 1:
        return ids[0]
    if not ids:
        raise InvalidInput("You are not a member of any workspace", field="workspace")
    raise InvalidInput("workspace is required: you belong to several workspaces", field="workspace")


@transaction.atomic
def tag_create(*, user, workspace_id: int | None = None, name: str, color: str | None = None) -> Tag:
    fields = {"workspace_id": tag_workspace_for(user=user, workspace_id=workspace_id), "name": name}
    if color:
        fields["color"] = color
    try:
        with transaction.atomic():
            return Tag.objects.create(**fields)
    except IntegrityError:
        raise _name_taken(name) from None


@transaction.atomic
def tag_update(*, tag: Tag, data: dict) -> Tag:
    fields = [key for key in ("name", "color") if key in data and getattr(tag, key) != data[key]]
    if not fields:
        return tag
    for key in fields:
        setattr(tag, key, data[key])
    try:
        with transaction.atomic():
            tag.save(update_fields=fields)
    except IntegrityError:
        raise _name_taken(data["name"]) from None
    events.publish_customers_with_conversations(_customer_ids(tag))
    return tag


def _conversations_drop_tag(tag: Tag) -> None:
    """The conversations of the tag's customers keep a copy of their customer's tag ids
    (Conversation.customer_tag_ids, what the conversation tags filter reads): the tag's id
    leaves it, in one statement (through the GIN index on PostgreSQL)."""
    conversations = Conversation.objects.filter(workspace_id=tag.workspace_id)
    if connection.vendor == "postgresql":
        conversations.filter(customer_tag_ids__overlap=[tag.pk]).update(customer_tag_ids=Func(
            F("customer_tag_ids"), Value(tag.pk), function="array_remove", output_field=IdArrayField()))
    else:  # JSON text: the list without the id
        wearers = Customer.tags.through.objects.filter(tag=tag).values("customer_id")
        conversations.filter(customer_id__in=wearers).update(
            customer_tag_ids=RawSQL("(SELECT json_group_array(value) FROM json_each(customer_tag_ids) "
                                    "WHERE value <> %s)", [tag.pk], output_field=IdArrayField()))


@transaction.atomic
def tag_delete(*, tag: Tag) -> None:
    customer_ids = _customer_ids(tag)
    _conversations_drop_tag(tag)
    tag.delete()
    events.publish_customers_with_conversations(customer_ids)
