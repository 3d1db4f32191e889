"""python manage.py platform_sim                      serve the local platform (Telegram + Instagram)
python manage.py platform_sim --say "hello" --from alice [--platform instagram] [--photo] [--server URL]

Serving: a loopback HTTP server speaking the Telegram Bot API and Instagram Graph/Send API subset
Fiko uses. Run the server with TELEGRAM_API_BASE=http://127.0.0.1:8081 and
INSTAGRAM_GRAPH_API_BASE=http://127.0.0.1:8081/v21.0 and every reply an agent sends lands here
(see GET /_sim/sent).

--say: posts one realistic customer message to our own webhook, exactly as the platform would
(Telegram: the secret header; Instagram: the X-Hub-Signature-256 signature). Without a channel
of that platform, one is created in --workspace (default: demo) pointing at this simulator.
"""
import json
from urllib.parse import urlsplit

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.test import override_settings

from integrations.models import Channel
from integrations.platform_sim.say import instagram_notification, post_to_webhook, telegram_update
from integrations.platform_sim.server import PlatformSim

SIM_BOT_TOKEN = "7000000001:SIMULATORsimulatorSIMULATOR0001"


def sim_url_default() -> str:
    base = settings.TELEGRAM_API_BASE
    if urlsplit(base).hostname in ("127.0.0.1", "localhost", "::1"):
        return base
    return "http://127.0.0.1:8081"


class Command(BaseCommand):
    help = "Run the local Telegram/Instagram stand-in, or post a customer message to our webhook."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8081)
        parser.add_argument("--say", help="post this customer message to our webhook and exit")
        parser.add_argument("--from", dest="sender", default="alice", help="customer name (same name, same customer)")
        parser.add_argument("--platform", choices=["telegram", "instagram"], default="telegram")
        parser.add_argument("--channel", type=int, help="channel id (default: the first active one of --platform)")
        parser.add_argument("--workspace", default="demo", help="workspace slug for an auto-created channel")
        parser.add_argument("--photo", action="store_true", help="Telegram: send the simulator's photo, --say as caption")
        parser.add_argument("--sim-url", help="the running simulator (default: TELEGRAM_API_BASE when it is local, "
                                              "else http://127.0.0.1:8081)")
        parser.add_argument("--server", help="our server, whose webhook --say posts to (default: PUBLIC_BASE_URL; "
                                             "`make run` writes both to .env.dev)")

    def handle(self, *args, **options):
        if options["say"] is None:
            return self.serve(options["host"], options["port"])
        if options["server"]:
            with override_settings(PUBLIC_BASE_URL=options["server"].rstrip("/")):  # channel.webhook_url
                return self.say(options)
        return self.say(options)

    def say(self, options):
        self.sim_url = (options["sim_url"] or sim_url_default()).rstrip("/")
        channel = self.channel_for(options)
        if options["platform"] == "telegram":
            payload = telegram_update(text=options["say"], sender=options["sender"],
                                      photo_file_id="sim-photo" if options["photo"] else None)
        else:
            self.register_profile(options["sender"])
            payload = instagram_notification(text=options["say"], sender=options["sender"],
                                             account_id=channel.page_id or channel.ig_id)
        try:
            response = post_to_webhook(channel, payload)
        except Exception as exc:  # noqa: BLE001 - tell the newcomer what to start
            raise CommandError(f"could not reach {channel.webhook_url} ({type(exc).__name__}); is `make run` up?")
        self.stdout.write(f"{channel.platform} channel {channel.pk}: {response.status_code} {response.text}")

    def serve(self, host, port):
        sim = PlatformSim(host=host, port=port)
        self.stdout.write(
            f"Platform simulator on http://{host}:{port}\n"
            f"  TELEGRAM_API_BASE=http://{host}:{port}\n"
            f"  INSTAGRAM_GRAPH_API_BASE=http://{host}:{port}/{sim.graph_version}\n"
            f"  sent messages: GET http://{host}:{port}/_sim/sent    failures: POST /_sim/fail"
            ' {"kind": "blocked|outside_window|rate_limit|server_error|hang", "count": 1}\n'
            "Ctrl+C to stop."
        )
        try:
            sim.serve_forever()
        except KeyboardInterrupt:
            pass
        except OSError as exc:
            raise CommandError(f"cannot listen on {host}:{port} ({exc.strerror}); "
                               "pick another port (make run: SIM_PORT=...) or turn it off (PLATFORM_SIM=0)")

    def channel_for(self, options) -> Channel:
        platform = options["platform"]
        if options["channel"]:
            channel = Channel.objects.filter(pk=options["channel"], platform=platform).first()
            if channel is None:
                raise CommandError(f"no {platform} channel with id {options['channel']}")
            return channel
        channel = Channel.objects.filter(platform=platform, is_active=True).order_by("id").first()
        return channel or self.create_channel(platform, options["workspace"])

    def create_channel(self, platform: str, slug: str) -> Channel:
        from integrations.services import channel_create
        from workspaces.models import Workspace

        workspace = Workspace.objects.filter(slug=slug).first()
        if workspace is None:
            raise CommandError(f"no {platform} channel and no workspace {slug!r} (run `python manage.py seed_demo`)")
        if platform == "telegram":
            data = {"platform": platform, "name": "Simulator bot", "bot_token": SIM_BOT_TOKEN}
        else:
            data = {"platform": platform, "name": "Simulator Instagram", "ig_id": "17841400000000001",
                    "access_token": "SIMULATOR-ACCESS-TOKEN", "app_secret": Channel.new_secret(),
                    "verify_token": Channel.new_secret()}
        with override_settings(TELEGRAM_API_BASE=self.sim_url):  # its setWebhook goes to the simulator
            channel, report = channel_create(workspace_id=workspace.pk, data=data)
        self.stdout.write(f"created {platform} channel {channel.pk} in workspace {slug!r}"
                          + (f"; setWebhook: {json.dumps(report)}" if report else ""))
        return channel

    def register_profile(self, sender: str) -> None:
        """Tell a running simulator this customer's name, so the profile fetch finds it."""
        import httpx

        from integrations.platform_sim.say import stable_number

        try:
            httpx.post(f"{self.sim_url}/_sim/profiles", timeout=3, json={
                "igsid": str(stable_number(sender, 16)), "name": sender.title(),
                "username": sender.lower().replace(" ", "_")})
        except httpx.HTTPError:
            pass  # no simulator running: the profile fetch just fails, the message still arrives
