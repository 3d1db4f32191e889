"""``python manage.py print_demo_token``: the demo logins and a ready staff JWT for ``demo``.

Printed by ``make run`` before the server starts (run ``seed_demo`` first). The token is
printed on purpose: this is a development convenience, never a log line.
"""
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from fiko.tokens import staff_tokens_for
from workspaces import demo


class Command(BaseCommand):
    help = "Print the demo logins and a fresh staff access token for the demo user."

    def add_arguments(self, parser):
        parser.add_argument("--base-url", default="http://127.0.0.1:8000", help="where the server listens")
        parser.add_argument("--token-only", action="store_true", help="print only the access token")

    def handle(self, *args, base_url, token_only, **options):
        user = get_user_model().objects.filter(username=demo.DEMO_USER[0]).first()
        if user is None:
            raise CommandError("No demo user: run 'python manage.py seed_demo' first.")
        access = staff_tokens_for(user)["access"]
        if token_only:
            self.stdout.write(access)
            return
        base = base_url.rstrip("/")
        ws = "ws" + base[len("http"):] if base.startswith("http") else base
        minutes = int(settings.SIMPLE_JWT["ACCESS_TOKEN_LIFETIME"].total_seconds() // 60)
        customer = next(c for c in demo.CONVERSATIONS if c.source == "web")
        self.stdout.write("\n".join([
            "",
            "=" * 78,
            f" Fiko is starting on {base}",
            f"   staff login:     {demo.DEMO_USER[0]} / {demo.DEMO_USER[1]}   (owner; also {base}/admin/)",
            f"   second agent:    {demo.DEMO_AGENT[0]} / {demo.DEMO_AGENT[1]}",
            f"   web customer:    {customer.email} / {demo.DEMO_CUSTOMER_PASSWORD}   (workspace '{demo.DEMO_SLUG}')",
            f"   staff JWT (valid {minutes} min; paste the next line into your shell):",
            "",
            f"export TOKEN={access}",
            "",
            " Try it:",
            f"   curl -s -X POST {base}/api/auth/token/ -H 'Content-Type: application/json' \\",
            "        -d '{\"username\": \"demo\", \"password\": \"demo\"}'",
            f"   curl -s {base}/api/conversations/ -H \"Authorization: Bearer $TOKEN\"",
            "   .venv/bin/python scripts/ws_demo.py        (a WebSocket walk-through; see --help)",
            f"   wscat -c \"{ws}/ws/conversations/?token=$TOKEN\"",
            f"   API docs: {base}/docs",
            "=" * 78,
            "",
        ]))
