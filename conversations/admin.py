"""Conversations and messages in the admin.

Conversation edits go through conversations.services.conversation_update, so the inbox sees
``conversation.updated`` like any other change. Messages are read-only: seq numbers have no
gaps and stored history is not rewritten from here.
"""
from django import forms
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.forms.models import BaseInlineFormSet

from .models import Conversation, Message, ReadMarker
from .services import conversation_publish, conversation_update

SERVICE_FIELDS = ("status", "priority", "assignee", "is_archived")
INLINE_MESSAGES = 50


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class RecentMessagesFormSet(BaseInlineFormSet):
    """The newest messages only, oldest first: a long conversation stays one light page."""

    def get_queryset(self):
        if not hasattr(self, "_recent"):
            newest = super().get_queryset().order_by("-seq")[:INLINE_MESSAGES]
            self._recent = sorted(newest, key=lambda message: message.seq)
        return self._recent


class MessageInline(admin.TabularInline):
    model = Message
    formset = RecentMessagesFormSet
    fields = ["seq", "sender_type", "role", "message_type", "content", "delivery_status", "created_at"]
    readonly_fields = fields
    extra = 0
    show_change_link = True
    verbose_name_plural = f"messages (newest {INLINE_MESSAGES})"

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ConversationAdminForm(forms.ModelForm):
    class Meta:
        model = Conversation
        fields = ["title", "status", "priority", "assignee", "is_archived"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "assignee" in self.fields:  # only members of the conversation's workspace
            self.fields["assignee"].queryset = get_user_model().objects.filter(
                memberships__workspace_id=self.instance.workspace_id
            ).order_by("username")


@admin.register(Conversation)
class ConversationAdmin(admin.ModelAdmin):
    form = ConversationAdminForm
    list_display = ["id", "title", "workspace", "source", "status", "priority", "assignee", "unread_count",
                    "is_archived", "last_message_at"]
    list_filter = ["status", "priority", "source", "is_archived", "workspace"]
    search_fields = ["title", "customer__first_name", "customer__last_name", "customer__username"]
    list_select_related = ["workspace", "assignee"]
    readonly_fields = ["workspace", "customer", "channel", "source", "last_seq", "unread_count",
                       "customer_unread_count", "last_message_at", "created_at", "updated_at"]
    inlines = [MessageInline]

    def has_add_permission(self, request):
        return False  # conversations open from platforms, web chat and the API

    def save_model(self, request, obj, form, change):
        other = [name for name in form.changed_data if name not in SERVICE_FIELDS]
        if other:
            obj.save(update_fields=[*other, "updated_at"])
        data = {name: form.cleaned_data[name] for name in SERVICE_FIELDS if name in form.changed_data}
        if "assignee" in data:
            data["assignee"] = data["assignee"].pk if data["assignee"] else None
        if data:
            conversation_update(conversation=Conversation.objects.get(pk=obj.pk), data=data)
        elif other:
            conversation_publish(obj.pk)


@admin.register(Message)
class MessageAdmin(ReadOnlyAdmin):
    list_display = ["id", "conversation", "seq", "sender_type", "role", "message_type", "preview",
                    "delivery_status", "created_at"]
    list_filter = ["sender_type", "role", "message_type", "delivery_status", "conversation__workspace"]
    search_fields = ["content", "external_id", "client_message_id"]
    list_select_related = ["conversation"]

    @admin.display(description="content")
    def preview(self, message):
        return message.content[:80]


@admin.register(ReadMarker)
class ReadMarkerAdmin(ReadOnlyAdmin):
    list_display = ["id", "conversation", "reader_type", "reader_id", "last_read_seq", "read_at"]
    list_filter = ["reader_type", "conversation__workspace"]
    search_fields = ["conversation__title"]
    list_select_related = ["conversation"]
