"""Writes of channels. The row is committed first; then, for Telegram, the webhook is registered
with the Bot API (setWebhook with our URL and the secret token). A platform failure is reported
in the answer, never fatal: the owner can fix the token and save again."""
from asgiref.sync import async_to_sync
from django.db import transaction

from fiko.errors import InvalidInput

from .models import Channel
from .telegram.client import TelegramClient

TELEGRAM_FIELDS = ("bot_token", "webhook_secret")
INSTAGRAM_FIELDS = ("ig_id", "page_id", "access_token", "app_secret", "verify_token")


def _check_unique_account(channel: Channel) -> None:
    others = Channel.objects.filter(platform=channel.platform, is_active=True).exclude(pk=channel.pk)
    if channel.platform == Channel.Platform.TELEGRAM and others.filter(bot_token=channel.bot_token).exists():
        raise InvalidInput("This bot is already connected to another channel.", field="bot_token")
    if channel.platform == Channel.Platform.INSTAGRAM and others.filter(ig_id=channel.ig_id).exists():
        raise InvalidInput("This Instagram account is already connected to another channel.", field="ig_id")


def telegram_register_webhook(channel: Channel) -> dict:
    """setWebhook(url, secret_token); returns {ok, description} (Telegram's words)."""
    answer = async_to_sync(TelegramClient(channel.bot_token).set_webhook)(
        url=channel.webhook_url, secret_token=channel.webhook_secret
    )
    return answer.report()


def telegram_unregister_webhook(channel: Channel) -> dict:
    return async_to_sync(TelegramClient(channel.bot_token).delete_webhook)().report()


def _telegram_default_name(channel: Channel) -> str:
    answer = async_to_sync(TelegramClient(channel.bot_token).get_me)()
    if answer.ok and isinstance(answer.result, dict) and answer.result.get("username"):
        return f"@{answer.result['username']}"
    return "Telegram bot"


def channel_create(*, workspace_id: int, data: dict) -> tuple[Channel, dict | None]:
    """Returns (channel, setWebhook report or None)."""
    platform = data["platform"]
    fields = TELEGRAM_FIELDS if platform == Channel.Platform.TELEGRAM else INSTAGRAM_FIELDS
    channel = Channel(workspace_id=workspace_id, platform=platform, name=data.get("name", "").strip(),
                      is_active=data.get("is_active", True), **{k: data[k] for k in fields if k in data})
    if platform == Channel.Platform.TELEGRAM and not channel.webhook_secret:
        channel.webhook_secret = Channel.new_secret()
    if channel.is_active:
        _check_unique_account(channel)
    if platform == Channel.Platform.TELEGRAM and not channel.name:
        channel.name = _telegram_default_name(channel)
    if platform == Channel.Platform.INSTAGRAM and not channel.name:
        channel.name = "Instagram account"
    with transaction.atomic():
        channel.save()
    report = None
    if platform == Channel.Platform.TELEGRAM and channel.is_active:
        report = telegram_register_webhook(channel)
    return channel, report


def channel_update(*, channel: Channel, data: dict) -> tuple[Channel, dict | None]:
    """PATCH: name, is_active, secrets (a secret left out keeps its value). Telegram: a new
    token or secret, or re-enabling, registers the webhook again; disabling removes it."""
    allowed = TELEGRAM_FIELDS if channel.platform == Channel.Platform.TELEGRAM else INSTAGRAM_FIELDS
    changed = []
    for key in ("name", "is_active") + allowed:
        if key in data and getattr(channel, key) != data[key]:
            setattr(channel, key, data[key].strip() if key == "name" else data[key])
            changed.append(key)
    if not changed:
        return channel, None
    if channel.is_active:
        _check_unique_account(channel)
    with transaction.atomic():
        channel.save(update_fields=changed + ["updated_at"])
    report = None
    if channel.platform == Channel.Platform.TELEGRAM:
        if not channel.is_active and "is_active" in changed:
            report = telegram_unregister_webhook(channel)
        elif channel.is_active and set(changed) & {"bot_token", "webhook_secret", "is_active"}:
            report = telegram_register_webhook(channel)
    return channel, report


def channel_disable(*, channel: Channel) -> dict | None:
    """DELETE: the channel stops receiving and sending; its conversations and history stay."""
    _, report = channel_update(channel=channel, data={"is_active": False})
    return report
