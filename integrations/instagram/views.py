"""/integrations/instagram/<channel_id>/webhook/ — GET: subscription check; POST: verify the
signature over the raw body, parse, call one service, answer. 2xx only after the commit.

What each failure answers is ``integrations.webhooks``' rule: the database down is a 503 so
Meta delivers again; a body that is not JSON or not a notification, and an event that is
malformed or cannot be stored, are 200 "ignored" with a log line naming the mid."""
import hashlib
import hmac
import re

from fiko.db import database_sync_to_async
from django.http import HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from fiko import metrics
from fiko.inputs import InvalidJSON, loads_json
from integrations import webhooks
from integrations.inbound import channel_for_webhook

from .parsing import Ignored, parse_webhook
from .receive import instagram_events_receive

SIGNATURE_HEADER = "X-Hub-Signature-256"
_MID = re.compile(rb'"mid"\s*:\s*"([^"\\]{1,80})')


def signature_for(body: bytes, app_secret: str) -> str:
    return "sha256=" + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()


def signature_matches(body: bytes, supplied: str, app_secret: str) -> bool:
    return bool(app_secret) and hmac.compare_digest(supplied.encode(), signature_for(body, app_secret).encode())


def mid_hint(body: bytes) -> str | None:
    """The first mid of a body we could not decode, for the log line only."""
    found = _MID.search(body)
    return found.group(1).decode("utf-8", "replace") if found else None


def verify_subscription(request, channel) -> HttpResponse:
    mode = request.GET.get("hub.mode", "")
    token = request.GET.get("hub.verify_token", "")
    if mode == "subscribe" and channel.verify_token and hmac.compare_digest(token.encode(), channel.verify_token.encode()):
        return HttpResponse(request.GET.get("hub.challenge", ""), content_type="text/plain")
    return webhooks.forbidden("verification failed")


@metrics.webhook_view("instagram")
@csrf_exempt
@require_http_methods(["GET", "POST"])
async def instagram_webhook(request, channel_id):
    if webhooks.declared_too_large(request):
        return webhooks.too_large()
    try:
        channel = await database_sync_to_async(channel_for_webhook)(channel_id=channel_id, platform="instagram")
    except webhooks.OUTAGE as exc:
        return webhooks.database_unavailable(exc)
    if channel is None:
        return webhooks.not_found()
    if request.method == "GET":
        return verify_subscription(request, channel)
    try:
        body = webhooks.read_body(request)
    except webhooks.BodyTooLarge:
        return webhooks.too_large()
    if not signature_matches(body, request.headers.get(SIGNATURE_HEADER, ""), channel.app_secret):
        return webhooks.forbidden("wrong or missing signature")
    if not channel.is_active:
        return webhooks.accepted(ignored="channel is disabled")
    try:
        payload = loads_json(body)
    except InvalidJSON as exc:
        return webhooks.ignored("instagram", channel.pk, mid_hint(body),
                                f"not JSON: {exc.extra.get('reason', exc.text)}")
    events = parse_webhook(payload)
    for event in events:
        if isinstance(event, Ignored):
            webhooks.log_ignored("instagram", channel.pk, event.ref, event.reason, malformed=event.malformed)
    try:
        results = await instagram_events_receive(channel=channel, events=events)
    except webhooks.OUTAGE as exc:
        return webhooks.database_unavailable(exc)
    return webhooks.accepted(results=[result.status for result in results])
