"""Instagram as a platform adapter (integrations/platforms.py): a professional account (ig_id,
optional Facebook page), its access token, the app secret Meta signs webhooks with and the
verify token of the subscription handshake. Nothing is called on the platform when a channel is
saved (the callback URL is registered in Meta's dashboard)."""
import re

import httpx
from rest_framework import serializers

from integrations.delivery.outcome import OutboundMessage, SendOutcome
from .simulator import GRAPH_VERSION, GraphRoutes, InstagramState, instagram_notification, profile_of
from integrations.platforms import PlatformAdapter

from . import views
from .client import InstagramClient

NUMERIC_ID = re.compile(r"^\d{1,64}$")


def check_ig_id(value):
    if not NUMERIC_ID.match(value):
        raise serializers.ValidationError("The Instagram account id is a number.")
    return value


def check_page_id(value):
    if value and not NUMERIC_ID.match(value):
        raise serializers.ValidationError("The Facebook page id is a number.")
    return value


async def instagram_send(message, channel, outbound: OutboundMessage, record_part) -> SendOutcome:
    """Instagram has no captions: media with text goes as two messages, attachment first."""
    client = InstagramClient(channel)
    has_media = outbound.message_type != "text"
    if has_media and not message.external_id:
        if not outbound.media_url.startswith(("http://", "https://")):
            return SendOutcome.failed("the media has no public URL Instagram could fetch (set PUBLIC_BASE_URL)")
        outcome = await client.send_attachment(outbound.recipient_id, outbound.message_type, outbound.media_url)
        if outcome.status != SendOutcome.SENT or not outbound.text:
            return outcome
        await record_part(outcome.external_message_id)
    elif message.external_id and not (has_media and outbound.text):
        return SendOutcome.sent(message.external_id)
    return await client.send_text(outbound.recipient_id, outbound.text)


class InstagramAdapter(PlatformAdapter):
    name, label = views.PLATFORM, "Instagram"
    credential_fields = ("ig_id", "page_id", "access_token", "app_secret", "verify_token")
    required_on_create = ("ig_id", "access_token", "app_secret", "verify_token")
    credential_checks = {"ig_id": check_ig_id, "page_id": check_page_id}
    account_field, account_taken = "ig_id", "This Instagram account is already connected to another channel."
    methods = ("GET", "POST")
    simulator, simulator_state = GraphRoutes, InstagramState

    def default_name(self, channel) -> str:
        return "Instagram account"

    def answer_get(self, request, channel):
        return views.verify_subscription(request, channel)

    def refuse_body(self, request, channel, body):
        return views.refuse_body(request, channel, body)

    def delivery_headers(self, channel, body):
        return {views.SIGNATURE_HEADER: views.signature_for(body, channel.app_secret)}

    def body_ref(self, body):
        return views.mid_hint(body)

    async def receive(self, channel, payload, body):
        return await views.receive(channel, payload, body)

    async def send(self, *, message, channel, outbound, record_part):
        return await instagram_send(message, channel, outbound, record_part)

    def echo_event_keys(self, external_id: str) -> list[str]:
        return [f"mid:{external_id}"]  # Instagram echoes our sends back as message events

    def simulator_settings(self, base_url):
        return {"INSTAGRAM_GRAPH_API_BASE": f"{base_url}/{GRAPH_VERSION}"}

    def simulator_channel(self):
        from integrations.models import Channel

        return {"name": "Simulator Instagram", "ig_id": "17841400000000001", "access_token": "SIMULATOR-ACCESS-TOKEN",
                "app_secret": Channel.new_secret(), "verify_token": Channel.new_secret()}

    def say_payload(self, *, text, sender, channel, photo, sim_url):
        try:  # tell a running simulator this customer's name, so the profile fetch finds it
            httpx.post(f"{sim_url}/_sim/profiles", timeout=3, json=profile_of(sender))
        except httpx.HTTPError:
            pass  # no simulator running: the profile fetch just fails, the message still arrives
        return instagram_notification(text=text, sender=sender, account_id=channel.page_id or channel.ig_id)


ADAPTER = InstagramAdapter()
