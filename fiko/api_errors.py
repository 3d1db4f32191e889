"""REST error answers: DRF's own, plus FikoError rendered as a 4xx with a reason and a code."""
from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from fiko.errors import ErrorCode, FikoError, InvalidInput

_STATUS = {ErrorCode.NOT_FOUND: status.HTTP_404_NOT_FOUND, ErrorCode.FORBIDDEN: status.HTTP_403_FORBIDDEN,
           ErrorCode.RATE_LIMITED: status.HTTP_429_TOO_MANY_REQUESTS,
           ErrorCode.INVALID_CREDENTIALS: status.HTTP_401_UNAUTHORIZED,
           ErrorCode.TOO_LARGE: status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
           ErrorCode.UNSUPPORTED_TYPE: status.HTTP_415_UNSUPPORTED_MEDIA_TYPE}


def exception_handler(exc, context):
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
    if isinstance(exc, RequestDataTooBig):  # a JSON body over DATA_UPLOAD_MAX_MEMORY_SIZE
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        return Response({"detail": f"Request body too large: the limit is {limit} bytes",
                         "code": str(ErrorCode.TOO_LARGE), "limit": limit},
                        status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)
    return drf_exception_handler(exc, context)
