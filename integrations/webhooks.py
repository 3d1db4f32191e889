"""What both platform webhooks answer the same way: size limit, database trouble, success."""
import logging

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import JsonResponse

log = logging.getLogger("integrations.webhooks")


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


def bad_request(detail: str) -> JsonResponse:
    return JsonResponse({"ok": False, "detail": detail}, status=400)


def not_found() -> JsonResponse:
    return JsonResponse({"ok": False, "detail": "no such channel"}, status=404)


def database_unavailable(exc: Exception) -> JsonResponse:
    """Nothing was committed: a 5xx makes the platform deliver the update again later."""
    log.error("webhook: database unavailable (%s); answering 503 so the platform retries", type(exc).__name__)
    response = JsonResponse({"ok": False, "detail": "temporarily unavailable, retry later"}, status=503)
    response["Retry-After"] = "5"
    return response


def accepted(**info) -> JsonResponse:
    return JsonResponse({"ok": True, **info})
