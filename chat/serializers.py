"""Seed 004's REST shapes: chat (= conversation seen from one side), its participants, message
pages and upload results. Messages themselves use the one MessageSerializer of every dialect."""
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from conversations.models import Status
from conversations.serializers import MessageSerializer
from conversations.services import MAX_CONTENT_CHARS
from fiko.api_fields import IdField, StrictIntegerField
from fiko.pagination import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE


class ChatParticipantSerializer(serializers.Serializer):
    participant_type = serializers.ChoiceField(choices=["user", "customer"])
    participant_id = serializers.IntegerField()
    joined_at = serializers.DateTimeField()
    is_active = serializers.BooleanField()
    unread_count = serializers.IntegerField(help_text="Messages of the other side this participant has not read.")
    name = serializers.CharField()
    email = serializers.CharField(required=False, allow_blank=True)
    phone = serializers.CharField(required=False, allow_blank=True, help_text="Customers only.")


class ChatSerializer(serializers.Serializer):
    """Reads a chat.selectors.ChatView."""

    id = serializers.IntegerField(source="conversation.pk")
    chat_type = serializers.SerializerMethodField()
    salon_id = serializers.IntegerField(source="conversation.workspace_id", help_text="The workspace id.")
    title = serializers.CharField(source="conversation.title")
    is_active = serializers.SerializerMethodField()
    is_archived = serializers.BooleanField(source="conversation.is_archived")
    last_message_at = serializers.DateTimeField(source="conversation.last_message_at", allow_null=True)
    last_message_preview = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField(source="conversation.created_at")
    updated_at = serializers.DateTimeField(source="conversation.updated_at")
    participants = ChatParticipantSerializer(many=True)
    total_messages = serializers.IntegerField(source="conversation.last_seq")
    unread_count = serializers.IntegerField(help_text="Unread messages for the side asking (staff or customer).")
    online_participants = serializers.ListField(
        child=serializers.IntegerField(),
        help_text="Ids of participants with a socket joined to this chat right now (staff first).",
    )

    def get_chat_type(self, view) -> str:
        return "user_customer"

    def get_is_active(self, view) -> bool:
        return view.conversation.status != Status.CLOSED

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_last_message_preview(self, view):
        message = view.conversation.last_message
        if message is None:
            return None
        if message.content:
            return message.content[:120]
        return f"[{message.message_type}]"


class StaffChatCreateSerializer(serializers.Serializer):
    customer_id = IdField()
    title = serializers.CharField(max_length=255, required=False, allow_blank=True, default="")
    initial_message = serializers.CharField(max_length=MAX_CONTENT_CHARS, required=False, allow_blank=True,
                                            default="", trim_whitespace=False)


class CustomerChatCreateSerializer(serializers.Serializer):
    user_id = IdField(required=False, allow_null=True, default=None,
                                       help_text="A staff member of the business; becomes the assignee.")
    title = serializers.CharField(max_length=255, required=False, allow_blank=True, default="")
    initial_message = serializers.CharField(max_length=MAX_CONTENT_CHARS, required=False, allow_blank=True,
                                            default="", trim_whitespace=False)


class ChatListQuerySerializer(serializers.Serializer):
    is_archived = serializers.ChoiceField(choices=["true", "false", "all"], required=False, default="all")
    page = StrictIntegerField(min_value=1, max_value=1_000_000, required=False, default=1)
    page_size = StrictIntegerField(min_value=1, max_value=MAX_PAGE_SIZE, required=False,
                                         default=MAX_PAGE_SIZE)

    def archived_flag(self) -> bool | None:
        return {"true": True, "false": False}.get(self.validated_data["is_archived"])


class ChatMessagesQuerySerializer(serializers.Serializer):
    page = StrictIntegerField(min_value=1, max_value=1_000_000, required=False, default=1)
    page_size = StrictIntegerField(min_value=1, max_value=MAX_PAGE_SIZE, required=False,
                                         default=DEFAULT_PAGE_SIZE)


class ChatMessagesPageSerializer(serializers.Serializer):
    messages = MessageSerializer(many=True, help_text="Newest first.")
    total = serializers.IntegerField()
    page = serializers.IntegerField()
    page_size = serializers.IntegerField()
    has_more = serializers.BooleanField()


class UploadRequestSerializer(serializers.Serializer):
    file = serializers.FileField(help_text="Image (JPEG, PNG, GIF, WebP), voice (OGG/Opus, MP3, M4A, WebM), "
                                           "video (MP4, WebM, MOV) or PDF; the type is read from the content.")


class UploadResultSerializer(serializers.Serializer):
    file_url = serializers.CharField()
    file_name = serializers.CharField()
    file_type = serializers.CharField(help_text="MIME type detected from the content.")
    file_size = serializers.IntegerField()
    thumbnail_url = serializers.CharField(allow_null=True)
    message_type = serializers.ChoiceField(choices=["image", "voice", "video", "file"],
                                           help_text="What to send as message_type with this media_url.")


class ErrorSerializer(serializers.Serializer):
    detail = serializers.JSONField(required=False, help_text="Why the request was refused (field errors: {field: [reasons]}).")
    code = serializers.CharField(required=False)
