"""``python manage.py create_workspace SLUG --owner USERNAME --password PASSWORD``

Creates a workspace and its owner (the user is created if missing; a given password is set).
Prints only the new workspace's id, so scripts can capture it.
"""
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from fiko.errors import FikoError
from workspaces.services import staff_user_ensure, workspace_create


class Command(BaseCommand):
    help = "Create a workspace and its owner (created if missing). Prints the workspace id."

    def add_arguments(self, parser):
        parser.add_argument("slug", help="lowercase letters, digits and hyphens, e.g. acme-shop")
        parser.add_argument("--owner", required=True, help="username of the owner (created if missing)")
        parser.add_argument("--password", help="the owner's password (required when the user is new)")
        parser.add_argument("--name", default="", help="display name (default: from the slug)")

    def handle(self, *args, slug, owner, password, name, **options):
        try:
            with transaction.atomic():
                user, _ = staff_user_ensure(username=owner, password=password)
                workspace = workspace_create(slug=slug, owner=user, name=name)
        except FikoError as exc:
            raise CommandError(exc.text) from None
        self.stdout.write(str(workspace.pk))
