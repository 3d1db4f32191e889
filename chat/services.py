"""Writes for seed 004's chat REST API: starting a chat with its first message.

Both are one transaction over the conversation services, so the chat and its first message
commit together and their events (conversation.created, message.created) leave after it.
A chat a staff member starts with a customer of a messaging platform (Telegram, Instagram) goes
through the platform channel that customer last wrote on (their open conversation there, or a
new one), so the first message is delivered to the platform. Every other chat is a web chat (no channel): the
customer reads it on the multiplexed customer socket.
"""
from django.contrib.auth import get_user_model
from django.db import transaction

from conversations.models import Conversation
from conversations.services import (conversation_create, conversation_get_or_open_for_channel, message_receive,
                                    message_send)
from customers.models import Source
from customers.selectors import customer_get_for_user
from fiko.errors import InvalidInput, NotFound
from integrations import platforms
from workspaces.models import Membership


@transaction.atomic
def chat_start_by_staff(*, user, customer_id: int, title: str = "", initial_message: str = "") -> Conversation:
    """A staff member opens a chat with a customer of one of their workspaces."""
    customer = customer_get_for_user(user=user, customer_id=customer_id)
    if customer is None:
        raise NotFound("Customer not found")
    channel = _platform_channel_of(customer)
    if channel is not None:
        conversation, _ = conversation_get_or_open_for_channel(customer=customer, channel=channel)
    else:
        conversation = conversation_create(workspace=customer.workspace, customer=customer, title=title,
                                           source=Source.WEB)
    if initial_message.strip():
        message_send(conversation=conversation, user=user, content=initial_message)
    return conversation


def _platform_channel_of(customer):
    """The active platform channel the customer last wrote on, if any."""
    if platforms.adapter_for(customer.source) is None:
        return None
    last = (Conversation.objects.filter(customer=customer, channel__is_active=True, channel__platform=customer.source)
            .select_related("channel").order_by("-created_at").first())
    return last.channel if last else None


@transaction.atomic
def chat_start_by_customer(*, customer, user_id: int | None = None, title: str = "",
                           initial_message: str = "") -> Conversation:
    """A logged-in customer opens a chat with their workspace, optionally with one staff
    member of it (who becomes the assignee)."""
    assignee = None
    if user_id is not None:
        is_member = Membership.objects.filter(workspace_id=customer.workspace_id, user_id=user_id).exists()
        assignee = get_user_model().objects.filter(pk=user_id, is_active=True).first() if is_member else None
        if assignee is None:
            raise InvalidInput("user_id is not a staff member of this business", field="user_id")
    conversation = conversation_create(workspace=customer.workspace, customer=customer, title=title,
                                       source=Source.WEB, assignee=assignee)
    if initial_message.strip():
        message_receive(conversation=conversation, customer=customer, content=initial_message)
    return conversation
