"""Writes for seed 004's chat REST API: starting a chat with its first message.

Both are one transaction over the conversation services, so the chat and its first message
commit together and their events (conversation.created, message.created) leave after it.
A chat started here is a web chat (no platform channel): the customer reads it on the
multiplexed customer socket.
"""
from django.contrib.auth import get_user_model
from django.db import transaction

from conversations.models import Conversation
from conversations.services import conversation_create, message_receive, message_send
from customers.models import Source
from customers.selectors import customer_get_for_user
from fiko.errors import InvalidInput, NotFound
from workspaces.models import Membership


@transaction.atomic
def chat_start_by_staff(*, user, customer_id: int, title: str = "", initial_message: str = "") -> Conversation:
    """A staff member opens a chat with a customer of one of their workspaces."""
    customer = customer_get_for_user(user=user, customer_id=customer_id)
    if customer is None:
        raise NotFound("Customer not found")
    conversation = conversation_create(workspace=customer.workspace, customer=customer, title=title,
                                       source=Source.WEB)
    if initial_message.strip():
        message_send(conversation=conversation, user=user, content=initial_message)
    return conversation


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
