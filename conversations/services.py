"""Writes of conversations and messages: one transaction each, events published on commit.

Every message, whatever brought it in (platform webhook, /ws/chat/, the multiplexed socket,
REST), is stored by ``_message_store`` and announced by ``message.created`` to the
conversation's group and its workspace's group; every consumer renders that in its dialect.

JOINS: the writes a platform webhook makes inside its own transaction (integrations/inbound.py,
one per platform event) join that transaction without a savepoint
(``transaction.atomic(savepoint=False)``): a savepoint and its release were two of a webhook
update's round trips each, and nothing catches their errors inside the webhook's transaction
and carries on (an error rolls the whole update back, its ``InboundEvent`` key included).
Called on their own they are one transaction each, as every other write. A savepoint that is
rolled back to on purpose (a unique key's race caught as ``IntegrityError``) stays.
"""
import functools
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef
from django.dispatch import Signal
from django.utils import timezone

from customers.models import Customer
from fiko.compiled_sql import CompiledInsert, CompiledUpdate
from fiko.errors import ErrorCode, InvalidInput
from fiko.inputs import parse_media_url
from fiko.search_normalize import words_added, words_of
from workspaces.models import Membership

from . import delivery_state, events
from .models import Conversation, Message, ReadMarker, Status
from .selectors import (conversation_for_wire, conversation_lock_for_store, conversation_lock_open_on_channel,
                        message_get_in_conversation, messages_for_wire)
from .serializers import MessageSerializer, ReferenceSerializer

MAX_CONTENT_CHARS = 4096
REFERENCE_TYPES = ("appointment", "product", "pack")
MESSAGE_TYPES = tuple(Message.MessageType.values)  # the enum builds this list anew on every read

# Sent on commit with ``message_id`` when message_send stores a message that still has to be
# delivered to a platform. integrations/apps.py connects the delivery kick here, so this app
# does not import integrations.
message_pending_delivery = Signal()


# --- input checks --------------------------------------------------------------------------
def _check_message_input(*, conversation_id, content, message_type, media_url, thumbnail_url, reply_to_message_id,
                         reference, client_message_id, from_staff: bool):
    if not isinstance(content, str):
        raise InvalidInput("content must be a string")
    content = content.strip()
    if message_type not in MESSAGE_TYPES:
        raise InvalidInput(f"message_type must be one of {', '.join(MESSAGE_TYPES)}")
    # Staff may link an http(s) file (e.g. a product image); customers only what is served here.
    media_url = parse_media_url(media_url, allow_external=from_staff)
    thumbnail_url = parse_media_url(thumbnail_url, allow_external=from_staff, field="thumbnail_url")
    if message_type == Message.MessageType.TEXT and not content:
        raise InvalidInput("Message content cannot be empty", ErrorCode.EMPTY_CONTENT)
    if message_type != Message.MessageType.TEXT and not media_url and not content:
        raise InvalidInput("Message content cannot be empty", ErrorCode.EMPTY_CONTENT)
    if len(content) > MAX_CONTENT_CHARS:
        raise InvalidInput(f"Message content is longer than {MAX_CONTENT_CHARS} characters", ErrorCode.TOO_LONG)
    if not isinstance(client_message_id, str) or len(client_message_id) > 64:
        raise InvalidInput("client_message_id must be a string of at most 64 characters")
    reply_to = None
    if reply_to_message_id not in (None, ""):
        reply_to = message_get_in_conversation(conversation_id=conversation_id, message_id=reply_to_message_id)
        if reply_to is None:
            raise InvalidInput("reply_to_message_id is not a message of this conversation", ErrorCode.NOT_FOUND)
    if reference is not None:
        serializer = ReferenceSerializer(data=reference)
        if not isinstance(reference, dict) or not serializer.is_valid():
            raise InvalidInput(f"reference must be {{type: {' | '.join(REFERENCE_TYPES)}, id, title?}}")
        reference = dict(serializer.validated_data)
    return content, media_url, thumbnail_url, reply_to, reference


@dataclass(frozen=True)
class Sender:
    """Who writes: a staff user, the customer, or the system/AI."""

    sender_type: str
    role: str
    user: object | None = None
    customer: object | None = None

    @classmethod
    def staff(cls, user, role: str = Message.Role.SUPPORT):
        return cls(Message.SenderType.USER, role, user=user)

    @classmethod
    def of_customer(cls, customer):
        return cls(Message.SenderType.CUSTOMER, Message.Role.CUSTOMER, customer=customer)


# --- events (built in conversations/events.py) ------------------------------------------------
def message_render(message: Message) -> dict:
    """A stored message in its wire shape (REST answers, a socket's reply to a resend)."""
    return MessageSerializer(messages_for_wire(Message.objects.filter(pk=message.pk)).get()).data


def conversation_publish(conversation_id: int, *, created: bool = False) -> None:
    events.publish_conversation(conversation_id, created=created)


def message_publish_updated(message: Message) -> None:
    """``message.updated`` (platform edit, delivery status) for everyone in the conversation."""
    events.publish_message_updated(message)


# --- messages --------------------------------------------------------------------------------
# The store's writes, their SQL written once per process (fiko/compiled_sql.py): Model.save
# building and compiling them for every message was most of a store's CPU (W1 profile).
_MESSAGE_INSERT = CompiledInsert(Message)


@functools.cache
def _conversation_update(fields: tuple[str, ...], counter: str) -> CompiledUpdate:
    return CompiledUpdate(Conversation, fields, (counter,))


@functools.cache
def _customer_activity(customer_model) -> CompiledUpdate:
    """A customer's message: their last activity, and ``has_unread`` (the message made their
    conversation unread), in one statement."""
    return CompiledUpdate(customer_model, ("last_activity_at", "has_unread"))


def _customer_has_unread_refresh(customer_id: int) -> None:
    """The customer's ``has_unread`` set from their conversations (any with unread_count > 0), in
    one statement: after staff reading, which can leave none of them unread."""
    unread = Exists(Conversation.objects.filter(customer_id=OuterRef("pk"), unread_count__gt=0))
    Customer.objects.filter(pk=customer_id).update(has_unread=unread)


def _answer_waiting(conversation_id: int) -> None:
    """A staff reply: the conversation's customer messages that waited are answered."""
    Message.objects.filter(
        conversation_id=conversation_id, sender_type=Message.SenderType.CUSTOMER, is_answered=False
    ).update(is_answered=True)


def _message_store(*, conversation_id: int, sender: Sender, content="", message_type="text", media_url="",
                   thumbnail_url="", reply_to_message_id=None, reference=None, client_message_id="",
                   channel=None, external_id="", delivery_status=None, is_ai_response=False,
                   external_send_result=None, locked: Conversation | None = None) -> tuple[Message, bool]:
    """``locked``: the conversation's row already locked in this transaction for this very
    message, with the lock's probes (``conversation_lock_open_on_channel``), or None to lock
    it here."""
    content, media_url, thumbnail_url, reply_to, reference = _check_message_input(
        conversation_id=conversation_id, content=content, message_type=message_type, media_url=media_url,
        thumbnail_url=thumbnail_url, reply_to_message_id=reply_to_message_id, reference=reference,
        client_message_id=client_message_id, from_staff=sender.sender_type != Message.SenderType.CUSTOMER,
    )
    # The conversation row lock serializes writers of one conversation: seq has no gaps or
    # repeats, and the idempotency checks cannot race with another insert. One statement takes
    # the lock and answers both checks and "is anything left to mark answered".
    if sender.user:
        sender_field, sender_id = "sender_user_id", sender.user.pk
    else:  # a customer, or nobody known (an echo of a reply typed in the platform's own app)
        sender_field, sender_id = "sender_customer_id", sender.customer.pk if sender.customer else None
    conversation = locked if locked is not None else conversation_lock_for_store(
        conversation_id, sender_field=sender_field, sender_id=sender_id, client_message_id=client_message_id,
        channel_id=channel.pk if channel is not None else None, external_id=external_id,
    )
    if conversation.duplicate_id is not None:
        return Message.objects.get(pk=conversation.duplicate_id), False

    from_customer = sender.sender_type == Message.SenderType.CUSTOMER
    if delivery_status is None:
        delivery_status = delivery_state.initial_status(from_customer=from_customer,
                                                        on_platform=conversation.channel_id is not None)
    now = timezone.now()
    seq = conversation.last_seq + 1
    message = Message(
        conversation=conversation, seq=seq, content=content, role=sender.role, sender_type=sender.sender_type,
        sender_user=sender.user, sender_customer=sender.customer, message_type=message_type, media_url=media_url,
        thumbnail_url=thumbnail_url, reply_to=reply_to, reference=reference, client_message_id=client_message_id,
        channel=channel, external_id=external_id, delivery_status=delivery_status, is_ai_response=is_ai_response,
        external_send_result=external_send_result,
        next_attempt_at=delivery_state.initial_next_attempt(delivery_status, now),
    )
    # The conversation's row, under its lock: the counters' new values are known here.
    conversation.last_seq, conversation.last_message = seq, message
    conversation.last_message_at = conversation.updated_at = message.created_at = message.updated_at = now
    fields, values = ["last_message_id", "last_seq", "last_message_at", "updated_at"], [seq, now, now]
    if from_customer:
        counter = "unread_count"
        if conversation.status == Status.CLOSED and channel is None:
            conversation.status = Status.OPEN
            fields.append("status")
            values.append(Status.OPEN.value)
    else:
        counter = "customer_unread_count"
        if conversation.has_unanswered:
            _answer_waiting(conversation.pk)
    setattr(conversation, counter, getattr(conversation, counter) + 1)
    words = words_added(conversation.message_words, content)  # read with the lock: same statement count
    if words != conversation.message_words:
        conversation.message_words = words
        fields.append("message_words")
        values.append(words)
    # One statement on PostgreSQL: the message's INSERT and the conversation's UPDATE.
    _MESSAGE_INSERT.insert_then_update(message, _conversation_update(tuple(fields), counter), conversation.pk,
                                       values, [1])
    if from_customer:
        _customer_activity(type(sender.customer)).update(sender.customer.pk, [now, True])

    # A customer's message changes their unread count and last activity: announced too.
    events.publish_message_created(message, with_customer=from_customer)
    return message, True


@transaction.atomic
def message_send(*, conversation: Conversation, user, content="", message_type="text", media_url="",
                 thumbnail_url="", reply_to_message_id=None, reference=None, role=Message.Role.SUPPORT,
                 client_message_id="") -> tuple[Message, bool]:
    """A staff member writes to the customer. Stored first; a platform conversation's message
    stays ``pending`` until the delivery worker sends it. Returns (message, created)."""
    if role not in (Message.Role.SUPPORT, Message.Role.MARKETING):
        raise InvalidInput("role must be support or marketing")
    message, created = _message_store(
        conversation_id=conversation.pk, sender=Sender.staff(user, role), content=content, message_type=message_type,
        media_url=media_url, thumbnail_url=thumbnail_url, reply_to_message_id=reply_to_message_id,
        reference=reference, client_message_id=client_message_id,
    )
    if created and message.delivery_status == Message.Delivery.PENDING:
        message_id = message.pk
        transaction.on_commit(lambda: message_pending_delivery.send_robust(sender=Message, message_id=message_id))
    return message, created


@transaction.atomic(savepoint=False)  # JOINS: see the module's docstring
def message_receive(*, conversation: Conversation, customer, content="", message_type="text", media_url="",
                    thumbnail_url="", reply_to_message_id=None, reference=None, client_message_id="",
                    channel=None, external_id="") -> tuple[Message, bool]:
    """The customer writes (platform webhook or web chat). A repeated platform id or
    client_message_id returns the stored message. Returns (message, created)."""
    return _message_store(
        conversation_id=conversation.pk, sender=Sender.of_customer(customer), content=content,
        message_type=message_type, media_url=media_url, thumbnail_url=thumbnail_url,
        reply_to_message_id=reply_to_message_id, reference=reference, client_message_id=client_message_id,
        channel=channel, external_id=external_id,
    )


@transaction.atomic(savepoint=False)  # JOINS: see the module's docstring
def message_receive_on_channel(*, customer, channel, content="", message_type="text", media_url="", external_id="",
                               reply_to_external_id: str | None = None) -> tuple[Message, bool]:
    """The customer writes on a platform channel (webhook): stored in their conversation on it
    that is not closed, or in a new one (as ``conversation_get_or_open_for_channel``). The
    conversation's row is read once, by the store's own lock (``conversation_lock_open_on_channel``),
    not found and then locked. ``reply_to_external_id``: the platform id of the message it
    answers, when we stored that one in the conversation. A repeated platform id returns the
    stored message. Returns (message, created)."""
    locked = conversation_lock_open_on_channel(customer_id=customer.pk, channel_id=channel.pk, external_id=external_id)
    if locked is not None:
        conversation_id = locked.pk
    else:  # the new conversation's row is locked by the store, as any other
        conversation_id = _conversation_open_for_channel(customer=customer, channel=channel)[0].pk
    reply_to = None
    if reply_to_external_id:
        reply_to = (Message.objects.filter(conversation_id=conversation_id, channel=channel,
                                           external_id=reply_to_external_id).values_list("pk", flat=True).first())
    return _message_store(
        conversation_id=conversation_id, sender=Sender.of_customer(customer), content=content,
        message_type=message_type, media_url=media_url, reply_to_message_id=reply_to, channel=channel,
        external_id=external_id, locked=locked,
    )


@transaction.atomic(savepoint=False)  # JOINS: see the module's docstring
def message_record_sent_elsewhere(*, conversation: Conversation, channel, external_id: str, content="",
                                  message_type="text", media_url="", reply_to_message_id=None) -> tuple[Message, bool]:
    """A staff message sent from the platform's own app (an Instagram echo we did not send):
    stored as staff-sent and already delivered. A repeated platform id returns the stored row."""
    result = delivery_state.sent_result(channel.platform, external_id)
    return _message_store(
        conversation_id=conversation.pk, sender=Sender(Message.SenderType.USER, Message.Role.SUPPORT), content=content,
        message_type=message_type, media_url=media_url, reply_to_message_id=reply_to_message_id, channel=channel,
        external_id=external_id, delivery_status=Message.Delivery.SENT, external_send_result=result,
    )


@transaction.atomic(savepoint=False)  # JOINS: see the module's docstring
def message_edit_from_platform(*, channel, external_id: str, content: str | None = None,
                               deleted: bool = False) -> Message | None:
    """The customer edited (or unsent) a message on the platform: update the stored row and
    publish ``message.updated``. None when we never stored that message."""
    message = Message.objects.select_for_update().filter(channel=channel, external_id=external_id).first()
    if message is None:
        return None
    fields = []
    if content is not None:
        content = content.strip()[:MAX_CONTENT_CHARS]
        if content != message.content:
            message.content, message.is_edited = content, True
            fields += ["content", "is_edited"]
    if deleted and not message.is_deleted:
        message.is_deleted = True
        fields.append("is_deleted")
    if not fields:
        return message
    message.save(update_fields=fields + ["updated_at"])
    message_publish_updated(message)
    conversation_id = message.conversation_id
    # After commit, in its own transaction: taking the conversation lock here, under this
    # message's lock, could deadlock with a store (conversation, then messages marked answered).
    transaction.on_commit(lambda: conversation_refresh_message_words(conversation_id))
    if Conversation.objects.filter(pk=message.conversation_id, last_message_id=message.pk).exists():
        conversation_publish(message.conversation_id)  # the list shows the last message's text
    return message


@transaction.atomic
def conversation_refresh_message_words(conversation_id: int) -> None:
    """Rebuild ``message_words`` from the messages that are not deleted (after an edit or a
    deletion; a store only appends). Under the conversation lock, so no store's words are lost."""
    if not list(Conversation.objects.select_for_update().filter(pk=conversation_id).values_list("pk", flat=True)):
        return
    contents = (Message.objects.filter(conversation_id=conversation_id, is_deleted=False).exclude(content="")
                .order_by("seq").values_list("content", flat=True))
    Conversation.objects.filter(pk=conversation_id).update(message_words=words_of(contents.iterator()))


# --- read state ------------------------------------------------------------------------------
@transaction.atomic
def conversation_mark_read(*, conversation: Conversation, reader_type: str, reader_id: int,
                           up_to_message_id=None) -> dict:
    """Move the reader's marker forward (never back) to the given message or the newest one.
    Staff reading clears the conversation's ``unread_count`` (and the customer's ``has_unread``
    unless another of their conversations is unread); the customer reading clears
    ``customer_unread_count``. Returns the ``messages.read`` payload."""
    staff_side = reader_type == ReadMarker.ReaderType.USER
    if staff_side:
        # The customer's row is locked with the conversation's (in that order, as a store takes
        # them), so a store in another of their conversations either committed before the
        # has_unread refresh below reads the conversations, or sets the flag after it.
        locked = (Conversation.objects.select_related("customer").select_for_update(of=("self", "customer"))
                  .get(pk=conversation.pk))
    else:
        locked = Conversation.objects.select_for_update().get(pk=conversation.pk)
    if up_to_message_id is not None:
        target = message_get_in_conversation(conversation_id=locked.pk, message_id=up_to_message_id)
        if target is None:
            raise InvalidInput("message_id is not a message of this conversation", ErrorCode.NOT_FOUND)
        seq = target.seq
    else:
        seq = locked.last_seq
    now = timezone.now()
    marker, new_marker = ReadMarker.objects.get_or_create(
        conversation=locked, reader_type=reader_type, reader_id=reader_id, defaults={"read_at": now}
    )
    moved = new_marker or seq > marker.last_read_seq
    if seq > marker.last_read_seq:
        marker.last_read_seq, marker.read_at = seq, now
        marker.save(update_fields=["last_read_seq", "read_at"])
    if moved:
        counted_sender = Message.SenderType.CUSTOMER if staff_side else Message.SenderType.USER
        unread = Message.objects.filter(
            conversation=locked, seq__gt=marker.last_read_seq, sender_type=counted_sender
        ).count()
        if staff_side:
            locked.unread_count = unread
            locked.save(update_fields=["unread_count", "updated_at"])
            _customer_has_unread_refresh(locked.customer_id)
        else:
            locked.customer_unread_count = unread
            locked.save(update_fields=["customer_unread_count", "updated_at"])
        # Staff reading changes the customer's unread count too.
        events.publish_conversation(locked.pk, with_customer=staff_side)
    last_read = Message.objects.filter(conversation=locked, seq=marker.last_read_seq).values_list("id", flat=True).first()
    # Announced even when the marker was already there: the reader asked, everyone agrees.
    return events.publish_messages_read(conversation_id=locked.pk, reader_type=reader_type, reader_id=reader_id,
                                        last_read_message_id=last_read, read_at=now)


# --- conversations ---------------------------------------------------------------------------
def conversation_default_title(*, source: str, customer) -> str:
    return f"{source} - {customer.display_name}"


@transaction.atomic
def conversation_create(*, workspace, customer, title: str = "", source: str | None = None, channel=None,
                        assignee=None) -> Conversation:
    """``assignee``: a user the caller has checked is a member of ``workspace`` (or None)."""
    source = source or customer.source
    conversation = Conversation.objects.create(
        workspace=workspace, customer=customer, channel=channel, source=source, assignee=assignee,
        title=(title or "").strip()[:255] or conversation_default_title(source=source, customer=customer),
    )
    conversation_publish(conversation.pk, created=True)
    return conversation


@transaction.atomic(savepoint=False)  # JOINS: see the module's docstring
def conversation_get_or_open_for_channel(*, customer, channel) -> tuple[Conversation, bool]:
    """The customer's not-closed conversation on this platform channel, or a new one. Two
    concurrent deliveries open one (a partial unique constraint decides, not a check)."""
    conversation = _open_on_channel(customer, channel)
    if conversation is not None:
        return conversation, False
    return _conversation_open_for_channel(customer=customer, channel=channel)


def _open_on_channel(customer, channel) -> Conversation | None:
    return Conversation.objects.filter(customer=customer, channel=channel).exclude(status=Status.CLOSED).first()


def _conversation_open_for_channel(*, customer, channel) -> tuple[Conversation, bool]:
    """A new conversation of the customer on the channel, found none open; or the one a
    concurrent delivery opened first (the partial unique constraint decides, in a savepoint)."""
    try:
        with transaction.atomic():
            conversation = Conversation.objects.create(
                workspace_id=customer.workspace_id, customer=customer, channel=channel, source=channel.platform,
                title=conversation_default_title(source=channel.platform, customer=customer),
            )
    except IntegrityError:
        return _open_on_channel(customer, channel), False
    conversation_publish(conversation.pk, created=True)
    return conversation, True


@transaction.atomic
def conversation_update(*, conversation: Conversation, data: dict) -> Conversation:
    """Status, priority, assignee (a member of the workspace, or None), is_archived."""
    fields = []
    for key in ("status", "priority", "is_archived"):
        if key in data and getattr(conversation, key) != data[key]:
            setattr(conversation, key, data[key])
            fields.append(key)
    if "assignee" in data:
        assignee_id = data["assignee"]
        if assignee_id is not None and not Membership.objects.filter(
            workspace_id=conversation.workspace_id, user_id=assignee_id
        ).exists():
            raise InvalidInput("assignee must be a member of this workspace", ErrorCode.INVALID_INPUT, field="assignee")
        if conversation.assignee_id != assignee_id:
            conversation.assignee = get_user_model().objects.get(pk=assignee_id) if assignee_id else None
            fields.append("assignee")
    if fields:
        conversation.save(update_fields=fields + ["updated_at"])
        conversation_publish(conversation.pk)
    return conversation_for_wire(conversation.pk)
