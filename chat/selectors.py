"""Reads for seed 004's chat REST API: chats (= conversations) with their participants.

A chat's participants are the customer plus the staff who take part in it: the assignee and
every staff member who wrote in it. They are derived from rows that exist anyway (no
participant table to keep in sync), in a constant number of queries for any number of chats.
Also the names the chat sockets' presence frames show (``participant_names``).
"""
from dataclasses import dataclass, field
from datetime import datetime

from django.contrib.auth import get_user_model
from django.db.models import F, Min

from conversations.models import Conversation, Message, Status
from conversations.selectors import messages_for_wire, read_markers_for
from customers.models import Customer
from customers.selectors import user_workspaces
from fiko import presence
from fiko.pagination import PageRequest
from fiko.participants import CUSTOMER, KINDS, USER, Participant, parse_keys


@dataclass
class ChatView:
    """A conversation as seed 004 shows it, from the point of view of one side."""

    conversation: Conversation
    side: str  # "user" (staff asking) or "customer"
    participants: list[dict] = field(default_factory=list)
    online_participants: list[int] = field(default_factory=list)

    @property
    def unread_count(self) -> int:
        c = self.conversation
        return c.unread_count if self.side == USER else c.customer_unread_count


def _chats_queryset():
    return Conversation.objects.select_related("customer", "assignee", "last_message")


def chat_list_for_user(*, user, is_archived: bool | None, page: PageRequest) -> list[ChatView]:
    queryset = _chats_queryset().filter(workspace_id__in=user_workspaces(user))
    return _chat_views(_archived(queryset, is_archived), page, side=USER)


def chat_list_for_customer(*, customer, is_archived: bool | None, page: PageRequest) -> list[ChatView]:
    queryset = _chats_queryset().filter(customer=customer)
    return _chat_views(_archived(queryset, is_archived), page, side=CUSTOMER)


def chat_view_for(conversation_id: int, *, side: str) -> ChatView:
    """One chat (e.g. right after it was created), with participants and presence."""
    conversation = _chats_queryset().get(pk=conversation_id)
    return chat_views_build([conversation], side=side)[0]


def _archived(queryset, is_archived):
    return queryset if is_archived is None else queryset.filter(is_archived=is_archived)


def _chat_views(queryset, page: PageRequest, *, side: str) -> list[ChatView]:
    # Chats without messages last on every database (PostgreSQL sorts NULL first when descending).
    queryset = queryset.order_by(F("last_message_at").desc(nulls_last=True), "-updated_at", "-id")
    return chat_views_build(list(queryset[page.offset: page.offset + page.limit]), side=side)


def chat_views_build(conversations: list[Conversation], *, side: str) -> list[ChatView]:
    """Participants (one query for all chats) and who is online (one presence read)."""
    writers: dict[int, list[dict]] = {}
    if conversations:
        rows = (
            Message.objects.filter(
                conversation_id__in=[c.pk for c in conversations],
                sender_type=Message.SenderType.USER, sender_user__isnull=False,
            )
            .order_by()
            .values("conversation_id", "sender_user_id", "sender_user__username", "sender_user__first_name",
                    "sender_user__last_name", "sender_user__email")
            .annotate(first_at=Min("created_at"))
        )
        for row in rows:
            writers.setdefault(row["conversation_id"], []).append(row)
    keys = [presence.conversation_key(c.pk) for c in conversations]
    online = presence.online_many(keys) if keys else {}
    views = []
    for conversation in conversations:
        view = ChatView(conversation=conversation, side=side)
        view.participants = _participants(conversation, writers.get(conversation.pk, []))
        view.online_participants = _online_ids(online.get(presence.conversation_key(conversation.pk), set()))
        views.append(view)
    return views


def _staff_participant(conversation, *, user_id, username, first_name, last_name, email, joined_at: datetime):
    return {
        "participant_type": USER, "participant_id": user_id, "joined_at": joined_at, "is_active": True,
        "unread_count": conversation.unread_count,
        "name": f"{first_name} {last_name}".strip() or username, "email": email,
    }


def _participants(conversation: Conversation, writers: list[dict]) -> list[dict]:
    staff: dict[int, dict] = {}
    for row in sorted(writers, key=lambda r: (r["first_at"], r["sender_user_id"])):
        staff[row["sender_user_id"]] = _staff_participant(
            conversation, user_id=row["sender_user_id"], username=row["sender_user__username"],
            first_name=row["sender_user__first_name"], last_name=row["sender_user__last_name"],
            email=row["sender_user__email"], joined_at=row["first_at"],
        )
    assignee = conversation.assignee
    if assignee is not None and assignee.pk not in staff:
        staff = {assignee.pk: _staff_participant(
            conversation, user_id=assignee.pk, username=assignee.username, first_name=assignee.first_name,
            last_name=assignee.last_name, email=assignee.email, joined_at=conversation.created_at,
        ), **staff}
    customer = conversation.customer
    return [*staff.values(), {
        "participant_type": CUSTOMER, "participant_id": customer.pk, "joined_at": conversation.created_at,
        "is_active": conversation.status != Status.CLOSED, "unread_count": conversation.customer_unread_count,
        "name": customer.display_name, "email": customer.email, "phone": customer.phone,
    }]


def _online_ids(online: set[str]) -> list[int]:
    """``["user:5", "customer:9"]`` -> ``[5, 9]`` (staff first), as seed 004 shows them."""
    return [p.id for p in sorted(parse_keys(online), key=lambda p: (KINDS.index(p.kind), p.id))]


def participant_names(participants: list[Participant]) -> dict[Participant, str]:
    """What presence frames call each participant (a user's username, a customer's display
    name), one query per kind: for those whose name presence does not hold."""
    user_ids = [p.id for p in participants if p.kind == USER]
    customer_ids = [p.id for p in participants if p.kind == CUSTOMER]
    names = {}
    if user_ids:
        for pk, username in get_user_model().objects.filter(pk__in=user_ids).values_list("pk", "username"):
            names[Participant(USER, pk)] = username
    if customer_ids:
        for customer in Customer.objects.filter(pk__in=customer_ids):
            names[Participant(CUSTOMER, customer.pk)] = customer.display_name
    return names


# --- messages ---------------------------------------------------------------------------------
def chat_message_page(*, conversation: Conversation, page: PageRequest) -> tuple[list[Message], dict, int]:
    """Newest first (seed 004), with the read markers the serializer needs; and the total."""
    queryset = messages_for_wire(Message.objects.filter(conversation=conversation)).order_by("-seq")
    total = queryset.count()
    messages = list(queryset[page.offset: page.offset + page.limit])
    return messages, read_markers_for([conversation.pk]), total
