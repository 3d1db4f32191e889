"""REST error answers: DRF's own, plus FikoError rendered as a 4xx with a reason and a code, and
an outage of the database or Redis as a 503 (fiko/outage.py)."""
import logging

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from fiko.errors import ErrorCode, FikoError, InvalidInput
from fiko.outage import RETRY_AFTER_SECONDS, is_outage, unavailable_body

_STATUS = {ErrorCode.NOT_FOUND: status.HTTP_404_NOT_FOUND, ErrorCode.FORBIDDEN: status.HTTP_403_FORBIDDEN,
           ErrorCode.RATE_LIMITED: status.HTTP_429_TOO_MANY_REQUESTS,
           ErrorCode.INVALID_CREDENTIALS: status.HTTP_401_UNAUTHORIZED,
           ErrorCode.TOO_LARGE: status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
           ErrorCode.UNSUPPORTED_TYPE: status.HTTP_415_UNSUPPORTED_MEDIA_TYPE}


log = logging.getLogger(__name__)

_DRF_CODES = {"permission_denied": str(ErrorCode.FORBIDDEN), "authentication_failed": str(ErrorCode.INVALID_CREDENTIALS)}


def exception_handler(exc, context):
    if is_outage(exc):  # the database or Redis is down: 503, try again (fiko/outage.py)
        log.error("REST %s: service unavailable (%s)", context["request"].path, type(exc).__name__)
        return Response(unavailable_body(), status=status.HTTP_503_SERVICE_UNAVAILABLE,
                        headers={"Retry-After": str(RETRY_AFTER_SECONDS)})
    if isinstance(exc, FikoError):
        # Bad input is a 400 whatever its code (a reply_to that is not in the conversation is
        # ``not_found`` on a socket, but the resource the request names does exist).
        code = status.HTTP_400_BAD_REQUEST if isinstance(exc, InvalidInput) else _STATUS.get(exc.code, 400)
        response = Response({"detail": exc.text, "code": str(exc.code), **exc.extra}, status=code)
        if "retry_after" in exc.extra:  # seconds, e.g. a login throttle
            response["Retry-After"] = str(exc.extra["retry_after"])
        if code == status.HTTP_401_UNAUTHORIZED:
            response["WWW-Authenticate"] = 'Bearer realm="api"'
        return response
    if isinstance(exc, ValidationError):  # a serializer's field errors, in SPEC's error shape
        field, text = _first_error(exc.detail)
        detail = f"{field}: {text}" if field else text
        # DRF's per-field lists stay at the top level (clients written against DRF read them).
        fields = exc.detail if isinstance(exc.detail, dict) else {}
        return Response({**fields, "detail": detail, "code": str(ErrorCode.INVALID_INPUT),
                         **({"field": field} if field else {})}, status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, RequestDataTooBig):  # a JSON body over DATA_UPLOAD_MAX_MEMORY_SIZE
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        return Response({"detail": f"Request body too large: the limit is {limit} bytes",
                         "code": str(ErrorCode.TOO_LARGE), "limit": limit},
                        status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)
    response = drf_exception_handler(exc, context)
    if response is not None and isinstance(response.data, dict) and "code" not in response.data:
        # DRF's own errors (401, 403, 404, 405, 415 ...) get a machine code too.
        default = getattr(exc, "default_code", "error")
        response.data["code"] = _DRF_CODES.get(default, default)
    return response


def _first_error(detail, path: str = "") -> tuple[str, str]:
    """The first (field path, message) of DRF's nested error detail."""
    if isinstance(detail, dict):
        for key, value in detail.items():
            name = path if key == "non_field_errors" else (f"{path}.{key}" if path else str(key))
            return _first_error(value, name)
    if isinstance(detail, list):
        for index, value in enumerate(detail):
            if isinstance(value, (dict, list)):
                return _first_error(value, f"{path}[{index}]" if path else str(index))
            return _first_error(value, path)
    return path, str(detail)
