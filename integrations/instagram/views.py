"""/integrations/instagram/<channel_id>/webhook/ — GET: subscription check; POST: verify the
signature over the raw body, parse, call one service, answer. 2xx only after the commit."""
import hashlib
import hmac
import json

from channels.db import database_sync_to_async
from django.db import Error as DatabaseError
from django.http import HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from fiko.errors import InvalidInput
from integrations import webhooks
from integrations.inbound import channel_for_webhook

from .parsing import parse_webhook
from .receive import instagram_events_receive

SIGNATURE_HEADER = "X-Hub-Signature-256"


def signature_for(body: bytes, app_secret: str) -> str:
    return "sha256=" + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()


def signature_matches(body: bytes, supplied: str, app_secret: str) -> bool:
    return bool(app_secret) and hmac.compare_digest(supplied.encode(), signature_for(body, app_secret).encode())


def verify_subscription(request, channel) -> HttpResponse:
    mode = request.GET.get("hub.mode", "")
    token = request.GET.get("hub.verify_token", "")
    if mode == "subscribe" and channel.verify_token and hmac.compare_digest(token.encode(), channel.verify_token.encode()):
        return HttpResponse(request.GET.get("hub.challenge", ""), content_type="text/plain")
    return webhooks.forbidden("verification failed")


@csrf_exempt
@require_http_methods(["GET", "POST"])
async def instagram_webhook(request, channel_id):
    if webhooks.declared_too_large(request):
        return webhooks.too_large()
    try:
        channel = await database_sync_to_async(channel_for_webhook)(channel_id=channel_id, platform="instagram")
    except DatabaseError as exc:
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
        events = parse_webhook(json.loads(body))
    except (ValueError, InvalidInput) as exc:
        return webhooks.bad_request(f"not an Instagram notification: {exc}")
    try:
        results = await instagram_events_receive(channel=channel, events=events)
    except DatabaseError as exc:
        return webhooks.database_unavailable(exc)
    return webhooks.accepted(results=[result.status for result in results])
