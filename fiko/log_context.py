"""What a log line is about: the request id, the socket id and the workspace id, where known.

Held in context variables, so they follow a request or a socket into the threads and tasks it
starts (asgiref copies the context into ``sync_to_async`` threads; a task copies it when
created) and every log line written on its behalf carries them (fiko/log_json.py).

``RequestIdMiddleware`` takes the proxy's ``X-Request-ID`` (nginx sets one per request) when it
is a sane token, makes one otherwise, and answers it in ``X-Request-ID``.
"""
import contextvars
import re
import secrets

from fiko.middleware_base import BothModesMiddleware


request_id = contextvars.ContextVar("fiko_request_id", default=None)
socket_id = contextvars.ContextVar("fiko_socket_id", default=None)
workspace_id = contextvars.ContextVar("fiko_workspace_id", default=None)

_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{8,128}")


def current(record=None) -> dict:
    """The fields known here, for a log record (a django.request record names its request)."""
    fields = {}
    bound_to_request = getattr(getattr(record, "request", None), "request_id", None)
    if isinstance(bound_to_request, str):
        fields["request_id"] = bound_to_request
    for name, var in (("request_id", request_id), ("socket_id", socket_id), ("workspace_id", workspace_id)):
        value = var.get()
        if value is not None:
            fields[name] = value
    return fields


def bind_socket(consumer) -> None:
    """Called at the start of a socket's connect (its task's context lasts as long as it)."""
    socket_id.set(consumer.channel_name)
    principal = consumer.scope.get("principal")
    customer = getattr(principal, "customer", None)
    if customer is not None:
        workspace_id.set(customer.workspace_id)


def socket_context(consumer) -> contextvars.Context:
    """A fresh context holding only the socket's fields, for a task the socket starts from
    code that may run in another context (an event delivered by the fan-out's reader). Made
    when a task starts, not kept per socket: an idle socket holds none."""
    context = contextvars.Context()
    context.run(bind_socket, consumer)
    return context


def unbound() -> contextvars.Context:
    """An empty context, for the process's own tasks and callbacks (the fan-out's reader, the
    presence heartbeat, an in-process delivery): they serve every socket, so their lines name
    none, whichever socket or request happened to start them."""
    return contextvars.Context()


def bind_workspace(value) -> None:
    if value is not None:
        workspace_id.set(value)


def _incoming_request_id(request) -> str:
    supplied = request.headers.get("X-Request-ID", "")
    return supplied if _REQUEST_ID.fullmatch(supplied) else secrets.token_hex(16)


class RequestIdMiddleware(BothModesMiddleware):
    """Binds the request id for the request's log lines and answers it."""

    def handle(self, request):
        token = request_id.set(self._bound(request))
        try:
            return self._answered(self.get_response(request))
        finally:
            request_id.reset(token)

    async def ahandle(self, request):
        # Not reset: under ASGI each request runs in a task (a context) of its own.
        request_id.set(self._bound(request))
        return self._answered(await self.get_response(request))

    @staticmethod
    def _bound(request) -> str:
        # Kept on the request too: Django logs an error response (django.request, the record
        # carries the request) after the middlewares returned, when a sync chain (below a
        # sync-only middleware such as WhiteNoise) has already reset its context.
        request.request_id = _incoming_request_id(request)
        return request.request_id

    @staticmethod
    def _answered(response):
        response["X-Request-ID"] = request_id.get()
        return response
