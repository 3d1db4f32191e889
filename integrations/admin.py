"""Channels in the admin. Platform secrets are write-only here as on every API: the form
never renders them, and leaving a secret field empty keeps the stored value."""
from django import forms
from django.contrib import admin

from .models import Channel, InboundEvent

SECRET_FIELDS = ("bot_token", "webhook_secret", "access_token", "app_secret", "verify_token")


class ChannelAdminForm(forms.ModelForm):
    class Meta:
        model = Channel
        fields = ["workspace", "platform", "name", "is_active", "bot_token", "webhook_secret",
                  "ig_id", "page_id", "access_token", "app_secret", "verify_token"]
        widgets = {name: forms.PasswordInput(render_value=False) for name in SECRET_FIELDS}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name in SECRET_FIELDS:
            field = self.fields[name]
            field.required = False
            self.initial[name] = ""  # the stored secret never enters the form
            is_set = bool(self.instance.pk and getattr(self.instance, name))
            field.help_text = "Set. Leave empty to keep it." if is_set else "Not set."

    def clean(self):
        cleaned = super().clean()
        for name in SECRET_FIELDS:
            if not cleaned.get(name) and self.instance.pk:
                cleaned[name] = getattr(self.instance, name)  # empty keeps the stored secret
        return cleaned


@admin.register(Channel)
class ChannelAdmin(admin.ModelAdmin):
    form = ChannelAdminForm
    list_display = ["id", "platform", "name", "workspace", "is_active", "webhook_url", "created_at"]
    list_filter = ["platform", "is_active", "workspace"]
    search_fields = ["name", "ig_id", "page_id", "workspace__slug"]
    list_select_related = ["workspace"]
    readonly_fields = ["webhook_url", "created_at", "updated_at"]


@admin.register(InboundEvent)
class InboundEventAdmin(admin.ModelAdmin):
    """Processed platform deliveries (dedup keys): look, don't touch."""

    list_display = ["id", "channel", "event_key", "received_at"]
    list_filter = ["channel__platform", "channel"]
    search_fields = ["event_key"]
    list_select_related = ["channel"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
