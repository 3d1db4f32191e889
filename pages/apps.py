from django.apps import AppConfig


class PagesConfig(AppConfig):
    """The server's own HTML pages: the landing page at ``/`` and the docs pages under ``/docs``
    (the WebSocket protocol, rendered from docs/protocol.md; Swagger UI and ReDoc, offline)."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "pages"
