"""Query strings are text for the database: a NUL character in any parameter (name or value)
is a 400 ``invalid_input`` naming the parameter, for every view, before any query runs.
(PostgreSQL refuses NUL in text, which would otherwise surface as a 500.)"""
from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.http import JsonResponse

from fiko.errors import ErrorCode
from fiko.inputs import describe


def nul_parameter_response(request) -> JsonResponse | None:
    for key, values in request.GET.lists():
        if "\x00" in key or any("\x00" in value for value in values):
            return JsonResponse({
                "detail": f"Query parameter '{describe(key)}' must not contain NUL characters",
                "code": str(ErrorCode.INVALID_INPUT), "field": describe(key),
            }, status=400)
    return None


class QueryStringGuard:
    sync_capable = True
    async_capable = True

    def __init__(self, get_response):
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request):
        if self.is_async:
            return self._acall(request)
        return nul_parameter_response(request) or self.get_response(request)

    async def _acall(self, request):
        return nul_parameter_response(request) or await self.get_response(request)
