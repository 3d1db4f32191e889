"""``python manage.py print_demo_token``: the demo logins, a ready staff JWT for ``demo`` and what
to try next (the banner `make run` prints before its server starts), or with ``--export`` just
``export TOKEN=...`` (`make token`). Run ``seed_demo`` first. The token is printed on purpose:
this is a development convenience, never a log line.
"""
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from fiko.tokens import staff_tokens_for
from workspaces import demo


def local_sim_url() -> str | None:
    """The platform simulator the settings point at, when it runs on this machine."""
    base = urlsplit(settings.TELEGRAM_API_BASE)
    if base.hostname in ("127.0.0.1", "localhost", "::1"):
        return f"{base.scheme}://{base.netloc}"
    return None


class Command(BaseCommand):
    help = "Print the demo logins and a fresh staff access token for the demo user."

    def add_arguments(self, parser):
        parser.add_argument("--base-url", help="where the server listens (default: PUBLIC_BASE_URL)")
        parser.add_argument("--starting", action="store_true", help="the banner of `make run`, before it serves")
        parser.add_argument("--token-only", action="store_true", help="print only the access token")
        parser.add_argument("--export", action="store_true", help="print only `export TOKEN=<access token>`")

    def handle(self, *args, base_url, starting, token_only, export, **options):
        user = get_user_model().objects.filter(username=demo.DEMO_USER[0]).first()
        if user is None:
            raise CommandError("No demo user: run 'python manage.py seed_demo' first.")
        access = staff_tokens_for(user)["access"]
        minutes = int(settings.SIMPLE_JWT["ACCESS_TOKEN_LIFETIME"].total_seconds() // 60)
        if token_only:
            self.stdout.write(access)
        elif export:
            self.stdout.write(f"# staff JWT for {user.username}, valid {minutes} min: paste the next line into your shell\n"
                              f"export TOKEN={access}")
        else:
            self.stdout.write("\n".join(self.banner((base_url or settings.PUBLIC_BASE_URL).rstrip("/"),
                                                    access, minutes, starting)))

    def banner(self, base: str, access: str, minutes: int, starting: bool) -> list[str]:
        ws = "ws" + base[len("http"):] if base.startswith("http") else base
        logins = demo.demo_logins()
        lines = [
            "",
            "=" * 78,
            f" Fiko is starting on {base}" if starting else f" Fiko on {base} (`make run` serves it)",
            f"   inbox console:   {base}/inbox/   (log in as {logins[0].login} / {logins[0].password})",
            f"   start page:      {base}/",
            f"   docs:            {base}/docs (REST)   {base}/docs/protocol/ (WebSockets)",
            f"   staff login:     {logins[0].login} / {logins[0].password}   (owner; also {base}/admin/)",
            f"   second agent:    {logins[1].login} / {logins[1].password}",
            f"   web customer:    {logins[2].login} / {logins[2].password}   ({logins[2].note})",
            f"   staff JWT (valid {minutes} min; paste the next line into your shell):",
            "",
            f"export TOKEN={access}",
            "",
        ]
        if settings.DEBUG:
            lines += [
                " A UI on its own dev server may call this one from any http://localhost:<port> or",
                " http://127.0.0.1:<port> origin (DEBUG). Any other origin: list it, comma-separated,",
                " e.g.  make run ALLOWED_ORIGINS=http://192.168.1.20:5173,https://ui.example.test",
            ]
        if settings.ALLOWED_ORIGINS:
            lines.append(f" ALLOWED_ORIGINS: {', '.join(settings.ALLOWED_ORIGINS)}")
        sim = local_sim_url()
        if sim:
            lines.append(f" Platform simulator: {sim}   (replies sent to Telegram/Instagram: curl -s {sim}/_sim/sent)")
        lines += [
            "",
            " In another terminal (same server, database and simulator: `make run` wrote .env.dev):",
            '   make say TEXT="Hello!" FROM=alice          a Telegram customer writes in (PLATFORM=instagram)',
            "   make token                                 a fresh staff JWT;  make shell: a Django shell",
            f"   .venv/bin/python scripts/ws_demo.py --base {base}        (a WebSocket walk-through; --help)",
            f"   curl -s -X POST {base}/api/auth/token/ -H 'Content-Type: application/json' \\",
            "        -d '{\"username\": \"demo\", \"password\": \"demo\"}'",
            f"   curl -s {base}/api/conversations/ -H \"Authorization: Bearer $TOKEN\"",
            f"   wscat -c \"{ws}/ws/conversations/?token=$TOKEN\"",
            "=" * 78,
            "",
        ]
        return lines
