"""/integrations/instagram/<channel_id>/webhook/: Instagram's part of the shared webhook view
(integrations.webhooks.platform_webhook opens every webhook the same way, then asks the adapter).
GET: subscription check; POST: the signature over the raw body, then parse and store.

2xx only after the commit. What each failure answers is ``integrations.webhooks``' rule: the
database down is a 503 so Meta delivers again; a body that is not JSON or not a notification,
and an event that is malformed or cannot be stored, are 200 "ignored" with a log line naming
the mid."""
import hashlib
import hmac
import re

from django.http import HttpResponse

from integrations import webhooks

from .parsing import Ignored, parse_webhook
from .receive import instagram_events_receive

PLATFORM = "instagram"
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


def refuse_body(request, channel, body: bytes) -> str | None:
    if not signature_matches(body, request.headers.get(SIGNATURE_HEADER, ""), channel.app_secret):
        return "wrong or missing signature"
    return None


async def receive(channel, payload, body: bytes):
    events = parse_webhook(payload)
    for event in events:
        if isinstance(event, Ignored):
            webhooks.log_ignored(PLATFORM, channel.pk, event.ref, event.reason, malformed=event.malformed)
    results = await instagram_events_receive(channel=channel, events=events)
    return webhooks.accepted(results=[result.status for result in results])
