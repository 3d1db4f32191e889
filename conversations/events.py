"""Every domain event a write announces, built here and nowhere else.

Services call one ``publish_*`` function after their writes; it renders the objects the event
carries and queues the event with ``realtime.publish_on_commit`` (``message.created``: built
after the commit, ``realtime.publish_built_on_commit``, outside the conversation's row lock). Rendering is set-based: the
rows of all the ids asked for are read together, so an event costs a constant number of
queries whatever the number of rows it announces (a customer in 500 conversations is 5
queries, not 1,500). Each payload is built once per publish and shared by every group and
socket that receives it.

The shapes are what the consumers read (``chat/``, ``conversations/`` and ``customers/``
consumers render them in their dialects):

- ``customer.created`` / ``customer.updated``: ``workspace_id, customer`` (Customer);
- ``conversation.created`` / ``conversation.updated``: ``workspace_id, conversation_id,
  conversation`` (Conversation), ``timestamp``;
- ``message.created``: ``workspace_id, conversation_id, message`` (Message), ``conversation``,
  ``timestamp``; to the conversation's group and its workspace's group;
- ``message.updated``: ``conversation_id, message, timestamp``; to the conversation's group;
- ``messages.read``: ``conversation_id, reader_type, reader_id, last_read_message_id,
  read_at``; to the conversation's group.

Presence and typing have no row and are published by the consumers themselves.

This module lives in ``conversations`` because a customer's event and a conversation's row
both read conversation and customer data; ``customers.services`` imports it, and it imports
no service, so there is no cycle (tests/test_import_cycles.py keeps it that way).
"""
import functools
import operator
from collections.abc import Iterable

from django.utils import timezone

from customers.models import Customer, Tag
from customers.selectors import customers_with_counts
from customers.serializers import customer_wire
from fiko import realtime
from fiko.compiled_sql import CompiledQuery, set_prefetched
from fiko.timefmt import iso

from .models import Conversation, Message
from .selectors import (conversations_for_wire, customer_tags_loaded, messages_for_wire, read_markers_for,
                        with_customer_tags_in_row)
from .serializers import MessageSerializer, conversation_wire


# --- payloads (no queries: the rows come rendered-ready from the readers below) ---------------
def customer_event(customer: Customer, *, created: bool = False) -> dict:
    """``customer.created``/``customer.updated`` of a row read by ``customers_with_counts``."""
    return {
        "type": realtime.CUSTOMER_CREATED if created else realtime.CUSTOMER_UPDATED,
        "workspace_id": customer.workspace_id,
        "customer": customer_wire(customer),
    }


def conversation_event(conversation: Conversation, *, created: bool = False, timestamp: str | None = None) -> dict:
    """``conversation.created``/``conversation.updated`` of a row read by ``conversations_for_wire``."""
    return {
        "type": realtime.CONVERSATION_CREATED if created else realtime.CONVERSATION_UPDATED,
        "workspace_id": conversation.workspace_id,
        "conversation_id": conversation.pk,
        "conversation": conversation_wire(conversation),
        "timestamp": timestamp or iso(timezone.now()),
    }


def messages_read_event(*, conversation_id: int, reader_type: str, reader_id: int, last_read_message_id,
                        read_at) -> dict:
    return {
        "type": realtime.MESSAGES_READ,
        "conversation_id": conversation_id,
        "reader_type": reader_type,
        "reader_id": reader_id,
        "last_read_message_id": last_read_message_id,
        "read_at": iso(read_at),
    }


# --- readers: every row an event renders, a constant number of queries per call -------------
# Rows come back unordered and are put in id order here: an ORDER BY over these wide rows (the
# joined relations and the count subqueries) cost more to compile in Django than the rest of
# the event (profile of W1 in bench/RESULTS.md), and there is nothing for the database to sort.
def _in_id_order(queryset) -> list:
    return sorted(queryset.order_by(), key=operator.attrgetter("pk"))


def _customers(customer_ids: Iterable[int]) -> list[Customer]:
    """2 queries (customers with counts, their tags), in id order."""
    return _in_id_order(customers_with_counts(Customer.objects.filter(pk__in=list(customer_ids))))


@functools.cache
def _wire_conversations():
    """The conversation rows' query, built once per process and never run itself: each event
    filters a copy. (Building its count subqueries again for every event was an eighth of a
    stored message's CPU in the W1 profile.)"""
    return conversations_for_wire().order_by()


def _conversations(**lookup) -> list[Conversation]:
    """2 queries (rows with assignee, last message and customer with its counts; tags), in id order."""
    return _in_id_order(_wire_conversations().filter(**lookup))


# One conversation's row and its customer's tags, the reads of every message.created event,
# compiled to SQL once per process (the tags' prefetch compiled anew each time was the next
# largest part of the event's CPU). On PostgreSQL the tags come in the row itself
# (selectors.with_customer_tags_in_row): one round trip per event instead of two. Elsewhere
# (SQLite orders no aggregate before 3.44) they are a second query.
def _conversation_row(pk):
    return with_customer_tags_in_row(_wire_conversations().filter(pk=pk))


_conversation_by_pk = CompiledQuery(_conversation_row)
_tags_of_customer = CompiledQuery(lambda customer_id: Tag.objects.filter(customers=customer_id))


def _conversation(conversation_id: int) -> Conversation:
    """The row, its customer's tags (in name order) with it: 1 query on PostgreSQL, else 2."""
    conversation = _conversation_by_pk.rows(pk=conversation_id)[0]
    if not customer_tags_loaded(conversation):
        set_prefetched(conversation.customer, "tags", _tags_of_customer.rows(customer_id=conversation.customer_id))
    return conversation


def _rendered_messages(message_ids: Iterable[int]) -> list[dict]:
    """2 queries (messages with sender and customer, the read markers of their conversations)."""
    messages = _in_id_order(messages_for_wire(Message.objects.filter(pk__in=list(message_ids))))
    markers = read_markers_for({m.conversation_id for m in messages})
    return MessageSerializer(messages, many=True, context={"read_markers": markers}).data


def _rendered_new_message(message: Message, conversation: Conversation) -> dict:
    """A message stored in this transaction, rendered from the row in hand (no query): its
    conversation row, just read for the event, carries the customer it embeds, and nobody can
    have read it yet (its seq is the conversation's newest), so it has no read receipts."""
    message.conversation = conversation
    return MessageSerializer(message, context={"read_markers": {conversation.pk: []}}).data


# --- publishing: what services call -----------------------------------------------------------
def _queue_customer(customer: Customer, *, created: bool = False) -> None:
    realtime.publish_on_commit([realtime.workspace_group(customer.workspace_id)], customer_event(customer, created=created))


def _queue_conversation(conversation: Conversation, *, created: bool = False, timestamp: str | None = None) -> None:
    realtime.publish_on_commit(
        [realtime.workspace_group(conversation.workspace_id)],
        conversation_event(conversation, created=created, timestamp=timestamp),
    )


def publish_customers(customer_ids: Iterable[int], *, created: bool = False) -> None:
    """``customer.created``/``customer.updated`` for each customer: 2 queries however many."""
    for customer in _customers(customer_ids):
        _queue_customer(customer, created=created)


def publish_customers_with_conversations(customer_ids: Iterable[int]) -> None:
    """``customer.updated`` for each customer, then ``conversation.updated`` for every
    conversation of theirs (a conversation row embeds its customer, name and tags included):
    5 queries however many customers and conversations."""
    customer_ids = list(customer_ids)
    if not customer_ids:
        return
    publish_customers(customer_ids)
    timestamp = iso(timezone.now())
    for conversation in _conversations(customer_id__in=customer_ids):
        _queue_conversation(conversation, timestamp=timestamp)


def publish_conversation(conversation_id: int, *, created: bool = False, with_customer: bool = False) -> None:
    """``conversation.created``/``conversation.updated``: ``_conversation``'s 1 query on
    PostgreSQL (2 elsewhere). ``with_customer`` first
    announces its customer (``customer.updated``, e.g. its unread count changed) from the same
    rows, at no extra query."""
    conversation = _conversation(conversation_id)
    if with_customer:
        _queue_customer(conversation.customer)
    _queue_conversation(conversation, created=created)


def publish_message_created(message: Message, *, with_customer: bool = False) -> None:
    """``message.created`` with the message and its conversation row, to the conversation's
    group and its workspace's group; ``with_customer`` then announces the customer
    (``customer.updated``: unread count, last activity) from the same rows. Built after the
    commit, outside the conversation's row lock: ``_conversation``'s 1 query on PostgreSQL (2
    elsewhere; the message is in hand)."""
    def build():
        conversation = _conversation(message.conversation_id)
        built = [([realtime.conversation_group(conversation.pk), realtime.workspace_group(conversation.workspace_id)], {
            "type": realtime.MESSAGE_CREATED,
            "workspace_id": conversation.workspace_id,
            "conversation_id": conversation.pk,
            "message": _rendered_new_message(message, conversation),
            "conversation": conversation_wire(conversation),
            "timestamp": iso(timezone.now()),
        })]
        if with_customer:
            built.append(([realtime.workspace_group(conversation.workspace_id)], customer_event(conversation.customer)))
        return built

    realtime.publish_built_on_commit(build)


def publish_message_updated(message: Message) -> None:
    """``message.updated`` (platform edit, delivery status) for everyone in the conversation: 2 queries."""
    realtime.publish_on_commit(
        [realtime.conversation_group(message.conversation_id)],
        {"type": realtime.MESSAGE_UPDATED, "conversation_id": message.conversation_id,
         "message": _rendered_messages([message.pk])[0], "timestamp": iso(timezone.now())},
    )


def publish_messages_read(*, conversation_id: int, reader_type: str, reader_id: int, last_read_message_id,
                          read_at) -> dict:
    """``messages.read`` for everyone in the conversation; no query. Returns the payload."""
    payload = messages_read_event(conversation_id=conversation_id, reader_type=reader_type, reader_id=reader_id,
                                  last_read_message_id=last_read_message_id, read_at=read_at)
    realtime.publish_on_commit([realtime.conversation_group(conversation_id)], payload)
    return payload
