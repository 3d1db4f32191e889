"""``python manage.py seed_demo``: the demo workspace ``demo`` (idempotent)."""
from django.core.management.base import BaseCommand

from workspaces import demo


class Command(BaseCommand):
    help = "Create the demo workspace 'demo' with staff demo/demo, customers, tags and conversations. Idempotent."

    def handle(self, *args, **options):
        report = demo.demo_seed()
        if report.created:
            self.stdout.write(f"Demo workspace '{demo.DEMO_SLUG}' (id {report.workspace.pk}): created "
                              + ", ".join(report.created) + ".")
        else:
            self.stdout.write(f"Demo workspace '{demo.DEMO_SLUG}' (id {report.workspace.pk}) is already seeded.")
