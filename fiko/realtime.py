"""The only module that sends to the channel layer.

Services call ``publish_on_commit``: the event leaves after the transaction commits, so no
client ever sees a row the database does not have (and a rolled-back write sends nothing).
Consumers call ``publish_now`` only for state that has no row (presence, typing).

Events are domain events. Their ``type`` is dotted (``message.created``); Channels dispatches
it to the consumer method with dots turned into underscores (``message_created``). Each
consumer renders the event in its own dialect.
"""
import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

log = logging.getLogger(__name__)

# Event types
MESSAGE_CREATED = "message.created"
MESSAGE_UPDATED = "message.updated"
MESSAGES_READ = "messages.read"
CONVERSATION_CREATED = "conversation.created"
CONVERSATION_UPDATED = "conversation.updated"
CUSTOMER_CREATED = "customer.created"
CUSTOMER_UPDATED = "customer.updated"
PRESENCE_CHANGED = "presence.changed"
TYPING = "typing.changed"
DOMAIN_EVENTS = frozenset({MESSAGE_CREATED, MESSAGE_UPDATED, MESSAGES_READ, CONVERSATION_CREATED,
                           CONVERSATION_UPDATED, CUSTOMER_CREATED, CUSTOMER_UPDATED, PRESENCE_CHANGED, TYPING})


def conversation_group(conversation_id: int) -> str:
    return f"conversation.{int(conversation_id)}"


def workspace_group(workspace_id: int) -> str:
    return f"workspace.{int(workspace_id)}"


def _send(groups: list[str], event: dict) -> None:
    layer = get_channel_layer()
    for group in groups:
        try:
            async_to_sync(layer.group_send)(group, event)
        except Exception:  # fan-out is best effort; the database already holds the truth
            log.exception("group_send to %s failed for %s", group, event.get("type"))


def publish_on_commit(groups: list[str], event: dict) -> None:
    """Queue ``event`` for ``groups``; it is sent when the current transaction commits."""
    transaction.on_commit(lambda: _send(groups, event))


async def publish_now(groups: list[str], event: dict) -> None:
    """For events with no database row (presence, typing), from async code."""
    layer = get_channel_layer()
    for group in groups:
        try:
            await layer.group_send(group, event)
        except Exception:
            log.exception("group_send to %s failed for %s", group, event.get("type"))


async def join(channel_name: str, *groups: str) -> None:
    layer = get_channel_layer()
    for group in groups:
        await layer.group_add(group, channel_name)


async def leave(channel_name: str, *groups: str) -> None:
    layer = get_channel_layer()
    for group in groups:
        await layer.group_discard(group, channel_name)
