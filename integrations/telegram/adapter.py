"""Telegram as a platform adapter (integrations/platforms.py): a bot, its token and webhook
secret; saving a channel registers the webhook with the Bot API (setWebhook with our URL and
the secret token). A platform failure is reported in the API answer, never fatal: the owner can
fix the token and save again."""
import re

from asgiref.sync import async_to_sync
from rest_framework import serializers

from integrations.delivery.outcome import SendOutcome
from .simulator import TelegramRoutes, TelegramState, telegram_update
from integrations.platforms import PlatformAdapter

from . import views
from .client import TelegramClient

BOT_TOKEN = re.compile(r"^\d{3,}:[A-Za-z0-9_-]{20,}$")
WEBHOOK_SECRET = re.compile(r"^[A-Za-z0-9_-]{16,256}$")  # Telegram allows A-Z a-z 0-9 _ - only
# Saving any of these (while active) registers the webhook again.
WEBHOOK_SETTINGS = {"bot_token", "webhook_secret", "is_active"}


def check_bot_token(value):
    if not BOT_TOKEN.match(value):
        raise serializers.ValidationError("Not a Telegram bot token (it looks like 123456789:AAH...).")
    return value


def check_webhook_secret(value):
    if not WEBHOOK_SECRET.match(value):
        raise serializers.ValidationError("16-256 characters of A-Z, a-z, 0-9, _ and - (Telegram's rule).")
    return value


def register_webhook(channel) -> dict:
    """setWebhook(url, secret_token); returns {ok, description} (Telegram's words)."""
    answer = async_to_sync(TelegramClient(channel.bot_token).set_webhook)(
        url=channel.webhook_url, secret_token=channel.webhook_secret
    )
    return answer.report()


def unregister_webhook(channel) -> dict:
    return async_to_sync(TelegramClient(channel.bot_token).delete_webhook)().report()


class TelegramAdapter(PlatformAdapter):
    name, label = views.PLATFORM, "Telegram"
    credential_fields = ("bot_token", "webhook_secret")
    required_on_create = ("bot_token",)
    credential_checks = {"bot_token": check_bot_token, "webhook_secret": check_webhook_secret}
    account_field, account_taken = "bot_token", "This bot is already connected to another channel."
    reports_webhook = True
    simulator, simulator_state = TelegramRoutes, TelegramState
    simulator_bot_token = "7000000001:SIMULATORsimulatorSIMULATOR0001"

    def fill_defaults(self, channel) -> None:
        if not channel.webhook_secret:
            channel.webhook_secret = channel.new_secret()

    def default_name(self, channel) -> str:
        answer = async_to_sync(TelegramClient(channel.bot_token).get_me)()
        if answer.ok and isinstance(answer.result, dict) and answer.result.get("username"):
            return f"@{answer.result['username']}"
        return "Telegram bot"

    def channel_saved(self, channel, changed):
        """New and active, re-enabled, or a new token or secret: setWebhook; disabled:
        deleteWebhook."""
        if changed is None:
            return register_webhook(channel) if channel.is_active else None
        if not channel.is_active and "is_active" in changed:
            return unregister_webhook(channel)
        if channel.is_active and changed & WEBHOOK_SETTINGS:
            return register_webhook(channel)
        return None

    def refuse_before_body(self, request, channel):
        return views.refuse_before_body(request, channel)

    def delivery_headers(self, channel, body):
        return {views.SECRET_HEADER: channel.webhook_secret}

    def body_ref(self, body):
        return views.update_id_hint(body)

    async def receive(self, channel, payload, body):
        return await views.receive(channel, payload, body)

    async def send(self, *, message, channel, outbound, record_part):
        if message.external_id:  # accepted before; only our bookkeeping was interrupted
            return SendOutcome.sent(message.external_id)
        return await TelegramClient(channel.bot_token).send(outbound)

    def simulator_settings(self, base_url):
        return {"TELEGRAM_API_BASE": base_url}

    def simulator_channel(self):
        return {"name": "Simulator bot", "bot_token": self.simulator_bot_token}

    def say_payload(self, *, text, sender, channel, photo, sim_url):
        return telegram_update(text=text, sender=sender, photo_file_id="sim-photo" if photo else None)


ADAPTER = TelegramAdapter()
