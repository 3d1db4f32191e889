from django.apps import AppConfig


class IntegrationsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "integrations"

    def ready(self):
        from conversations.services import message_pending_delivery

        from .delivery.inprocess import on_message_pending
        from .platforms import register_built_in

        register_built_in()

        message_pending_delivery.connect(on_message_pending, dispatch_uid="integrations.delivery.kick")
