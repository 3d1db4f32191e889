"""One outage answer (SPEC: "An outage of the database or Redis is JSON 503
``{"code": "unavailable"}`` with ``Retry-After``"; sockets: error ``unavailable``, then 1011).

``is_outage`` says whether an exception means "a service we depend on is down or unreachable"
(retrying later can succeed) as opposed to a bug. REST views get the answer from the DRF
exception handler (fiko/api_errors.py); every other HTTP path from the 500 handler
(fiko/error_views.py), which Django calls for any uncaught exception, in a view or in a
middleware; sockets from fiko/ws_auth.py and fiko/consumers.py.
"""
from django.db import InterfaceError, OperationalError
from django.http import JsonResponse
from redis.exceptions import BusyLoadingError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from fiko.errors import ErrorCode

RETRY_AFTER_SECONDS = 5
TEXT = "Service temporarily unavailable: retry later"
OUTAGE_ERRORS = (OperationalError, InterfaceError, RedisConnectionError, RedisTimeoutError, BusyLoadingError)


def is_outage(exc: BaseException | None) -> bool:
    return isinstance(exc, OUTAGE_ERRORS)


def unavailable_body() -> dict:
    return {"detail": TEXT, "code": str(ErrorCode.UNAVAILABLE), "retry_after": RETRY_AFTER_SECONDS}


def unavailable_response() -> JsonResponse:
    response = JsonResponse(unavailable_body(), status=503)
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response
