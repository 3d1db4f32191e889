"""/ws/conversations/: the conversation list (seeds 000, 002, 003)."""
from channels.db import database_sync_to_async

from fiko import realtime
from fiko.consumers import BaseConsumer
from workspaces.selectors import workspace_ids_for_user


class ConversationListConsumer(BaseConsumer):
    async def connect(self):
        self.workspace_ids = await database_sync_to_async(workspace_ids_for_user)(self.user)
        for workspace_id in self.workspace_ids:
            await self.join_group(realtime.workspace_group(workspace_id))
        await self.accept()
