"""``python manage.py seed_scale --workspace SLUG --customers N --conversations N --messages N``

Bulk-loads scale data into an existing workspace (made with ``create_workspace``; its owner is
the staff author and sees everything): COPY on PostgreSQL, plain inserts on SQLite (small N).
See workspaces/scale_seed.py for what the rows look like.
"""
import time

from django.core.management.base import BaseCommand, CommandError

from workspaces.models import Workspace
from workspaces.scale_seed import scale_seed


class Command(BaseCommand):
    help = "Bulk-load customers, conversations and messages into a workspace (for benchmarks)."

    def add_arguments(self, parser):
        parser.add_argument("--workspace", required=True, help="slug of a workspace made with create_workspace")
        parser.add_argument("--customers", type=int, required=True)
        parser.add_argument("--conversations", type=int, required=True)
        parser.add_argument("--messages", type=int, required=True)
        parser.add_argument("--seed", type=int, default=12, help="random seed (the same seed, the same data)")

    def handle(self, *args, workspace, customers, conversations, messages, seed, **options):
        if min(customers, conversations, messages) < 0:
            raise CommandError("counts must be 0 or more")
        if conversations and not customers:
            raise CommandError("conversations need at least one customer")
        found = Workspace.objects.filter(slug=workspace).first()
        if found is None:
            raise CommandError(f"no workspace '{workspace}' (create it with create_workspace)")
        started = time.monotonic()

        def progress(text):
            self.stdout.write(f"[{time.monotonic() - started:7.1f}s] {text}")

        try:
            report = scale_seed(workspace=found, customers=customers, conversations=conversations,
                                messages=messages, seed=seed, progress=progress)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        progress("done: " + ", ".join(f"{k} {v}" for k, v in report.counts.items()))
