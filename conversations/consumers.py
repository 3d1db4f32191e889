"""/ws/conversations/: the conversation list (seeds 000, 002, 003).

In: ``get_conversations {filters?}``, ``filter_conversations {filters}``,
``refresh_conversations``, ``get_conversation_filter_options``.
Out: ``conversations_list``, ``filter_options``; pushed for the user's workspaces:
``new_customer_message`` (a customer wrote), ``conversation_updated`` (a staff message, status,
priority, assignee, unread count), ``conversation_created``.
"""
from fiko.consumers import encoded_once
from fiko.list_consumers import WorkspaceList, WorkspaceListConsumer
from fiko.timefmt import now_iso

from .models import Message
from .selectors import conversation_filter_options, conversation_page
from .serializers import ConversationSerializer


class ConversationListConsumer(WorkspaceListConsumer):
    listing = WorkspaceList("conversations", conversation_page, ConversationSerializer, conversation_filter_options)
    on_get_conversations = on_filter_conversations = WorkspaceListConsumer.answer_list
    on_refresh_conversations = WorkspaceListConsumer.answer_refresh
    on_get_conversation_filter_options = WorkspaceListConsumer.answer_filter_options

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


conversations_list_frame = ConversationListConsumer.listing.frame  # a page as the socket sends it, without a socket
