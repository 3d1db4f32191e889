"""Writes of tags. A tag's name is unique in its workspace (the database constraint decides,
so two concurrent creates cannot both win). Renaming, recolouring or deleting a tag changes
the customers wearing it and the conversation rows that embed them, so each customer is
announced with ``customer.updated`` and each of their conversations with
``conversation.updated`` (a constant number of queries, however many)."""
from django.db import IntegrityError, transaction

from conversations import events
from fiko.errors import ErrorCode, InvalidInput
from workspaces.selectors import workspace_ids_for_user

from .models import Customer, Tag
from .tag_copies import tag_copies_drop_tag


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


@transaction.atomic
def tag_delete(*, tag: Tag) -> None:
    customer_ids = _customer_ids(tag)
    tag_copies_drop_tag(tag)  # its links go by cascade, which sends no signal
    tag.delete()
    events.publish_customers_with_conversations(customer_ids)
