import secrets

from django.conf import settings
from django.db import models


class Channel(models.Model):
    """A connected platform account: a Telegram bot or an Instagram professional account.

    Secrets are write-only on every API and never shown in the admin.
    """

    class Platform(models.TextChoices):
        TELEGRAM = "telegram"
        INSTAGRAM = "instagram"

    workspace = models.ForeignKey("workspaces.Workspace", on_delete=models.CASCADE, related_name="channels")
    platform = models.CharField(max_length=16, choices=Platform.choices)
    name = models.CharField(max_length=200, blank=True, default="")
    is_active = models.BooleanField(default=True)
    # Telegram
    bot_token = models.CharField(max_length=255, blank=True, default="")
    webhook_secret = models.CharField(max_length=255, blank=True, default="")
    # Instagram
    ig_id = models.CharField(max_length=64, blank=True, default="")
    page_id = models.CharField(max_length=64, blank=True, default="")
    access_token = models.TextField(blank=True, default="")
    app_secret = models.CharField(max_length=255, blank=True, default="")
    verify_token = models.CharField(max_length=255, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self):
        return f"{self.platform}: {self.name or self.pk}"

    @property
    def webhook_url(self) -> str:
        return f"{settings.PUBLIC_BASE_URL}/integrations/{self.platform}/{self.pk}/webhook/"

    @staticmethod
    def new_secret() -> str:
        return secrets.token_urlsafe(32)


class InboundEvent(models.Model):
    """A platform delivery already processed (Telegram update_id, Instagram event key).

    The unique key makes concurrent deliveries of one update store one row: the second insert
    waits for the first transaction and then fails, instead of a check-then-insert race.
    """

    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="inbound_events")
    event_key = models.CharField(max_length=255)
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["channel", "event_key"], name="inbound_event_unique")]
