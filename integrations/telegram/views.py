"""POST /integrations/telegram/<channel_id>/webhook/ — verify, parse, call one service, answer.

2xx only after the commit. What each failure answers is ``integrations.webhooks``' rule: the
database down is a 503 so Telegram delivers the update again; an update that is not JSON, not
an Update, or cannot be stored is a 200 "ignored" with a log line naming its update_id.
"""
import hmac
import re

from fiko.db import database_sync_to_async
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from fiko import metrics
from fiko.inputs import InvalidJSON, loads_json
from integrations import webhooks
from integrations.inbound import channel_for_webhook

from .parsing import Ignored, parse_update
from .receive import telegram_update_receive

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
_UPDATE_ID = re.compile(rb'"update_id"\s*:\s*([0-9]{1,19})\b')


def secret_matches(supplied: str, expected: str) -> bool:
    return bool(expected) and hmac.compare_digest(supplied.encode(), expected.encode())


def update_id_hint(body: bytes) -> str | None:
    """The update_id of a body we could not decode, for the log line only."""
    found = _UPDATE_ID.search(body)
    return found.group(1).decode() if found else None


@metrics.webhook_view("telegram")
@csrf_exempt
@require_POST
async def telegram_webhook(request, channel_id):
    if webhooks.declared_too_large(request):
        return webhooks.too_large()
    try:
        channel = await database_sync_to_async(channel_for_webhook)(channel_id=channel_id, platform="telegram")
    except webhooks.OUTAGE as exc:
        return webhooks.database_unavailable(exc)
    if channel is None:
        return webhooks.not_found()
    if not secret_matches(request.headers.get(SECRET_HEADER, ""), channel.webhook_secret):
        return webhooks.forbidden("wrong or missing secret token")
    try:
        body = webhooks.read_body(request)
    except webhooks.BodyTooLarge:
        return webhooks.too_large()
    if not channel.is_active:
        return webhooks.accepted(ignored="channel is disabled")
    try:
        payload = loads_json(body)
    except InvalidJSON as exc:
        return webhooks.ignored("telegram", channel.pk, update_id_hint(body),
                                f"not JSON: {exc.extra.get('reason', exc.text)}")
    update = parse_update(payload)
    if isinstance(update, Ignored):
        ref = update.update_id if update.update_id is not None else update_id_hint(body)
        return webhooks.ignored("telegram", channel.pk, ref, update.reason, malformed=update.malformed)
    try:
        result = await telegram_update_receive(channel=channel, update=update)
    except webhooks.OUTAGE as exc:
        return webhooks.database_unavailable(exc)
    except webhooks.BAD_UPDATE as exc:
        return webhooks.ignored("telegram", channel.pk, update.update_id, webhooks.bad_update_reason(exc))
    return webhooks.accepted(result=result.status)
