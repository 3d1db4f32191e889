"""POST /integrations/telegram/<channel_id>/webhook/ — verify, parse, call one service, answer.

2xx only after the commit; a database failure is a 503 so Telegram delivers the update again.
"""
import hmac
import json

from channels.db import database_sync_to_async
from django.db import Error as DatabaseError
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from fiko.errors import InvalidInput
from integrations import webhooks
from integrations.inbound import channel_for_webhook

from .parsing import Ignored, parse_update
from .receive import telegram_update_receive

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


def secret_matches(supplied: str, expected: str) -> bool:
    return bool(expected) and hmac.compare_digest(supplied.encode(), expected.encode())


@csrf_exempt
@require_POST
async def telegram_webhook(request, channel_id):
    if webhooks.declared_too_large(request):
        return webhooks.too_large()
    try:
        channel = await database_sync_to_async(channel_for_webhook)(channel_id=channel_id, platform="telegram")
    except DatabaseError as exc:
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
        update = parse_update(json.loads(body))
    except (ValueError, InvalidInput) as exc:
        return webhooks.bad_request(f"not a Telegram update: {exc}")
    if isinstance(update, Ignored):
        return webhooks.accepted(ignored=update.reason)
    try:
        result = await telegram_update_receive(channel=channel, update=update)
    except DatabaseError as exc:
        return webhooks.database_unavailable(exc)
    return webhooks.accepted(result=result.status)
