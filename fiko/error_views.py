"""What Django answers when no view does (no route matched, an uncaught error): the same JSON
error shape as every API answer, ``{"detail", "code"}``, never an HTML page; an outage is a
JSON 503 with Retry-After (fiko/outage.py)."""
import sys

from django.http import JsonResponse

from fiko.errors import ErrorCode
from fiko.outage import is_outage, unavailable_response


def _error(status: int, detail: str, code: str) -> JsonResponse:
    return JsonResponse({"detail": detail, "code": code}, status=status)


def not_found(request, exception=None):
    return _error(404, "Not found", str(ErrorCode.NOT_FOUND))


def bad_request(request, exception=None):
    return _error(400, "Bad request", str(ErrorCode.INVALID_INPUT))


def forbidden(request, exception=None):
    return _error(403, "Forbidden", str(ErrorCode.FORBIDDEN))


def server_error(request):
    """Django calls this inside its ``except`` for the uncaught exception: an outage of the
    database or Redis (anywhere: a view, a middleware, a session read) is a 503, not a bug."""
    if is_outage(sys.exc_info()[1]):
        return unavailable_response()
    return _error(500, "Internal error", str(ErrorCode.SERVER_ERROR))
