"""Every platform webhook, /integrations/<platform>/<channel_id>/webhook/: one view opens them
all the same way (method, size limit, the channel, the adapter's secret or signature check, the
body, a disabled channel, JSON), then the platform's adapter (integrations/platforms.py) parses
and stores; and what every webhook answers the same way: size limit, database trouble, bad
updates, success.

The rule (SPEC "Webhook answers"), once for every platform:

- the database is down (``OUTAGE``: OperationalError, InterfaceError) -> 503 ``unavailable``
  with Retry-After: nothing was committed, the platform delivers the update again later (Redis
  down is no outage here: the update is stored and its event is best effort, clients catch up
  by ``seq``);
- the update itself is bad (not JSON, not the shape we expect, values the columns cannot hold,
  or the database refuses the row: ``BAD_UPDATE``) -> 200, ignored, one log line naming the
  update; a redelivery would fail the same way, so a 5xx would only make the platform retry
  forever;
- anything else stored -> 200 after the commit.
"""
import functools
import logging

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.db import DataError, IntegrityError, InterfaceError, OperationalError
from django.http import HttpResponseNotAllowed, JsonResponse
from django.utils.log import log_response
from django.views.decorators.csrf import csrf_exempt

from fiko import metrics
from fiko.db import database_sync_to_async
from fiko.errors import InvalidInput
from fiko.inputs import InvalidJSON, describe, loads_json
from fiko.outage import RETRY_AFTER_SECONDS, unavailable_body

from . import platforms
from .inbound import channel_for_webhook

log = logging.getLogger("integrations.webhooks")

# "The database is down": retrying later can succeed.
OUTAGE = (OperationalError, InterfaceError)
# "This update is bad": retrying the same bytes fails the same way. (The duplicate path of an
# IntegrityError never gets here: ``inbound._once`` answers it as a duplicate.)
BAD_UPDATE = (DataError, IntegrityError, InvalidInput)


class BodyTooLarge(Exception):
    pass


def declared_too_large(request) -> bool:
    """The Content-Length says more than WEBHOOK_MAX_BODY_BYTES (checked before reading)."""
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0) > settings.WEBHOOK_MAX_BODY_BYTES
    except ValueError:
        return False


def read_body(request) -> bytes:
    """The raw body (signatures are computed over these exact bytes). Raises BodyTooLarge."""
    try:
        body = request.body
    except RequestDataTooBig:
        raise BodyTooLarge from None
    if len(body) > settings.WEBHOOK_MAX_BODY_BYTES:
        raise BodyTooLarge
    return body


def too_large() -> JsonResponse:
    return JsonResponse({"ok": False, "detail": f"body larger than {settings.WEBHOOK_MAX_BODY_BYTES} bytes"},
                        status=413)


def forbidden(detail: str) -> JsonResponse:
    return JsonResponse({"ok": False, "detail": detail}, status=403)


def not_found() -> JsonResponse:
    return JsonResponse({"ok": False, "detail": "no such channel"}, status=404)


def database_unavailable(exc: Exception) -> JsonResponse:
    """Nothing was committed: a 5xx makes the platform deliver the update again later."""
    log.error("webhook: database unavailable (%s); answering 503 so the platform retries", type(exc).__name__)
    response = JsonResponse({"ok": False, **unavailable_body()}, status=503)
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def bad_update_reason(exc: Exception) -> str:
    """Why a BAD_UPDATE exception refused the update, without echoing the update's values
    (a database error's text can quote the whole row)."""
    if isinstance(exc, InvalidInput):
        return f"invalid: {describe(exc.text, 120)}"
    return f"the database refused it ({type(exc).__name__})"


def log_ignored(platform: str, channel_id, ref, reason: str, *, malformed: bool = True) -> None:
    """One line per ignored update, naming it (Telegram update_id, Instagram mid): WARNING when
    it was malformed or unstorable, INFO for a kind we simply do not handle. No traceback, and
    nothing but ids and our own reason (never a token, never the update's text)."""
    level = logging.WARNING if malformed else logging.INFO
    log.log(level, "%s webhook: channel %s, update %s ignored: %s",
            platform, channel_id, describe(ref if ref not in (None, "") else "unknown"), reason)


def ignored(platform: str, channel_id, ref, reason: str, *, malformed: bool = True) -> JsonResponse:
    """200: the platform must not deliver this update again."""
    log_ignored(platform, channel_id, ref, reason, malformed=malformed)
    return accepted(ignored=reason)


def accepted(**info) -> JsonResponse:
    return JsonResponse({"ok": True, **info})


# --- the view ---------------------------------------------------------------------------------
@csrf_exempt
async def platform_webhook(request, platform, channel_id):
    adapter = platforms.adapter_for(platform)
    if adapter is None:
        return not_found()
    return await _measured(adapter.name)(request, adapter, channel_id)


@functools.cache
def _measured(platform: str):
    return metrics.webhook_view(platform)(_webhook)


async def _webhook(request, adapter, channel_id):
    if request.method not in adapter.methods:
        response = HttpResponseNotAllowed(adapter.methods)
        log_response("Method Not Allowed (%s): %s", request.method, request.path, response=response, request=request)
        return response
    if declared_too_large(request):
        return too_large()
    try:
        channel = await database_sync_to_async(channel_for_webhook)(channel_id=channel_id, platform=adapter.name)
    except OUTAGE as exc:
        return database_unavailable(exc)
    if channel is None:
        return not_found()
    if request.method == "GET":
        return adapter.answer_get(request, channel)
    refused = adapter.refuse_before_body(request, channel)
    if refused:
        return forbidden(refused)
    try:
        body = read_body(request)
    except BodyTooLarge:
        return too_large()
    refused = adapter.refuse_body(request, channel, body)
    if refused:
        return forbidden(refused)
    if not channel.is_active:
        return accepted(ignored="channel is disabled")
    try:
        payload = loads_json(body)
    except InvalidJSON as exc:
        reason = f"not JSON: {exc.extra.get('reason', exc.text)}"
        return ignored(adapter.name, channel.pk, adapter.body_ref(body), reason)
    try:
        return await adapter.receive(channel, payload, body)
    except OUTAGE as exc:
        return database_unavailable(exc)
