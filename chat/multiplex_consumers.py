"""/api/v1/chat/ws/chat/user and /customer: the multiplexed chat socket (seed 004).

One connection joins any number of chats (``join_chat``) and gets, for each joined chat,
``message``, ``message_updated``, ``typing``, ``read_receipt``, ``user_joined`` and
``user_left`` frames. Staff may join any chat of their workspaces; a customer only their own.

Writes go through the same services as every other entry point (``message_send`` for staff,
``message_receive`` for the customer's web chat), so nothing is sent from the handlers: the
service publishes ``message.created`` on commit and ``message_created`` below renders it, the
same event ``/ws/chat/`` renders as ``chat_message``.
"""
from fiko.db import database_sync_to_async

from chat.uploads import thumbnail_url_for
from conversations.selectors import conversation_get_for_customer, conversation_get_for_user
from conversations.services import conversation_mark_read, message_receive, message_send, message_render
from fiko import presence, presence_events, realtime
from fiko.consumers import BaseConsumer, encoded_once
from fiko.errors import ErrorCode, FikoError, InvalidInput
from fiko.inputs import parse_id
from fiko.participants import parse_keys
from fiko.tokens import CUSTOMER, STAFF


def _chat_id(frame: dict) -> int:
    raw = frame.get("chat_id")
    if raw is None:
        raise InvalidInput("chat_id is required", field="chat_id")
    return parse_id(raw, "chat_id")


def _optional_str(frame: dict, name: str, default: str = "") -> str:
    value = frame.get(name)
    if value is None:
        return default
    if not isinstance(value, str):
        raise InvalidInput(f"{name} must be a string")
    return value


@database_sync_to_async
def _send_as_user(conversation, user, data):
    message, created = message_send(conversation=conversation, user=user, **data)
    return message_render(message), created


@database_sync_to_async
def _send_as_customer(conversation, customer, data):
    message, created = message_receive(conversation=conversation, customer=customer, **data)
    return message_render(message), created


class _ChatSocketConsumer(BaseConsumer):
    async def connect(self):
        self.joined: dict[int, object] = {}  # chat id -> Conversation
        await self.accept()
        await self.send_json({"type": "connected", "participant_type": self.participant.kind,
                              "participant_id": self.participant.id})

    def uses_workspace(self, workspace_id: int) -> bool:
        """A membership removed elsewhere leaves this socket open while it has joined no chat
        of that workspace (joining one checks access again)."""
        return any(conversation.workspace_id == workspace_id for conversation in getattr(self, "joined", {}).values())

    async def find_chat(self, chat_id: int):
        """The chat if this participant may see it, else None."""
        raise NotImplementedError

    def joined_chat(self, frame: dict):
        chat_id = _chat_id(frame)
        conversation = self.joined.get(chat_id)
        if conversation is None:
            raise FikoError(ErrorCode.NOT_JOINED, f"Join chat {chat_id} first (join_chat)", chat_id=chat_id)
        return conversation

    # --- client frames -----------------------------------------------------------------------
    async def on_join_chat(self, frame):
        chat_id = _chat_id(frame)
        if chat_id not in self.joined:
            conversation = await self.find_chat(chat_id)
            if conversation is None:
                raise FikoError(ErrorCode.NOT_FOUND, "Chat not found", chat_id=chat_id)
            # The group first, then presence: an event racing the join is not lost.
            await self.join_group(realtime.conversation_group(chat_id))
            self.joined[chat_id] = conversation
            await presence_events.presence_enter(self, chat_id)
        online = await presence.online(presence.conversation_key(chat_id))
        await self.send_json({"type": "joined", "chat_id": chat_id,
                              "online_participants": _participants_wire(online)})

    async def on_leave_chat(self, frame):
        chat_id = _chat_id(frame)
        if chat_id not in self.joined:
            raise FikoError(ErrorCode.NOT_JOINED, f"Chat {chat_id} is not joined", chat_id=chat_id)
        await self.leave_chat(chat_id)
        await self.send_json({"type": "left", "chat_id": chat_id})

    async def leave_chat(self, chat_id: int):
        del self.joined[chat_id]
        await self.leave_group(realtime.conversation_group(chat_id))
        await presence_events.presence_leave(self, chat_id)

    async def before_disconnect(self):
        for chat_id in list(getattr(self, "joined", {})):
            await self.leave_chat(chat_id)

    async def on_send_message(self, frame):
        conversation = self.joined_chat(frame)
        media_url = _optional_str(frame, "media_url")
        thumbnail_url = _optional_str(frame, "thumbnail_url") or thumbnail_url_for(media_url)
        data = {
            "content": _optional_str(frame, "content"),
            "message_type": _optional_str(frame, "message_type", "text"),
            "media_url": media_url,
            "thumbnail_url": thumbnail_url,
            "reply_to_message_id": frame.get("reply_to_message_id"),
            "reference": frame.get("reference"),
            "client_message_id": _optional_str(frame, "client_message_id"),
        }
        message, created = await self.store_message(conversation, frame, data)
        if not created:
            # A resent client_message_id: the stored message, to the sender only (nothing
            # new was written, so nothing was published).
            await self.send_json({"type": "message", "chat_id": conversation.pk, "message": message})

    async def store_message(self, conversation, frame, data):
        raise NotImplementedError

    async def on_typing(self, frame):
        conversation = self.joined_chat(frame)
        is_typing = frame.get("is_typing", True)
        if not isinstance(is_typing, bool):
            raise InvalidInput("is_typing must be true or false")
        await presence_events.typing_publish(self, conversation.pk, is_typing=is_typing)

    async def on_read_message(self, frame):
        conversation = self.joined_chat(frame)
        message_id = parse_id(frame.get("message_id"), "message_id")
        # The service publishes messages.read; read_receipt below renders it for everyone.
        await database_sync_to_async(conversation_mark_read)(
            conversation=conversation, reader_type=self.participant.kind, reader_id=self.participant.id,
            up_to_message_id=message_id,
        )

    # --- events (every type that reaches a conversation group) ---------------------------
    def _renders(self, event) -> bool:
        """Only chats this socket has joined (events in flight after leave_chat are dropped)."""
        return event.get("conversation_id") in getattr(self, "joined", {})

    async def message_created(self, event):
        if self._renders(event):
            await self.send_text(encoded_once(event, "multiplex.message", lambda: {
                "type": "message", "chat_id": event["conversation_id"], "message": event["message"]}))

    async def message_updated(self, event):
        if self._renders(event):
            await self.send_text(encoded_once(event, "multiplex.message_updated", lambda: {
                "type": "message_updated", "chat_id": event["conversation_id"], "message": event["message"]}))

    async def messages_read(self, event):
        if self._renders(event):
            await self.send_text(encoded_once(event, "multiplex.read_receipt", lambda: {
                "type": "read_receipt", "chat_id": event["conversation_id"],
                "message_id": event["last_read_message_id"], "reader_type": event["reader_type"],
                "reader_id": event["reader_id"], "read_at": event["read_at"],
            }))

    async def presence_changed(self, event):
        if event.get("sender_channel") == self.channel_name or not self._renders(event):
            return
        await self.send_json({
            "type": "user_joined" if event["is_online"] else "user_left", "chat_id": event["conversation_id"],
            "participant_type": event["participant_type"], "participant_id": event["participant_id"],
        })

    async def typing_changed(self, event):
        if event.get("sender_channel") == self.channel_name or not self._renders(event):
            return
        await self.send_json({
            "type": "typing", "chat_id": event["conversation_id"], "participant_type": event["participant_type"],
            "participant_id": event["participant_id"], "is_typing": event["is_typing"],
        })


def _participants_wire(online: set[str]) -> list[dict]:
    return [{"participant_type": p.kind, "participant_id": p.id} for p in parse_keys(online)]


class StaffChatSocketConsumer(_ChatSocketConsumer):
    principal_kind = STAFF

    async def find_chat(self, chat_id):
        return await database_sync_to_async(conversation_get_for_user)(user=self.user, conversation_id=chat_id)

    async def store_message(self, conversation, frame, data):
        role = frame.get("role") or "support"
        return await _send_as_user(conversation, self.user, {**data, "role": role})


class CustomerChatSocketConsumer(_ChatSocketConsumer):
    principal_kind = CUSTOMER

    async def find_chat(self, chat_id):
        return await database_sync_to_async(conversation_get_for_customer)(customer=self.customer, conversation_id=chat_id)

    async def store_message(self, conversation, frame, data):
        return await _send_as_customer(conversation, self.customer, data)
