"""Conversation and Message on the wire: one shape per object, used by every dialect."""
from rest_framework import serializers

from customers.serializers import CustomerBriefSerializer, CustomerSerializer
from fiko.api_fields import IdField
from fiko.timefmt import iso

from .models import Conversation, Message, Priority, Status


class AssigneeSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()


class LastMessageSerializer(serializers.ModelSerializer):
    type = serializers.CharField(source="role")

    class Meta:
        model = Message
        fields = ["id", "content", "type", "message_type", "created_at"]
        read_only_fields = fields


class ConversationSerializer(serializers.ModelSerializer):
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
    """Context ``read_markers``: {conversation_id: [ReadMarker, ...]} from
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

    def get_sender_name(self, message) -> str:
        if message.sender_type == Message.SenderType.USER and message.sender_user_id:
            user = message.sender_user
            return (user.get_full_name() or user.username) if user else ""
        if message.sender_type == Message.SenderType.CUSTOMER:
            return message.conversation.customer.display_name
        return message.get_sender_type_display()

    def get_read_receipts(self, message) -> list[dict]:
        from .selectors import read_markers_for

        markers = self.context.get("read_markers")
        if markers is None:
            markers = self.context["read_markers"] = read_markers_for([message.conversation_id])
        own = (message.sender_type, message.sender_user_id or message.sender_customer_id)
        return [
            {"reader_type": m.reader_type, "reader_id": m.reader_id, "read_at": iso(m.read_at)}
            for m in markers.get(message.conversation_id, [])
            if m.last_read_seq >= message.seq and (m.reader_type, m.reader_id) != own
        ]


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
