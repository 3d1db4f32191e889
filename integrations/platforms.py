"""The platform adapter registry: everything Fiko does differently per messaging platform is
declared by that platform's adapter, and the rest of the code asks the registry.

An adapter (a ``PlatformAdapter`` subclass, one per platform, in the platform's own folder)
declares:

- ``name``: the value stored in ``Channel.platform``, ``Customer.source`` and
  ``Conversation.source``, and the webhook path ``/integrations/<name>/<channel_id>/webhook/``;
- ``credential_fields`` (Channel columns it uses; write-only on the API), ``required_on_create``,
  ``credential_checks`` (field -> check of one value), ``account_field`` (the account a channel
  connects, at most one active channel each) and ``fill_defaults``/``default_name``;
- ``channel_saved``: what happens on the platform when a channel is created or updated (Telegram
  registers its webhook), and ``reports_webhook`` (the API answer carries that report);
- the webhook: ``methods``, ``refuse_before_body``/``refuse_body`` (secret or signature), an
  optional ``answer_get`` (a subscription handshake), ``delivery_headers`` (what the platform
  signs a delivery with, for the simulator), ``body_ref`` (what names an undecodable
  body in the log) and ``receive`` (parse and store; the shared opening and the answers to the
  database being down live in integrations/webhooks.py);
- sending: ``send`` (one stored staff message -> a ``SendOutcome``) and ``echo_event_keys``
  (the ids under which the platform echoes our own sends back, recorded so they are known);
- ``simulator``: the local platform simulator's routes for it (integrations/platform_sim), a
  mixin class whose ``simulate(handler, path)`` answers and returns True, or False to pass;
  ``simulator_state``: a class made with the simulator (fresh on every reset) holding the
  platform's state there and its helpers; ``simulator_settings(base_url)``: the settings that
  point Fiko at a simulator; ``simulator_channel()``: the channel ``manage.py platform_sim``
  creates when there is none; ``say_payload(...)``: the delivery its ``--say`` posts.

Telegram and Instagram are registered when the app is ready (``BUILT_IN``); a new platform
adds its folder, one adapter, and one line there (docs/platforms.md, "Adding a platform").
"""
from importlib import import_module

from django.http import HttpResponse

BUILT_IN = ("integrations.telegram.adapter", "integrations.instagram.adapter")  # each has ADAPTER


class PlatformAdapter:
    name: str = ""
    label: str = ""
    credential_fields: tuple[str, ...] = ()
    required_on_create: tuple[str, ...] = ()
    credential_checks: dict = {}  # field -> callable(value) returning the value or raising ValidationError
    account_field: str = ""  # e.g. the bot token: one active channel per account
    account_taken: str = ""  # the error when that account is connected already
    reports_webhook = False
    methods: tuple[str, ...] = ("POST",)
    simulator = None
    simulator_state = None

    # --- channels ---------------------------------------------------------------------------
    def fill_defaults(self, channel) -> None:
        """Before a new channel is checked and saved (e.g. a generated webhook secret)."""

    def default_name(self, channel) -> str:
        return f"{self.label} channel"

    def channel_saved(self, channel, changed: set | None) -> dict | None:
        """After the commit; ``changed`` is None for a new channel. Returns the platform's
        report (shown in the API answer when ``reports_webhook``), or None when not called."""
        return None

    # --- webhook ------------------------------------------------------------------------------
    def refuse_before_body(self, request, channel) -> str | None:
        """Why the request is refused before its body is read (403), or None."""
        return None

    def refuse_body(self, request, channel, body: bytes) -> str | None:
        """Why the request is refused once its raw body is read (403), or None."""
        return None

    def answer_get(self, request, channel) -> HttpResponse:
        raise NotImplementedError  # only called when "GET" is in ``methods``

    def delivery_headers(self, channel, body: bytes) -> dict:
        """The headers the platform authenticates a delivery to us with (the simulator's
        ``--say`` posts like the platform would)."""
        return {}

    def body_ref(self, body: bytes) -> str | None:
        """What names a body we could not decode in the log line (an update id), if anything."""
        return None

    async def receive(self, channel, payload, body: bytes) -> HttpResponse:
        """A verified, decoded delivery: parse it, store it, answer (integrations.webhooks)."""
        raise NotImplementedError

    # --- sending ------------------------------------------------------------------------------
    async def send(self, *, message, channel, outbound, record_part):
        """Send what the platform has not accepted yet; returns a SendOutcome
        (integrations/delivery/senders.py describes ``record_part``)."""
        raise NotImplementedError

    def echo_event_keys(self, external_id: str) -> list[str]:
        return []

    # --- the local platform simulator (integrations/platform_sim) -----------------------------
    def simulator_settings(self, base_url: str) -> dict:
        """The settings (name -> value) that point Fiko at a simulator serving on ``base_url``."""
        return {}

    def simulator_channel(self) -> dict:
        """The create data (without ``platform``) of the channel ``platform_sim --say`` makes
        when the workspace has none of this platform."""
        raise NotImplementedError

    def say_payload(self, *, text: str, sender: str, channel, photo: bool, sim_url: str) -> dict:
        """The delivery ``platform_sim --say`` posts to ``channel``'s webhook: ``sender`` (a
        name; the same name, the same customer) writes ``text`` (with the simulator's photo when
        ``photo`` and the platform has one); ``sim_url`` is the running simulator."""
        raise NotImplementedError


_adapters: dict[str, PlatformAdapter] = {}


def register(adapter: PlatformAdapter) -> PlatformAdapter:
    if not adapter.name or len(adapter.name) > 16:  # the stored columns hold 16 characters
        raise ValueError("a platform name is 1 to 16 characters")
    _adapters[adapter.name] = adapter
    return adapter


def unregister(name: str) -> None:
    _adapters.pop(name, None)


def register_built_in() -> None:
    for module in BUILT_IN:
        register(import_module(module).ADAPTER)


def adapter_for(name: str) -> PlatformAdapter | None:
    return _adapters.get(name)


def adapters() -> list[PlatformAdapter]:
    return list(_adapters.values())


def names() -> list[str]:
    return list(_adapters)


def choices() -> list[tuple[str, str]]:
    return [(adapter.name, adapter.label) for adapter in _adapters.values()]


def all_credential_fields() -> set[str]:
    return {field for adapter in _adapters.values() for field in adapter.credential_fields}


def check_credential(field: str, value):
    """The declared check of one credential value (the first adapter declaring it)."""
    for adapter in _adapters.values():
        check = adapter.credential_checks.get(field)
        if check is not None:
            return check(value)
    return value


def simulators() -> list:
    return [adapter.simulator for adapter in _adapters.values() if adapter.simulator is not None]


def simulator_settings(base_url: str) -> dict:
    """The settings that point Fiko at a platform simulator serving on ``base_url``."""
    return {name: value for adapter in _adapters.values() for name, value in adapter.simulator_settings(base_url).items()}
