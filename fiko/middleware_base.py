"""The base of Fiko's own Django middlewares: each runs in whichever chain Django builds (sync
under a WSGI-style test client, async under ASGI) without a thread hop per request.
Subclasses define ``handle(request)`` (sync) and ``ahandle(request)`` (async), calling
``self.get_response``."""
from asgiref.sync import iscoroutinefunction, markcoroutinefunction


class BothModesMiddleware:
    sync_capable = True
    async_capable = True

    def __init__(self, get_response):
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request):
        if self.is_async:
            return self.ahandle(request)
        return self.handle(request)

    def handle(self, request):
        raise NotImplementedError

    async def ahandle(self, request):
        raise NotImplementedError
