"""Conversation and Message on the wire: one shape per object, used by every dialect."""
from rest_framework import serializers

from customers.models import Customer
from customers.serializers import CustomerBriefSerializer, CustomerSerializer, customer_wire, wire_text
from fiko.api_fields import IdField
from fiko.timefmt import iso

from .models import Conversation, Message, Priority, Status
from .selectors import instance_of_columns, read_markers_for


class AssigneeSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()


class LastMessageSerializer(serializers.ModelSerializer):
    type = serializers.CharField(source="role")

    class Meta:
        model = Message
        fields = ["id", "content", "type", "message_type", "created_at"]
        read_only_fields = fields


def conversation_wire(conversation) -> dict:
    """The one definition of a conversation row on the wire, without a serializer per object
    (every message event carries its conversation's row); ConversationSerializer delegates
    here. Reads what conversations.selectors.conversations_for_wire loads."""
    assignee, last = conversation.assignee, conversation.last_message
    return {
        "id": conversation.id,
        "title": wire_text(conversation.title),
        "source": wire_text(conversation.source),
        "status": wire_text(conversation.status),
        "priority": Priority(conversation.priority).label,
        "assignee": None if assignee is None else {"id": assignee.id, "username": str(assignee.username)},
        "customer": customer_wire(conversation.customer),
        "unread_count": int(conversation.unread_count),
        "last_message": None if last is None else {
            "id": last.id, "content": wire_text(last.content), "type": wire_text(last.role),
            "message_type": wire_text(last.message_type), "created_at": iso(last.created_at)},
        "is_archived": bool(conversation.is_archived),
        "created_at": iso(conversation.created_at),
        "updated_at": iso(conversation.updated_at),
    }


class ConversationSerializer(serializers.ModelSerializer):
    """A conversation row; the shape is ``conversation_wire``'s (the fields describe it for the
    OpenAPI schema, a test keeps them equal)."""
    priority = serializers.SerializerMethodField()
    assignee = AssigneeSerializer(read_only=True, allow_null=True)
    customer = CustomerSerializer(read_only=True)
    last_message = LastMessageSerializer(read_only=True, allow_null=True)

    class Meta:
        model = Conversation
        fields = [
            "id", "title", "source", "status", "priority", "assignee", "customer", "unread_count",
            "last_message", "is_archived", "created_at", "updated_at",
        ]
        read_only_fields = fields

    def get_priority(self, conversation) -> str:
        return Priority(conversation.priority).label

    def to_representation(self, conversation):
        return conversation_wire(conversation)


class ReadReceiptSerializer(serializers.Serializer):
    reader_type = serializers.CharField()
    reader_id = serializers.IntegerField()
    read_at = serializers.CharField()


class ReferenceSerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=["appointment", "product", "pack"])
    id = serializers.JSONField()
    title = serializers.CharField(required=False, allow_blank=True, max_length=255)


class ExternalSendResultSerializer(serializers.Serializer):
    success = serializers.BooleanField()
    platform = serializers.CharField()
    error = serializers.CharField(required=False)
    external_message_id = serializers.CharField(required=False)


class MessageSerializer(serializers.ModelSerializer):
    """A message on the wire. The shape is built by ``message_wire`` (below), which the socket
    frames also call on plain rows (conversations.selectors.message_rows_window) without
    building a model instance or a serializer per message; the fields declared here describe
    that shape for the OpenAPI schema (a test keeps them in step).

    Context ``read_markers``: {conversation_id: [marker, ...]} from
    conversations.selectors.read_markers_for; without it the receipts are read here."""

    conversation_id = serializers.IntegerField(read_only=True)
    chat_id = serializers.IntegerField(source="conversation_id", read_only=True)
    type = serializers.CharField(source="role", read_only=True)
    sender_name = serializers.SerializerMethodField()
    reply_to_message_id = serializers.IntegerField(source="reply_to_id", read_only=True, allow_null=True)
    reference = ReferenceSerializer(read_only=True, allow_null=True)
    customer = CustomerBriefSerializer(source="conversation.customer", read_only=True)
    external_send_result = ExternalSendResultSerializer(read_only=True, allow_null=True)
    read_receipts = serializers.SerializerMethodField()

    class Meta:
        model = Message
        fields = [
            "id", "conversation_id", "chat_id", "seq", "content", "type", "sender_type", "sender_user_id",
            "sender_customer_id", "sender_name", "message_type", "media_url", "thumbnail_url",
            "reply_to_message_id", "reference", "customer", "is_ai_response", "is_answered", "is_edited",
            "is_deleted", "delivery_status", "external_send_result", "read_receipts", "created_at",
        ]
        read_only_fields = fields

    def to_representation(self, message):

        markers = self.context.get("read_markers")
        if markers is None:
            markers = self.context["read_markers"] = read_markers_for([message.conversation_id])
        by_user = message.sender_type == Message.SenderType.USER and message.sender_user_id
        return message_wire(message, customer=message.conversation.customer,
                            sender_user=message.sender_user if by_user else None,
                            markers=markers.get(message.conversation_id, ()))

    def get_sender_name(self, message) -> str:  # schema only: message_wire renders it
        raise NotImplementedError

    def get_read_receipts(self, message) -> list[dict]:  # schema only
        raise NotImplementedError


_SENDER_TYPE_LABELS = dict(Message._meta.get_field("sender_type").flatchoices)
_BOOLEAN = serializers.BooleanField()


def _reference_wire(reference):
    """ReferenceSerializer's rendering of the stored dict: type, id and (when present) title."""
    if reference is None:
        return None
    wire = {"type": reference["type"], "id": reference["id"]}
    if "title" in reference:
        title = reference["title"]
        wire["title"] = None if title is None else str(title)
    return wire


def _external_send_result_wire(result):
    """ExternalSendResultSerializer's rendering of the stored dict."""
    if result is None:
        return None
    wire = {"success": _BOOLEAN.to_representation(result["success"]), "platform": str(result["platform"])}
    for name in ("error", "external_message_id"):
        if name in result:
            wire[name] = None if result[name] is None else str(result[name])
    return wire


def message_wire(message, *, customer, sender_user, markers) -> dict:
    """The one definition of a message on the wire (SPEC "Objects on the wire").

    ``message``: a Message, or any row with the same attribute names (id, conversation_id, seq,
    content, role, sender_type, sender_user_id, sender_customer_id, message_type, media_url,
    thumbnail_url, reply_to_id, reference, is_ai_response, is_answered, is_edited, is_deleted,
    delivery_status, external_send_result, created_at). ``customer``: the conversation's
    customer (id, first_name, last_name, username, source). ``sender_user``: the staff author
    (first_name, last_name, username), or None. ``markers``: the conversation's read markers
    (reader_type, reader_id, last_read_seq, read_at)."""
    sender_type = message.sender_type
    if sender_type == Message.SenderType.USER and message.sender_user_id:
        sender_name = (sender_user.get_full_name() or sender_user.username) if sender_user else ""
    elif sender_type == Message.SenderType.CUSTOMER:
        sender_name = customer.display_name
    else:
        sender_name = str(_SENDER_TYPE_LABELS.get(sender_type, sender_type))
    own = (sender_type, message.sender_user_id or message.sender_customer_id)
    seq = message.seq
    reply_to_id = message.reply_to_id
    return {
        "id": message.id,
        "conversation_id": message.conversation_id,
        "chat_id": message.conversation_id,
        "seq": seq,
        "content": message.content,
        "type": str(message.role),
        "sender_type": sender_type,
        "sender_user_id": message.sender_user_id,
        "sender_customer_id": message.sender_customer_id,
        "sender_name": sender_name,
        "message_type": message.message_type,
        "media_url": message.media_url,
        "thumbnail_url": message.thumbnail_url,
        "reply_to_message_id": None if reply_to_id is None else int(reply_to_id),
        "reference": _reference_wire(message.reference),
        "customer": {"id": customer.id, "first_name": customer.first_name, "last_name": customer.last_name,
                     "username": customer.username, "source": customer.source},
        "is_ai_response": message.is_ai_response,
        "is_answered": message.is_answered,
        "is_edited": message.is_edited,
        "is_deleted": message.is_deleted,
        "delivery_status": message.delivery_status,
        "external_send_result": _external_send_result_wire(message.external_send_result),
        "read_receipts": [
            {"reader_type": m.reader_type, "reader_id": m.reader_id, "read_at": iso(m.read_at)}
            for m in markers if m.last_read_seq >= seq and (m.reader_type, m.reader_id) != own
        ],
        "created_at": iso(message.created_at),
    }


def message_rows_wire(rows, markers: dict) -> list[dict]:
    """``message_wire`` for rows of conversations.selectors.MESSAGE_WIRE_COLUMNS (and
    ``markers`` from read_markers_for). The few authors and customers involved are built once
    each, as model instances of just those columns, so names come from the models' own
    ``get_full_name`` / ``display_name``."""
    from django.contrib.auth import get_user_model

    user_model, users, customers = get_user_model(), {}, {}
    wire = []
    for row in rows:
        customer = customers.get(row.conversation__customer_id)
        if customer is None:
            customer = customers[row.conversation__customer_id] = instance_of_columns(Customer, {
                "id": row.conversation__customer_id, "first_name": row.conversation__customer__first_name,
                "last_name": row.conversation__customer__last_name,
                "username": row.conversation__customer__username, "source": row.conversation__customer__source})
        sender_user = None
        if row.sender_user_id is not None and row.sender_user__username is not None:
            sender_user = users.get(row.sender_user_id)
            if sender_user is None:
                sender_user = users[row.sender_user_id] = instance_of_columns(user_model, {
                    "id": row.sender_user_id, "first_name": row.sender_user__first_name,
                    "last_name": row.sender_user__last_name, "username": row.sender_user__username})
        wire.append(message_wire(row, customer=customer, sender_user=sender_user,
                                 markers=markers.get(row.conversation_id, ())))
    return wire


class ConversationUpdateSerializer(serializers.Serializer):
    """PATCH /api/conversations/{id}/ input."""

    status = serializers.ChoiceField(choices=Status.choices, required=False)
    priority = serializers.CharField(required=False)
    assignee = IdField(required=False, allow_null=True)
    is_archived = serializers.BooleanField(required=False)

    def validate_priority(self, value):
        from .filters import parse_priority

        parsed = parse_priority(value)
        if parsed is None:
            raise serializers.ValidationError("Priority must be one of low, medium, high, urgent (or 0-3).")
        return parsed
