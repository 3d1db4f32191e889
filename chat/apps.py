from django.apps import AppConfig


class ChatConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "chat"

    def ready(self):
        from fiko import openapi_auth  # noqa: F401  (registers the OpenAPI security schemes)
