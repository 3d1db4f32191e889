"""/ws/chat/<conversation_id>/: one conversation (seeds 000, 002, 003).

On connect the socket joins the conversation's group first and only then reads
``recent_messages``, so no message can slip between the read and the subscription (a message
that lands in that window is in ``recent_messages`` and its ``chat_message`` is not repeated).
Sockets of one process that join a conversation together (a team reconnecting after a
restart) share one read of ``recent_messages`` (``ChatConsumer._handshake``); each still
checks its own access.

In: ``chat_message`` (and ``support`` / ``marketing``: a chat message with that role),
``mark_read``, ``get_messages``, ``typing`` (only with ``FIKO_CHAT_TYPING``), ``ping``.
Out: ``recent_messages``, ``chat_message``, ``message_updated``, ``messages_read``,
``messages_page``, ``user_presence``, ``typing_indicator``, ``pong``, ``error``.
Nothing is sent from the ``chat_message`` handler: the service publishes ``message.created``
and every socket in the conversation, the sender's included, renders it.
"""
from fiko.db import database_sync_to_async
from django.conf import settings

from chat.selectors import participant_names
from conversations.models import Message
from conversations.selectors import (DEFAULT_MESSAGES, MAX_MESSAGES, RECENT_MESSAGES, conversation_access_for_staff,
                                     message_rows_window, read_markers_for)
from conversations.serializers import message_rows_wire
from conversations.services import conversation_mark_read, message_render, message_send
from fiko import presence_events, realtime
from fiko.consumers import BaseConsumer, encoded_once
from fiko.errors import CloseCode, ErrorCode, InvalidInput
from fiko.inputs import id_or_none, parse_id
from fiko.participants import USER, Participant, parse_keys
from fiko.timefmt import now_iso
from fiko.tokens import STAFF, Principal
from fiko.ws_auth import INVALID_TOKEN

ROLES = (Message.Role.SUPPORT, Message.Role.MARKETING)


# --- frames built in one synchronous call each (constant queries) ---------------------------
def messages_for_frame(rows, conversation_id: int) -> list[dict]:
    """Rows of message_rows_window on the wire: one more query (the read markers)."""
    return message_rows_wire(rows, read_markers_for([conversation_id]))


def recent_messages_frame(*, conversation_id: int) -> dict:
    """Two queries: the messages (with authors and customer) and the read markers."""
    rows, has_more = message_rows_window(conversation_id=conversation_id, limit=RECENT_MESSAGES)
    return {"type": "recent_messages", "messages": messages_for_frame(rows, conversation_id),
            "has_more": has_more, "timestamp": now_iso()}


def chat_handshake(*, user_id, conversation_id) -> tuple[object | None, object | None, dict | None]:
    """Everything the chat socket's handshake reads, in one database call: (the token's active
    user, the conversation if that user may see it, its ``recent_messages`` frame). Three
    queries, each compiled once per process."""
    user, conversation = conversation_access_for_staff(user_id=user_id, conversation_id=conversation_id)
    if conversation is None:
        return user, None, None
    return user, conversation, recent_messages_frame(conversation_id=conversation.pk)


def messages_page_frame(*, conversation_id: int, before_id=None, after_id=None, limit=DEFAULT_MESSAGES) -> dict:
    rows, has_more = message_rows_window(conversation_id=conversation_id, before_id=before_id, after_id=after_id,
                                         limit=limit)
    return {"type": "messages_page", "conversation_id": conversation_id,
            "messages": messages_for_frame(rows, conversation_id), "has_more": has_more}


def user_presence_frame(participant: Participant, name: str, *, is_online: bool, timestamp: str) -> dict:
    return {"type": "user_presence", "user_id": participant.id, "participant_type": participant.kind,
            "username": name, "is_online": is_online, "timestamp": timestamp}


# --- inbound input ---------------------------------------------------------------------------
def _optional_int(frame: dict, name: str):
    value = frame.get(name)
    if value is None or value == "":
        return None
    return parse_id(value, name)


def _optional_text(frame: dict, name: str, default: str = "") -> str:
    value = frame.get(name)
    if value is None:
        return default
    if not isinstance(value, str):
        raise InvalidInput(f"{name} must be a string", field=name)
    return value


def chat_message_input(frame: dict) -> dict:
    """Keyword arguments for conversations.services.message_send from a ``chat_message``
    frame (or a ``support``/``marketing`` frame, whose type is the role)."""
    role = frame.get("role")
    if role is None:
        role = frame.get("type") if frame.get("type") in ROLES else Message.Role.SUPPORT
    if role not in ROLES:
        raise InvalidInput("role must be support or marketing", field="role")
    client_message_id = frame.get("client_message_id")
    if isinstance(client_message_id, int) and not isinstance(client_message_id, bool):
        client_message_id = str(client_message_id)
    if client_message_id is not None and not isinstance(client_message_id, str):
        raise InvalidInput("client_message_id must be a string", field="client_message_id")
    reference = frame.get("reference")
    if reference is not None and not isinstance(reference, dict):
        raise InvalidInput("reference must be {type: appointment | product | pack, id, title?}", field="reference")
    return {
        "content": _optional_text(frame, "content"),
        "message_type": _optional_text(frame, "message_type", Message.MessageType.TEXT),
        "media_url": _optional_text(frame, "media_url"),
        "reply_to_message_id": _optional_int(frame, "reply_to_message_id"),
        "reference": reference,
        "role": role,
        "client_message_id": client_message_id or "",
    }


def message_send_from_socket(*, conversation, user, fields: dict) -> dict | None:
    """Store the message (the service publishes it). A repeated ``client_message_id`` stores
    nothing and returns the stored message, for the sender only."""
    message, created = message_send(conversation=conversation, user=user, **fields)
    return None if created else message_render(message)


def get_messages_input(frame: dict) -> dict:
    before_id, after_id = _optional_int(frame, "before_id"), _optional_int(frame, "after_id")
    if before_id is not None and after_id is not None:
        raise InvalidInput("Give before_id or after_id, not both", field="before_id")
    limit = frame.get("limit", DEFAULT_MESSAGES)
    if limit is None:
        limit = DEFAULT_MESSAGES
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_MESSAGES:
        raise InvalidInput(f"limit must be an integer from 1 to {MAX_MESSAGES}", field="limit")
    return {"before_id": before_id, "after_id": after_id, "limit": limit}


class ChatConsumer(BaseConsumer):
    type_aliases = {"support": "chat_message", "marketing": "chat_message"}
    # The token's user is checked here, in the query that checks the conversation's access
    # (fiko/ws_auth.py hands this consumer a staff principal with only the user's id).
    verifies_principal = True

    async def connect(self):
        conversation_id = id_or_none(self.scope["url_route"]["kwargs"]["conversation_id"])
        # Subscribe first, then read (in the one database call that also checks access): a
        # message stored in between is in recent_messages, and its event (up to
        # ``recent_max_seq``) is not sent a second time. Until access is confirmed the socket
        # is not live: whatever the group sends meanwhile stays queued and is dropped on refusal.
        group = realtime.conversation_group(conversation_id) if conversation_id is not None else None
        if group is not None:
            await self.join_group(group)
        user, self.conversation, frame = await self._handshake(group, conversation_id)
        if user is None or self.conversation is None:
            if group is not None:
                await self.leave_group(group)
                self._drop_outbox()
            if user is None:  # the token's user is gone or deactivated
                return await self.reject(CloseCode.POLICY_VIOLATION, INVALID_TOKEN, ErrorCode.FORBIDDEN)
            return await self.reject(CloseCode.NOT_FOUND, "Conversation not found")
        self.user = user
        self.principal = Principal(kind=STAFF, user=user, expires_at=self.principal.expires_at)
        self.conversation_id = self.conversation.pk
        self.recent_max_seq = max((m["seq"] for m in frame["messages"]), default=0)
        await self.accept()
        await self.send_json(frame)
        await self._enter_presence()

    async def _handshake(self, group, conversation_id):
        """``chat_handshake``'s (user, conversation, frame), reading ``recent_messages`` once for
        the sockets of this process that join the group together.

        A shared frame is taken only when it is as good as a read of one's own: it was read
        after its reader joined the group; this process has since delivered every event
        published before this socket asked (``catch_up``); and none of them was a message
        event (the read is then stale). A message stored after the shared read began reaches
        this socket as its event, as it would after a read of its own."""
        def read_own():
            return database_sync_to_async(chat_handshake)(user_id=self.user.pk, conversation_id=conversation_id)

        if group is None:
            return await read_own()
        shared, mine = realtime.shared_read(group, "recent_messages",
                                            max_age=settings.CHAT_RECENT_MESSAGES_SHARED_SECONDS)
        if mine:
            frame = None
            try:
                user, conversation, frame = await read_own()
                return user, conversation, frame
            finally:
                shared.offer(frame)
        frame = await shared.value()
        if frame is not None:
            await realtime.catch_up()
        if frame is None or shared.stale:
            return await read_own()
        user, conversation = await database_sync_to_async(conversation_access_for_staff)(
            user_id=self.user.pk, conversation_id=conversation_id)
        return user, conversation, {**frame, "timestamp": now_iso()} if conversation else None

    def uses_workspace(self, workspace_id: int) -> bool:
        conversation = getattr(self, "conversation", None)
        return conversation is None or conversation.workspace_id == workspace_id

    async def before_disconnect(self):
        if getattr(self, "conversation_id", None) is not None:
            await presence_events.presence_leave(self, self.conversation_id)

    # --- presence --------------------------------------------------------------------------
    async def _enter_presence(self):
        """Enter and learn who else is here (with their names) in one Redis round trip; the
        database is asked only for names presence does not hold."""
        others = await presence_events.presence_enter(self, self.conversation_id, name=self.user.username)
        participants = parse_keys(others)  # who is already here, so the newcomer's UI is right from the start
        names = {p: others[p.key] for p in participants if others[p.key] is not None}
        unnamed = [p for p in participants if others[p.key] is None]
        if unnamed:
            names.update(await database_sync_to_async(participant_names)(unnamed))
        for participant in participants:
            await self.send_json(user_presence_frame(participant, names.get(participant, ""), is_online=True,
                                                     timestamp=now_iso()))

    # --- inbound frames --------------------------------------------------------------------
    async def on_chat_message(self, frame):
        fields = chat_message_input(frame)
        stored = await database_sync_to_async(message_send_from_socket)(
            conversation=self.conversation, user=self.user, fields=fields
        )
        if stored is not None:  # idempotent resend: the sender sees the stored message again
            await self.send_json({"type": "chat_message", "message": stored,
                                  "external_send_result": stored["external_send_result"]})

    async def on_mark_read(self, frame):
        up_to = _optional_int(frame, "message_id")
        await database_sync_to_async(conversation_mark_read)(
            conversation=self.conversation, reader_type="user", reader_id=self.user.pk, up_to_message_id=up_to
        )  # everyone, this socket included, gets messages_read from the messages.read event

    async def on_get_messages(self, frame):
        query = get_messages_input(frame)
        page = await database_sync_to_async(messages_page_frame)(conversation_id=self.conversation_id, **query)
        await self.send_json(page)

    async def on_typing(self, frame):
        if not settings.FIKO_CHAT_TYPING:
            return  # seed 000 removed typing; ignored without an error
        is_typing = frame.get("is_typing")
        if not isinstance(is_typing, bool):
            raise InvalidInput("is_typing must be true or false", field="is_typing")
        await presence_events.typing_publish(self, self.conversation_id, is_typing=is_typing)

    # --- events (frames encoded once per event for every socket of this dialect) -------------
    async def message_created(self, event):
        message = event["message"]
        if message["seq"] <= self.recent_max_seq:
            return  # already in recent_messages
        await self.send_text(encoded_once(event, "chat.chat_message", lambda: {
            "type": "chat_message", "message": message, "external_send_result": message.get("external_send_result")}))

    async def message_updated(self, event):
        await self.send_text(encoded_once(event, "chat.message_updated", lambda: {
            "type": "message_updated", "message": event["message"], "timestamp": event.get("timestamp") or now_iso()}))

    async def messages_read(self, event):
        await self.send_text(encoded_once(event, "chat.messages_read", lambda: {
            "type": "messages_read", "user_id": event["reader_id"] if event["reader_type"] == "user" else None,
            "reader_type": event["reader_type"], "reader_id": event["reader_id"],
            "conversation_id": event["conversation_id"], "last_read_message_id": event["last_read_message_id"],
            "read_at": event["read_at"],
        }))

    async def presence_changed(self, event):
        if event.get("sender_channel") == self.channel_name:
            return
        await self.send_text(encoded_once(event, "chat.user_presence", lambda: user_presence_frame(
            Participant(event.get("participant_type", USER), event["participant_id"]), event.get("username", ""),
            is_online=event["is_online"], timestamp=event.get("timestamp") or now_iso())))

    async def typing_changed(self, event):
        if not settings.FIKO_CHAT_TYPING or event.get("sender_channel") == self.channel_name:
            return
        await self.send_text(encoded_once(event, "chat.typing_indicator", lambda: {
            "type": "typing_indicator", "user_id": event["participant_id"],
            "participant_type": event.get("participant_type", "user"), "username": event.get("username", ""),
            "is_typing": event["is_typing"], "conversation_id": event["conversation_id"],
            "timestamp": event.get("timestamp") or now_iso(),
        }))
