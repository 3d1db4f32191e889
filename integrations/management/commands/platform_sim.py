"""python manage.py platform_sim                      serve the local platforms (every registered one)
python manage.py platform_sim --say "hello" --from alice [--platform NAME] [--photo] [--server URL]

Serving: a loopback HTTP server speaking the API subset Fiko uses of each registered platform
(integrations/platforms.py: the adapters' ``simulator``). Run the server with the settings it
prints (each adapter's ``simulator_settings``) and every reply an agent sends lands here (see
GET /_sim/sent).

--say: posts one realistic customer message (the adapter's ``say_payload``) to our own webhook,
exactly as the platform would (signed as its ``delivery_headers`` declare). Without a channel of
that platform, one is created in --workspace (default: demo) pointing at this simulator (the
adapter's ``simulator_channel``).
"""
import json
from urllib.parse import urlsplit

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.test import override_settings

from integrations import platforms
from integrations.models import Channel
from integrations.platform_sim.say import post_to_webhook
from integrations.platform_sim.server import PlatformSim


def sim_url_default() -> str:
    """The simulator the settings point at, when local (the first platform's setting that is)."""
    for adapter in platforms.adapters():
        for name, suffix in adapter.simulator_settings("").items():  # the setting's value past the base
            base = getattr(settings, name, "")
            if base.endswith(suffix) and urlsplit(base).hostname in ("127.0.0.1", "localhost", "::1"):
                return base[:len(base) - len(suffix)]
    return "http://127.0.0.1:8081"


class Command(BaseCommand):
    help = "Run the local stand-in of the platforms, or post a customer message to our webhook."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8081)
        parser.add_argument("--say", help="post this customer message to our webhook and exit")
        parser.add_argument("--from", dest="sender", default="alice", help="customer name (same name, same customer)")
        parser.add_argument("--platform", choices=platforms.names(), default=platforms.names()[0])
        parser.add_argument("--channel", type=int, help="channel id (default: the first active one of --platform)")
        parser.add_argument("--workspace", default="demo", help="workspace slug for an auto-created channel")
        parser.add_argument("--photo", action="store_true", help="send the simulator's photo (where the platform has one), --say as caption")
        parser.add_argument("--sim-url", help="the running simulator (default: where the platform settings point when it is "
                                              "local, else http://127.0.0.1:8081)")
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
        payload = platforms.adapter_for(channel.platform).say_payload(
            text=options["say"], sender=options["sender"], channel=channel, photo=options["photo"],
            sim_url=self.sim_url)
        try:
            response = post_to_webhook(channel, payload)
        except Exception as exc:  # noqa: BLE001 - tell the newcomer what to start
            raise CommandError(f"could not reach {channel.webhook_url} ({type(exc).__name__}); is `make run` up?")
        self.stdout.write(f"{channel.platform} channel {channel.pk}: {response.status_code} {response.text}")

    def serve(self, host, port):
        sim = PlatformSim(host=host, port=port)
        self.stdout.write(
            f"Platform simulator on http://{host}:{port}\n"
            + "".join(f"  {name}={value}\n" for name, value in sim.settings().items()) +
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
        data = {"platform": platform, **platforms.adapter_for(platform).simulator_channel()}
        with override_settings(**platforms.simulator_settings(self.sim_url)):  # what it calls on the platform (setWebhook) goes to the simulator
            channel, report = channel_create(workspace_id=workspace.pk, data=data)
        self.stdout.write(f"created {platform} channel {channel.pk} in workspace {slug!r}"
                          + (f"; setWebhook: {json.dumps(report)}" if report else ""))
        return channel
