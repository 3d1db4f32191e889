"""The only module that publishes events.

Services call ``publish_on_commit``: the event leaves after the transaction commits, so no
client ever sees a row the database does not have (and a rolled-back write sends nothing).
Consumers call ``publish_now`` only for state that has no row (presence, typing).

Events are domain events, published once per group to every process (fiko/fanout.py: one
Redis subscription per group per process, delivered to the local sockets in memory). Their
``type`` is dotted (``message.created``); a socket renders it with the method named with dots
turned into underscores (``message_created``), each in its own dialect.
"""
import logging

from django.db import transaction

from fiko import fanout, metrics

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
ACCESS_REVOKED = "access.revoked"  # to a principal's group: its sockets close (fiko/access_revocation.py)
# Events with no database row: they change nothing a read of the database returns.
ROWLESS_EVENTS = frozenset({PRESENCE_CHANGED, TYPING})
DOMAIN_EVENTS = frozenset({MESSAGE_CREATED, MESSAGE_UPDATED, MESSAGES_READ, CONVERSATION_CREATED,
                           CONVERSATION_UPDATED, CUSTOMER_CREATED, CUSTOMER_UPDATED, PRESENCE_CHANGED, TYPING,
                           ACCESS_REVOKED})


def conversation_group(conversation_id: int) -> str:
    return f"conversation.{int(conversation_id)}"


def workspace_group(workspace_id: int) -> str:
    return f"workspace.{int(workspace_id)}"


def principal_group(participant) -> str:
    """Every socket of one principal (a fiko.participants.Participant), on every process."""
    return f"principal.{participant.kind}.{int(participant.id)}"


def _publish(groups: list[str], event: dict) -> None:
    try:
        with metrics.publish_timer("on_commit"):
            fanout.publish(groups, event)
    except Exception:  # fan-out is best effort; the database already holds the truth
        log.exception("publishing %s to %s failed", event.get("type"), groups)


def publish_on_commit(groups: list[str], event: dict) -> None:
    """Queue ``event`` for ``groups``; it is sent when the current transaction commits."""
    transaction.on_commit(lambda: _publish(groups, event))


def publish_built_on_commit(build) -> None:
    """Call ``build()`` once the current transaction has committed and publish what it returns,
    ``[(groups, event), ...]`` in order: for events whose payload costs queries, so they are not
    made while the transaction holds its row locks (a conversation's writers wait on them)."""
    def send():
        try:
            built = build()
        except Exception:  # the write is committed; its clients catch up from the database
            log.exception("building an event after commit failed")
            return
        for groups, event in built:
            _publish(groups, event)

    transaction.on_commit(send)


async def publish_now(groups: list[str], event: dict) -> None:
    """For events with no database row (presence, typing), from async code."""
    try:
        with metrics.publish_timer("now"):
            await fanout.publish_async(groups, event)
    except Exception:
        log.exception("publishing %s to %s failed", event.get("type"), groups)


async def join(member, *groups: str) -> None:
    """Deliver ``groups``' events to ``member`` (a socket) from now on; returns once that is
    guaranteed (fiko/fanout.py)."""
    local = fanout.hub()
    for group in groups:
        await local.join(group, member)


async def leave(member, *groups: str) -> None:
    local = fanout.hub()
    for group in groups:
        await local.leave(group, member)


def shared_read(group: str, name: str, *, max_age: float, kept_by: frozenset = ROWLESS_EVENTS):
    """The read ``name`` of ``group``'s state that the sockets of this process joining ``group``
    share: (a fiko.fanout.SharedRead, True when the caller makes the read). See fiko/fanout.py."""
    return fanout.hub().shared_read(group, name, max_age=max_age, kept_by=kept_by)


async def catch_up() -> None:
    """Return once this process has delivered every event published before the call."""
    await fanout.hub().catch_up()
