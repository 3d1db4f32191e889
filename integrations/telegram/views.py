"""POST /integrations/telegram/<channel_id>/webhook/: Telegram's part of the shared webhook view
(integrations.webhooks.platform_webhook opens every webhook the same way, then asks the adapter).

The secret header is checked before the body is read. 2xx only after the commit. What each
failure answers is ``integrations.webhooks``' rule: the database down is a 503 so Telegram
delivers the update again; an update that is not JSON, not an Update, or cannot be stored is a
200 "ignored" with a log line naming its update_id.
"""
import hmac
import re

from integrations import webhooks

from .parsing import Ignored, parse_update
from .receive import telegram_update_receive

PLATFORM = "telegram"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
_UPDATE_ID = re.compile(rb'"update_id"\s*:\s*([0-9]{1,19})\b')


def secret_matches(supplied: str, expected: str) -> bool:
    return bool(expected) and hmac.compare_digest(supplied.encode(), expected.encode())


def update_id_hint(body: bytes) -> str | None:
    """The update_id of a body we could not decode, for the log line only."""
    found = _UPDATE_ID.search(body)
    return found.group(1).decode() if found else None


def refuse_before_body(request, channel) -> str | None:
    if not secret_matches(request.headers.get(SECRET_HEADER, ""), channel.webhook_secret):
        return "wrong or missing secret token"
    return None


async def receive(channel, payload, body: bytes):
    update = parse_update(payload)
    if isinstance(update, Ignored):
        ref = update.update_id if update.update_id is not None else update_id_hint(body)
        return webhooks.ignored(PLATFORM, channel.pk, ref, update.reason, malformed=update.malformed)
    try:
        result = await telegram_update_receive(channel=channel, update=update)
    except webhooks.BAD_UPDATE as exc:
        return webhooks.ignored(PLATFORM, channel.pk, update.update_id, webhooks.bad_update_reason(exc))
    return webhooks.accepted(result=result.status)
