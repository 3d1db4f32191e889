from django.apps import AppConfig
from django.db.models.signals import m2m_changed


class CustomersConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "customers"

    def ready(self):
        from .models import Customer
        from .tag_copies import links_changed

        # Every change of a customer's tag links, either direction: both copies of its tag ids follow.
        m2m_changed.connect(links_changed, sender=Customer.tags.through, dispatch_uid="customers.tag_copies")
