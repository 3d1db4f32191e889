"""Writes of channels. The row is committed first; then the platform's adapter does what saving
a channel means there (integrations/platforms.py: Telegram registers its webhook with setWebhook).
A platform failure is reported in the answer, never fatal: the owner can fix the token and save
again."""
from django.db import transaction

from fiko.errors import InvalidInput

from . import platforms
from .models import Channel


def _check_unique_account(channel: Channel, adapter: platforms.PlatformAdapter) -> None:
    if not adapter.account_field:
        return
    others = Channel.objects.filter(platform=channel.platform, is_active=True).exclude(pk=channel.pk)
    if others.filter(**{adapter.account_field: getattr(channel, adapter.account_field)}).exists():
        raise InvalidInput(adapter.account_taken, field=adapter.account_field)


def channel_create(*, workspace_id: int, data: dict) -> tuple[Channel, dict | None]:
    """Returns (channel, the platform's report or None)."""
    adapter = platforms.adapter_for(data["platform"])
    channel = Channel(workspace_id=workspace_id, platform=adapter.name, name=data.get("name", "").strip(),
                      is_active=data.get("is_active", True),
                      **{k: data[k] for k in adapter.credential_fields if k in data})
    adapter.fill_defaults(channel)
    if channel.is_active:
        _check_unique_account(channel, adapter)
    if not channel.name:
        channel.name = adapter.default_name(channel)
    with transaction.atomic():
        channel.save()
    return channel, adapter.channel_saved(channel, None)


def channel_update(*, channel: Channel, data: dict) -> tuple[Channel, dict | None]:
    """PATCH: name, is_active, secrets (a secret left out keeps its value). What the platform is
    told is the adapter's ``channel_saved`` (Telegram: a new token or secret, or re-enabling,
    registers the webhook again; disabling removes it)."""
    adapter = platforms.adapter_for(channel.platform)
    changed = []
    for key in ("name", "is_active") + adapter.credential_fields:
        if key in data and getattr(channel, key) != data[key]:
            setattr(channel, key, data[key].strip() if key == "name" else data[key])
            changed.append(key)
    if not changed:
        return channel, None
    if channel.is_active:
        _check_unique_account(channel, adapter)
    with transaction.atomic():
        channel.save(update_fields=changed + ["updated_at"])
    return channel, adapter.channel_saved(channel, set(changed))


def channel_disable(*, channel: Channel) -> dict | None:
    """DELETE: the channel stops receiving and sending; its conversations and history stay."""
    _, report = channel_update(channel=channel, data={"is_active": False})
    return report
