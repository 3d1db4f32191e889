"""ASGI entry point for Daphne and uvicorn: HTTP through Django, WebSockets through Channels."""
import logging
import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fiko.settings")

from django.core.asgi import get_asgi_application  # noqa: E402

django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from fiko import daphne_close, heap, log_redaction  # noqa: E402
from django.urls import re_path  # noqa: E402

from fiko.body_limit import RequestBodyLimit  # noqa: E402
from fiko.log_json import QuietProbes  # noqa: E402
from fiko.ops_endpoints import OpsEndpoints  # noqa: E402
from fiko.proxy import TrustedProxyHeaders  # noqa: E402
from fiko.webhook_http import PlatformWebhooks  # noqa: E402
from fiko.consumers import NoRouteConsumer  # noqa: E402
from fiko.routing import websocket_urlpatterns  # noqa: E402
from fiko.ws_auth import OriginGuard, TokenAuthMiddleware  # noqa: E402

daphne_close.install()
log_redaction.install_on_server_loggers()
logging.getLogger("uvicorn.access").addFilter(QuietProbes())

# The client's address and scheme from a trusted proxy's headers first (fiko/proxy.py), for
# everything after it; /healthz, /readyz and /metrics are answered before Django; a platform
# webhook takes a lean path (fiko/webhook_http.py), every other request Django's full chain.
application = TrustedProxyHeaders(ProtocolTypeRouter(
    {
        # 413 before Django spools a huge body to disk.
        "http": OpsEndpoints(RequestBodyLimit(PlatformWebhooks(django_asgi_app))),
        # A path no route serves is accepted and closed 4404 (NoRouteConsumer), not a handshake error.
        "websocket": OriginGuard(TokenAuthMiddleware(URLRouter(
            [*websocket_urlpatterns, re_path(r"", NoRouteConsumer.as_asgi())]))),
    }
))
# Start-up's objects made now and frozen, full collections rarer (fiko/heap.py): a full
# collection's pause was the real-time latency's p99.
heap.settle()
