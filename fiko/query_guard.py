"""Query strings are text for the database: a NUL character in any parameter (name or value)
is a 400 ``invalid_input`` naming the parameter, for every view, before any query runs.
(PostgreSQL refuses NUL in text, which would otherwise surface as a 500.)"""
from django.http import JsonResponse

from fiko.errors import ErrorCode
from fiko.inputs import describe
from fiko.middleware_base import BothModesMiddleware


def nul_parameter_response(request) -> JsonResponse | None:
    for key, values in request.GET.lists():
        if "\x00" in key or any("\x00" in value for value in values):
            return JsonResponse({
                "detail": f"Query parameter '{describe(key)}' must not contain NUL characters",
                "code": str(ErrorCode.INVALID_INPUT), "field": describe(key),
            }, status=400)
    return None


class QueryStringGuard(BothModesMiddleware):
    def handle(self, request):
        return nul_parameter_response(request) or self.get_response(request)

    async def ahandle(self, request):
        return nul_parameter_response(request) or await self.get_response(request)
