"""Channel on the wire (SPEC "Fiko REST"): id, platform, name, is_active, webhook_url; the
platform credentials are write-only and never rendered."""
from rest_framework import serializers
from fiko.api_fields import IdField

from . import platforms
from .models import Channel


class CredentialField(serializers.CharField):
    """A platform credential (write-only); its value is checked by the adapter declaring it."""

    def __init__(self, **kwargs):
        super().__init__(required=False, write_only=True, **kwargs)

    def run_validation(self, data=serializers.empty):
        return platforms.check_credential(self.field_name, super().run_validation(data))


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
    # The Channel columns platforms keep their credentials in (which platform uses which, and how
    # a value is checked: integrations/platforms.py).
    bot_token = CredentialField(max_length=255)
    webhook_secret = CredentialField(max_length=255)
    ig_id = CredentialField(max_length=64)
    page_id = CredentialField(allow_blank=True, max_length=64)
    access_token = CredentialField(max_length=4000)
    app_secret = CredentialField(max_length=255)
    verify_token = CredentialField(max_length=255)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["platform"].choices = platforms.choices()  # every registered platform

    def validate(self, attrs):
        instance = self.instance
        platform = instance.platform if instance is not None else attrs.get("platform")
        if instance is not None and "platform" in attrs and attrs["platform"] != instance.platform:
            raise serializers.ValidationError({"platform": "A channel's platform cannot change."})
        if instance is not None and "workspace" in attrs:
            raise serializers.ValidationError({"workspace": "A channel cannot move to another workspace."})
        adapter = platforms.adapter_for(platform)
        wrong = sorted((platforms.all_credential_fields() - set(adapter.credential_fields)) & set(attrs))
        if wrong:
            raise serializers.ValidationError({field: f"Not a {platform} setting." for field in wrong})
        if instance is None:
            missing = [field for field in adapter.required_on_create if not attrs.get(field)]
            if missing:
                raise serializers.ValidationError({field: "This field is required." for field in missing})
        return attrs


class WebhookReportSerializer(serializers.Serializer):
    ok = serializers.BooleanField()
    description = serializers.CharField()


class ChannelAnswerSerializer(ChannelSerializer):
    """Answers of create/update: for a platform that reports it (Telegram), what
    setWebhook/deleteWebhook said (null when the platform was not called). Documentation shape
    only; the view adds the field."""

    set_webhook = WebhookReportSerializer(read_only=True, allow_null=True, required=False)

    class Meta(ChannelSerializer.Meta):
        fields = ChannelSerializer.Meta.fields + ["set_webhook"]
        read_only_fields = fields
