"""Presence and typing in a conversation: the two events with no database row, built here once
for every chat dialect (as Zulip keeps typing in ``zerver/actions/typing.py``).

A socket enters a conversation's presence (fiko/presence.py) when it starts showing the
conversation and leaves it when it stops; its heartbeat renews what it entered
(``BaseConsumer.presence_keys``). A participant's first live connection there, and its last,
tell the conversation: ``presence.changed`` with ``is_online``. ``typing.changed`` says that a
participant started or stopped typing. Both are published at once (``realtime.publish_now``:
there is no commit to wait for) to the conversation's group, with the sender's channel so that
no socket renders its own; each dialect renders them in its own way (its ``presence_changed``
and ``typing_changed`` handlers).

``socket`` below is a BaseConsumer: its ``participant``, ``display_name``, ``channel_name`` and
``presence_keys``.
"""
from fiko import presence, realtime
from fiko.timefmt import now_iso


async def presence_enter(socket, conversation_id: int, *, name: str = "") -> dict[str, str | None]:
    """``socket`` enters the conversation's presence, leaving ``name`` for later newcomers (who
    then need no query for it). Returns who else is there, read in the same round trip:
    {participant key: the name it entered with, or None}."""
    key = presence.conversation_key(conversation_id)
    first, others = await presence.enter_and_list(key, socket.participant.key, socket.channel_name, name)
    socket.presence_keys.append(key)
    if first:
        await _publish(socket, realtime.PRESENCE_CHANGED, conversation_id, is_online=True)
    return others


async def presence_leave(socket, conversation_id: int) -> None:
    """``socket`` leaves the conversation's presence, if it entered it."""
    key = presence.conversation_key(conversation_id)
    if key not in socket.presence_keys:
        return
    socket.presence_keys.remove(key)
    if await presence.leave(key, socket.participant.key, socket.channel_name):
        await _publish(socket, realtime.PRESENCE_CHANGED, conversation_id, is_online=False)


async def typing_publish(socket, conversation_id: int, *, is_typing: bool) -> None:
    await _publish(socket, realtime.TYPING, conversation_id, is_typing=is_typing)


async def _publish(socket, event_type: str, conversation_id: int, **state) -> None:
    await realtime.publish_now([realtime.conversation_group(conversation_id)], {
        "type": event_type, "conversation_id": conversation_id,
        "participant_type": socket.participant.kind, "participant_id": socket.participant.id,
        "username": socket.display_name, **state, "timestamp": now_iso(), "sender_channel": socket.channel_name,
    })
