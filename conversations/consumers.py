"""/ws/conversations/: the conversation list (seeds 000, 002, 003).

In: ``get_conversations {filters?}``, ``filter_conversations {filters}``,
``refresh_conversations``, ``get_conversation_filter_options``.
Out: ``conversations_list``, ``filter_options``; pushed for the user's workspaces:
``new_customer_message`` (a customer wrote), ``conversation_updated`` (a staff message, status,
priority, assignee, unread count), ``conversation_created``.
"""
from fiko.db import database_sync_to_async

from fiko.consumers import encoded_once
from fiko.list_consumers import WorkspaceListConsumer
from fiko.timefmt import now_iso

from .models import Message
from .selectors import conversation_filter_options, conversation_page
from .serializers import ConversationSerializer


def conversations_list_frame(*, user, filters: dict, workspace_ids=None) -> dict:
    """One page of the user's conversations (of ``workspace_ids`` if the caller holds them), in a
    constant number of queries; ``count`` is capped as SPEC says (``pagination.count_capped``)."""
    result, page = conversation_page(user=user, filters=filters, workspace_ids=workspace_ids)
    return {
        "type": "conversations_list",
        "conversations": ConversationSerializer(result.rows, many=True).data,
        "count": result.total,
        "filters": filters,
        "pagination": page.describe(result),
        "timestamp": now_iso(),
    }


class ConversationListConsumer(WorkspaceListConsumer):
    def build_list_frame(self, filters):
        return conversations_list_frame(user=self.user, filters=filters, workspace_ids=self.workspace_ids)

    async def on_get_conversations(self, frame):
        await self.send_list(frame.get("filters"))

    async def on_filter_conversations(self, frame):
        await self.send_list(frame.get("filters"))

    async def on_refresh_conversations(self, frame):
        await self.send_list_again()

    async def on_get_conversation_filter_options(self, frame):
        options = await database_sync_to_async(conversation_filter_options)(user=self.user)
        await self.send_json({"type": "filter_options", "options": options, "timestamp": now_iso()})

    # --- events ----------------------------------------------------------------------------
    async def message_created(self, event):
        if event["message"].get("sender_type") == Message.SenderType.CUSTOMER:
            await self.send_text(encoded_once(event, "list.new_customer_message", lambda: {
                "type": "new_customer_message",
                "conversation_id": event["conversation_id"],
                "message": event["message"],
                "conversation": event["conversation"],
                "timestamp": event.get("timestamp") or now_iso(),
            }))
        else:  # staff / AI / system: the row in the list changed (last message, status)
            await self._conversation_updated(event)

    async def conversation_created(self, event):
        await self.send_text(encoded_once(event, "list.conversation_created", lambda: {
            "type": "conversation_created",
            "conversation_id": event["conversation_id"],
            "conversation": event["conversation"],
            "timestamp": event.get("timestamp") or now_iso(),
        }))

    async def conversation_updated(self, event):
        await self._conversation_updated(event)

    async def _conversation_updated(self, event):
        await self.send_text(encoded_once(event, "list.conversation_updated", lambda: {
            "type": "conversation_updated",
            "conversation_id": event["conversation_id"],
            "conversation": event["conversation"],
            "timestamp": event.get("timestamp") or now_iso(),
        }))
