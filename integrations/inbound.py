"""What a verified platform delivery does to the database: one transaction per platform event.

Each write path starts by inserting the event's ``InboundEvent`` key. Concurrent deliveries of one
update race on that unique key (the second insert waits for the first transaction and then
fails), so exactly one of them stores anything; the others are answered as duplicates. The rest
goes through the domain services (customer upsert, conversation reuse-or-open, message_receive),
which publish every event on commit.
"""
from dataclasses import dataclass, field

from django.db import IntegrityError, transaction
from django.utils import timezone

from conversations import delivery_state
from conversations.models import Conversation, Message, Status
from conversations.services import (
    conversation_get_or_open_for_channel, conversation_mark_read, message_edit_from_platform,
    message_publish_updated, message_receive_on_channel, message_record_sent_elsewhere,
)
from customers.models import Customer
from customers.selectors import customer_by_platform_id
from customers.services import customer_upsert_from_platform
from fiko import log_context
from fiko.compiled_sql import CompiledInsert, CompiledQuery

from .models import Channel, InboundEvent

MAX_CONTENT = 4096


@dataclass(frozen=True)
class PlatformPerson:
    """The customer as the platform describes them."""

    external_id: str
    first_name: str = ""
    last_name: str = ""
    username: str = ""
    profile_picture: str | None = None  # our URL of their fetched picture
    profile_fetched_at: object = None


@dataclass(frozen=True)
class InboundPart:
    """One stored message: Instagram may bundle several attachments under one ``mid``."""

    external_id: str
    content: str = ""
    message_type: str = "text"
    media_url: str = ""


@dataclass
class InboundResult:
    STORED, DUPLICATE, IGNORED = "stored", "duplicate", "ignored"

    status: str
    messages: list = field(default_factory=list)
    detail: str = ""


# The channel of every webhook delivery, compiled to SQL once per process (fiko/compiled_sql.py).
_CHANNEL_FOR_WEBHOOK = CompiledQuery(
    lambda pk, platform: Channel.objects.select_related("workspace").filter(pk=pk, platform=platform).order_by("pk")[:1])
# The update's key, the first write of every delivery: its INSERT written once per process.
_EVENT_KEY_INSERT = CompiledInsert(InboundEvent)
_BIGINT = range(-2**63, 2**63)  # a compiled id reaches the database as it is: one past bigint matches no channel


def channel_for_webhook(*, channel_id, platform: str) -> Channel | None:
    try:
        pk = int(channel_id)
    except (TypeError, ValueError):
        return None
    rows = _CHANNEL_FOR_WEBHOOK.rows(pk=pk, platform=platform) if pk in _BIGINT else []
    channel = rows[0] if rows else None
    log_context.bind_workspace(channel.workspace_id if channel is not None else None)
    return channel


def inbound_seen(*, channel: Channel, event_key: str) -> bool:
    """Cheap early answer for redeliveries (before fetching media); the unique key still decides."""
    return InboundEvent.objects.filter(channel=channel, event_key=event_key).exists()


def platform_message_exists(*, channel: Channel, external_id: str) -> bool:
    return Message.objects.filter(channel=channel, external_id=external_id).exists()


def _once(channel: Channel, event_key: str, work) -> InboundResult:
    """Run ``work`` in one transaction with the event's unique key; a repeat is a duplicate."""
    try:
        with transaction.atomic():
            _EVENT_KEY_INSERT.insert(InboundEvent(channel=channel, event_key=event_key[:255]))
            return work()
    except IntegrityError:
        if inbound_seen(channel=channel, event_key=event_key[:255]):
            return InboundResult(InboundResult.DUPLICATE)
        raise


def _customer(channel: Channel, person: PlatformPerson) -> Customer:
    customer, _ = customer_upsert_from_platform(
        workspace=channel.workspace, source=channel.platform, external_id=person.external_id,
        first_name=person.first_name, last_name=person.last_name, username=person.username,
        profile_picture=person.profile_picture, profile_fetched_at=person.profile_fetched_at,
    )
    return customer


def _store_parts(channel, customer, parts, reply_to_external_id) -> list[Message]:
    """The parts, in order, in the customer's open conversation on the channel (opened if none);
    returns those stored now (a part whose platform id is already stored is not stored again)."""
    stored = []
    for index, part in enumerate(parts):
        message, created = message_receive_on_channel(
            customer=customer, channel=channel, content=part.content[:MAX_CONTENT], message_type=part.message_type,
            media_url=part.media_url, external_id=part.external_id,
            reply_to_external_id=reply_to_external_id if index == 0 else None,
        )
        if created:
            stored.append(message)
    return stored


def _stored(messages: list[Message]) -> InboundResult:
    if not messages:  # a new update repeating messages already stored (same platform ids)
        return InboundResult(InboundResult.DUPLICATE, detail="message already stored")
    return InboundResult(InboundResult.STORED, messages)


def inbound_message_receive(*, channel: Channel, event_key: str, person: PlatformPerson, parts: list[InboundPart],
                            reply_to_external_id: str | None = None) -> InboundResult:
    """A customer wrote: customer upserted, their open conversation on this channel reused
    (or a new one opened), the message(s) stored once."""
    def work():
        customer = _customer(channel, person)
        return _stored(_store_parts(channel, customer, parts, reply_to_external_id))

    return _once(channel, event_key, work)


def inbound_edit_receive(*, channel: Channel, event_key: str, person: PlatformPerson, part: InboundPart,
                         deleted: bool = False) -> InboundResult:
    """The customer edited (or unsent) a message. An edit of a message we never stored is
    stored as a new message, so its content is not lost."""
    def work():
        message = message_edit_from_platform(
            channel=channel, external_id=part.external_id, content=None if deleted else part.content, deleted=deleted,
        )
        if message is not None:
            return InboundResult(InboundResult.STORED, [message])
        if deleted:
            return InboundResult(InboundResult.IGNORED, detail="unsend of a message we never stored")
        customer = _customer(channel, person)
        return _stored(_store_parts(channel, customer, [part], None))

    return _once(channel, event_key, work)


def inbound_read_receive(*, channel: Channel, event_key: str, customer_external_id: str,
                         read_external_id: str | None) -> InboundResult:
    """The customer read our messages up to ``read_external_id`` (or all of them)."""
    def work():
        customer = customer_by_platform_id(workspace_id=channel.workspace_id, source=channel.platform,
                                           external_id=customer_external_id)
        if customer is None:
            return InboundResult(InboundResult.IGNORED, detail="read receipt from an unknown customer")
        read = None
        if read_external_id:
            read = Message.objects.filter(
                channel=channel, external_id=read_external_id, conversation__customer=customer
            ).select_related("conversation").first()
        conversation = read.conversation if read else Conversation.objects.filter(
            customer=customer, channel=channel).exclude(status=Status.CLOSED).first()
        if conversation is None:
            return InboundResult(InboundResult.IGNORED, detail="no conversation to mark read")
        conversation_mark_read(conversation=conversation, reader_type="customer", reader_id=customer.pk,
                               up_to_message_id=read.pk if read else None)
        return InboundResult(InboundResult.STORED)

    return _once(channel, event_key, work)


def inbound_echo_receive(*, channel: Channel, event_key: str, person: PlatformPerson, part: InboundPart,
                         echo_kind: str) -> InboundResult:
    """The platform repeats a message sent from the business account.

    - Ours, already recorded (its id is on a row, or the outbox noted it): nothing.
    - Ours, still in flight (the send's answer not written yet, or lost in a crash): the oldest
      pending staff message that this echo fully matches gets the platform id and is marked
      sent; the outbox then never sends it again.
    - Ours, one part of a multi-part message in flight: nothing (the outbox records it).
    - Otherwise it was sent from the platform's own app: stored as a staff message, delivered.
    ``echo_kind`` is "text" or the attachment's message type.
    """
    def work():
        if platform_message_exists(channel=channel, external_id=part.external_id):
            return InboundResult(InboundResult.DUPLICATE, detail="echo of a message we sent")
        customer = _customer(channel, person)
        conversation, _ = conversation_get_or_open_for_channel(customer=customer, channel=channel)
        in_flight = (Message.objects.select_for_update()
                     .filter(conversation=conversation, sender_type=Message.SenderType.USER,
                             delivery_status=Message.Delivery.PENDING)
                     .order_by("seq"))
        for message in in_flight:
            has_media = bool(message.media_url) and message.message_type != "text"
            text_matches = echo_kind == "text" and message.content.strip() == part.content.strip()
            media_matches = echo_kind != "text" and has_media and message.message_type == echo_kind
            if not (text_matches or media_matches):
                continue
            if has_media and message.content.strip():
                return InboundResult(InboundResult.DUPLICATE, detail="echo of one part of a message in flight")
            if message.external_id:
                continue
            fields = delivery_state.mark_sent(message, channel=channel, external_id=part.external_id)
            message.save(update_fields=fields)
            message_publish_updated(message)
            return InboundResult(InboundResult.STORED, [message], detail="echo matched a message in flight")
        message, _ = message_record_sent_elsewhere(
            conversation=conversation, channel=channel, external_id=part.external_id, content=part.content[:MAX_CONTENT],
            message_type=part.message_type, media_url=part.media_url,
        )
        return InboundResult(InboundResult.STORED, [message], detail="sent from the platform's app")

    return _once(channel, event_key, work)


def inbound_note_sent(*, channel: Channel, event_keys: list[str]) -> None:
    """The outbox records the platform ids it got, so their echoes are recognised as ours."""
    now = timezone.now()
    InboundEvent.objects.bulk_create(
        [InboundEvent(channel=channel, event_key=key[:255], received_at=now) for key in event_keys],
        ignore_conflicts=True,
    )
