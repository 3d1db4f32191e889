"""/ws/chat/<conversation_id>/: one conversation (seeds 000, 002, 003)."""
from channels.db import database_sync_to_async

from conversations.selectors import conversation_get_for_user
from fiko import realtime
from fiko.consumers import BaseConsumer
from fiko.errors import CloseCode


class ChatConsumer(BaseConsumer):
    async def connect(self):
        self.conversation = await database_sync_to_async(conversation_get_for_user)(
            user=self.user, conversation_id=self.scope["url_route"]["kwargs"]["conversation_id"]
        )
        if self.conversation is None:
            return await self.reject(CloseCode.NOT_FOUND, "Conversation not found")
        await self.join_group(realtime.conversation_group(self.conversation.pk))
        await self.accept()
