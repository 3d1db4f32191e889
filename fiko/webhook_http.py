"""The lean HTTP path for platform webhooks (/integrations/<platform>/<channel_id>/webhook/):
the same view (integrations/webhooks.py) behind a short, natively async middleware chain, and
no thread hop but the view's own database calls (fiko/db.py's pool).

Why: Django's full chain (settings.MIDDLEWARE) holds sync-only middlewares (WhiteNoise) and
``MiddlewareMixin`` ones (sessions, CSRF, auth, messages, ...). Under ASGI Django then runs the
whole chain on its one thread-sensitive thread and the async view from there through
``async_to_sync``: that thread waits for each webhook's database work, so deliveries were
handled one at a time, however many the platform sent at once. A platform's POST needs none of
sessions, CSRF (the view is exempt), auth, messages, static files or CORS.

What a webhook keeps from the full chain, answered the same way:

- the request id (``X-Request-ID`` answered, on every log line: ``RequestIdMiddleware``) and the
  request latency metric (``RequestMetricsMiddleware``, labelled by the same route);
- ``QueryStringGuard`` (NUL in the query string -> 400);
- ``PlatformRequestChecks``: the Host check (``ALLOWED_HOSTS``, 400 otherwise, as
  ``CommonMiddleware`` does) and the security headers of ``SecurityMiddleware`` and
  ``XFrameOptionsMiddleware`` (their methods called inline: they do no I/O);
- what is outside Django: proxy headers (fiko/proxy.py), the body limit (fiko/body_limit.py);
  the view's own size limit, secret/signature checks and its answers (503 with Retry-After on
  an outage, 200 for a bad update) are the view's.

What it leaves out on purpose: Django's ``request_started`` / ``request_finished`` signals
(``close_old_connections``, run on the thread-sensitive thread): this path touches the database
only through ``fiko.db.database_sync_to_async``, which returns its connection after every call,
so this thread never holds one; and the disconnect watcher: a delivery whose sender hung up is
still handled to the end (stored once; the platform's redelivery is then a duplicate).
"""
import re

from django.core.exceptions import RequestAborted
from django.core.handlers.asgi import ASGIHandler, get_script_prefix
from django.core.handlers.exception import convert_exception_to_response
from django.middleware.clickjacking import XFrameOptionsMiddleware
from django.middleware.security import SecurityMiddleware
from django.urls import set_script_prefix
from django.utils.module_loading import import_string

from fiko.middleware_base import BothModesMiddleware

# integrations/urls.py's route under fiko/urls.py's "integrations/" (<slug:platform>/<int:channel_id>).
WEBHOOK_PATH = re.compile(r"/integrations/[-a-zA-Z0-9_]+/[0-9]+/webhook/")

MIDDLEWARE = [
    "fiko.metrics.RequestMetricsMiddleware",
    "fiko.log_context.RequestIdMiddleware",
    "fiko.webhook_http.PlatformRequestChecks",
    "fiko.query_guard.QueryStringGuard",
]


def is_webhook(scope) -> bool:
    path, root = scope.get("path", ""), scope.get("root_path", "")
    if root and path.startswith(root):
        path = path[len(root):]
    return WEBHOOK_PATH.fullmatch(path) is not None


class PlatformRequestChecks(BothModesMiddleware):
    """The Host check and the security headers the full chain gives every answer."""

    def __init__(self, get_response):
        super().__init__(get_response)
        self._security = SecurityMiddleware(get_response)
        self._frame = XFrameOptionsMiddleware(get_response)

    def handle(self, request):
        return self._checked(request) or self._answered(request, self.get_response(request))

    async def ahandle(self, request):
        return self._checked(request) or self._answered(request, await self.get_response(request))

    def _checked(self, request):
        request.get_host()  # DisallowedHost -> 400 (convert_exception_to_response), as on the full chain
        redirect = self._security.process_request(request)  # SECURE_SSL_REDIRECT
        return self._answered(request, redirect) if redirect is not None else None

    def _answered(self, request, response):
        return self._frame.process_response(request, self._security.process_response(request, response))


class WebhookHandler(ASGIHandler):
    """Django's ASGI handler with ``MIDDLEWARE`` above as its chain, and no signal hops."""

    def load_middleware(self, is_async=False):
        self._view_middleware, self._template_response_middleware, self._exception_middleware = [], [], []
        handler = convert_exception_to_response(self._get_response_async)
        for path in reversed(MIDDLEWARE):
            handler = convert_exception_to_response(import_string(path)(handler))
        self._middleware_chain = handler

    async def handle(self, scope, receive, send):
        try:
            body_file = await self.read_body(receive)
        except RequestAborted:
            return
        try:
            set_script_prefix(get_script_prefix(scope))
            request, error_response = self.create_request(scope, body_file)
            if request is None:
                await self.send_response(error_response, send)
                return
            response = await self.run_get_response(request)
            try:
                await self.send_response(response, send)
            finally:
                request.close()
        finally:
            body_file.close()


class PlatformWebhooks:
    """HTTP: a platform webhook through ``WebhookHandler``, everything else through ``app``."""

    def __init__(self, app, webhooks=None):
        self.app = app
        self.webhooks = webhooks or WebhookHandler()

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and is_webhook(scope):
            return await self.webhooks(scope, receive, send)
        return await self.app(scope, receive, send)
