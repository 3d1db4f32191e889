"""Channel on the wire (SPEC "Fiko REST"): id, platform, name, is_active, webhook_url; the
platform credentials are write-only and never rendered."""
import re

from rest_framework import serializers
from fiko.api_fields import IdField

from .models import Channel

BOT_TOKEN = re.compile(r"^\d{3,}:[A-Za-z0-9_-]{20,}$")
WEBHOOK_SECRET = re.compile(r"^[A-Za-z0-9_-]{16,256}$")  # Telegram allows A-Z a-z 0-9 _ - only
NUMERIC_ID = re.compile(r"^\d{1,64}$")
FIELDS_OF = {
    Channel.Platform.TELEGRAM: {"bot_token", "webhook_secret"},
    Channel.Platform.INSTAGRAM: {"ig_id", "page_id", "access_token", "app_secret", "verify_token"},
}
REQUIRED_ON_CREATE = {
    Channel.Platform.TELEGRAM: ("bot_token",),
    Channel.Platform.INSTAGRAM: ("ig_id", "access_token", "app_secret", "verify_token"),
}


class ChannelSerializer(serializers.ModelSerializer):
    workspace_id = serializers.IntegerField(read_only=True)
    webhook_url = serializers.CharField(read_only=True)

    class Meta:
        model = Channel
        fields = ["id", "workspace_id", "platform", "name", "is_active", "webhook_url", "created_at", "updated_at"]
        read_only_fields = fields


class ChannelWriteSerializer(serializers.Serializer):
    """Create (POST) and partial update (PATCH). Secrets only go in."""

    workspace = IdField(required=False)
    platform = serializers.ChoiceField(choices=Channel.Platform.choices)
    name = serializers.CharField(required=False, allow_blank=True, max_length=200)
    is_active = serializers.BooleanField(required=False)
    bot_token = serializers.CharField(required=False, write_only=True, max_length=255)
    webhook_secret = serializers.CharField(required=False, write_only=True, max_length=255)
    ig_id = serializers.CharField(required=False, write_only=True, max_length=64)
    page_id = serializers.CharField(required=False, write_only=True, allow_blank=True, max_length=64)
    access_token = serializers.CharField(required=False, write_only=True, max_length=4000)
    app_secret = serializers.CharField(required=False, write_only=True, max_length=255)
    verify_token = serializers.CharField(required=False, write_only=True, max_length=255)

    def validate_bot_token(self, value):
        if not BOT_TOKEN.match(value):
            raise serializers.ValidationError("Not a Telegram bot token (it looks like 123456789:AAH...).")
        return value

    def validate_webhook_secret(self, value):
        if not WEBHOOK_SECRET.match(value):
            raise serializers.ValidationError("16-256 characters of A-Z, a-z, 0-9, _ and - (Telegram's rule).")
        return value

    def validate_ig_id(self, value):
        if not NUMERIC_ID.match(value):
            raise serializers.ValidationError("The Instagram account id is a number.")
        return value

    def validate_page_id(self, value):
        if value and not NUMERIC_ID.match(value):
            raise serializers.ValidationError("The Facebook page id is a number.")
        return value

    def validate(self, attrs):
        instance = self.instance
        platform = instance.platform if instance is not None else attrs.get("platform")
        if instance is not None and "platform" in attrs and attrs["platform"] != instance.platform:
            raise serializers.ValidationError({"platform": "A channel's platform cannot change."})
        if instance is not None and "workspace" in attrs:
            raise serializers.ValidationError({"workspace": "A channel cannot move to another workspace."})
        other = {field for fields in FIELDS_OF.values() for field in fields} - FIELDS_OF[platform]
        wrong = sorted(other & set(attrs))
        if wrong:
            raise serializers.ValidationError({field: f"Not a {platform} setting." for field in wrong})
        if instance is None:
            missing = [field for field in REQUIRED_ON_CREATE[platform] if not attrs.get(field)]
            if missing:
                raise serializers.ValidationError({field: "This field is required." for field in missing})
        return attrs


class WebhookReportSerializer(serializers.Serializer):
    ok = serializers.BooleanField()
    description = serializers.CharField()


class ChannelAnswerSerializer(ChannelSerializer):
    """Answers of create/update: for Telegram, what setWebhook/deleteWebhook said (null when
    the platform was not called). Documentation shape only; the view adds the field."""

    set_webhook = WebhookReportSerializer(read_only=True, allow_null=True, required=False)

    class Meta(ChannelSerializer.Meta):
        fields = ChannelSerializer.Meta.fields + ["set_webhook"]
        read_only_fields = fields
