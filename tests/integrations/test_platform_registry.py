"""A third platform is one adapter (integrations/platforms.py): "EchoChat" is declared and
registered here, in the test, and nothing else in Fiko changes. Its channel is created over the
REST API (credential fields, what saving registers on the platform), a customer's message comes
in through its webhook (the shared opening verifies it, the adapter parses it), is stored and
reaches the staff socket; the staff reply goes out through the outbox to the platform simulator,
a real local HTTP server answering the fake platform's API with the routes the adapter declares."""
import json
from urllib.parse import urlsplit

import httpx
import pytest
from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from django.core.management import call_command
from django.test import AsyncClient, Client
from rest_framework.test import APIClient

from conversations.models import Conversation, Message
from integrations import platform_http, platforms, webhooks
from integrations.delivery.inprocess import loop_delivery
from integrations.delivery.outcome import SendOutcome
from integrations.inbound import InboundPart, PlatformPerson, inbound_message_receive
from integrations.models import Channel
from integrations.platform_sim.say import next_platform_id
from tests.factories import make_workspace
from tests.integrations.conftest import BOT_TOKEN
from tests.sockets import connect, receive_until, staff_token

pytestmark = pytest.mark.django_db(transaction=True)
KEY_HEADER = "X-Echochat-Key"


class EchoChatAPI:
    """EchoChat's API on the simulator: POST /echochat/webhook {url}, POST /echochat/send {to, text}."""

    def simulate(self, path: str) -> bool:
        if not path.startswith("/echochat/"):
            return False
        params, _ = self._params()
        if path == "/echochat/webhook":
            with self.sim._lock:
                self.sim.webhooks["echochat"] = {"url": params["url"]}
            self._json(200, {"ok": True, "description": "webhook registered"})
        else:
            sent = self.sim._record({"platform": "echochat", "to": params["to"], "text": params["text"],
                                     "message_id": self.sim.next_id()})
            self._json(200, {"id": f"ec-{sent['message_id']}"})
        return True


class EchoChat(platforms.PlatformAdapter):
    name, label = "echochat", "EchoChat"
    credential_fields = required_on_create = ("access_token",)
    account_field, account_taken = "access_token", "This EchoChat key is connected already."
    reports_webhook, simulator, api_base = True, EchoChatAPI, ""

    def channel_saved(self, channel, changed):
        return httpx.post(f"{self.api_base}/echochat/webhook", json={"url": channel.webhook_url}).json()

    def refuse_before_body(self, request, channel):
        return None if request.headers.get(KEY_HEADER) == channel.access_token else "wrong key"

    async def receive(self, channel, payload, body):
        result = await database_sync_to_async(inbound_message_receive)(
            channel=channel, event_key=f"msg:{payload['id']}", person=PlatformPerson(payload["from"], first_name="Eve"),
            parts=[InboundPart(payload["id"], payload["text"])])
        return webhooks.accepted(result=result.status)

    def delivery_headers(self, channel, body):
        return {KEY_HEADER: channel.access_token}

    def simulator_channel(self):
        return {"name": "Simulator EchoChat", "access_token": "ec-sim-key"}

    def say_payload(self, *, text, sender, channel, photo, sim_url):
        return {"id": f"say-{next_platform_id()}", "from": sender, "text": text}

    async def send(self, *, message, channel, outbound, record_part):
        async with platform_http.client() as http:
            answer = await http.post(f"{self.api_base}/echochat/send", json={"to": outbound.recipient_id,
                                                                             "text": outbound.text})
        return SendOutcome.sent(answer.json()["id"]) if answer.status_code == 200 else SendOutcome.retry(answer.text)


@pytest.fixture
def echochat(platform, settings):
    settings.FIKO_DELIVERY_IN_PROCESS = True
    adapter = platforms.register(EchoChat())
    adapter.api_base = platform.base_url
    yield adapter
    platforms.unregister(EchoChat.name)


def owner_api(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {staff_token(user)}")
    return client


async def deliver(path: str, payload: dict, key: str):
    return await AsyncClient().post(path, data=json.dumps(payload), content_type="application/json",
                                    headers={KEY_HEADER: key})


async def test_a_fake_platform_registered_in_the_test_runs_a_message_in_and_out(echochat, platform, staff):
    created = await sync_to_async(lambda: owner_api(staff).post(
        "/api/channels/", {"platform": "echochat", "access_token": "ec-key-1"}, format="json"))()
    assert created.status_code == 201, created.content
    channel = created.json()
    assert channel["name"] == "EchoChat channel" and "access_token" not in channel
    assert channel["set_webhook"] == {"ok": True, "description": "webhook registered"}
    assert platform.webhooks["echochat"]["url"] == channel["webhook_url"]
    webhook = urlsplit(channel["webhook_url"]).path
    assert webhook == f"/integrations/echochat/{channel['id']}/webhook/"

    delivery = {"id": "in-1", "from": "eve-77", "text": "Is the blue one in stock?"}
    refused = await deliver(webhook, delivery, "nope")
    assert (refused.status_code, refused.json()) == (403, {"ok": False, "detail": "wrong key"})
    first = await deliver(webhook, delivery, "ec-key-1")
    assert (first.status_code, first.json()) == (200, {"ok": True, "result": "stored"})
    conversation = await database_sync_to_async(Conversation.objects.select_related("customer").get)(
        channel_id=channel["id"])
    assert (conversation.source, conversation.customer.source) == ("echochat", "echochat")

    socket, connected, _ = await connect(f"/ws/chat/{conversation.pk}/", staff_token(staff))
    assert connected
    try:
        history = await receive_until(socket, "recent_messages")
        assert [m["content"] for m in history["messages"]] == ["Is the blue one in stock?"]
        second = await deliver(webhook, {"id": "in-2", "from": "eve-77", "text": "Size 42 please"}, "ec-key-1")
        assert second.status_code == 200
        incoming = await receive_until(socket, "chat_message")
        assert (incoming["message"]["content"], incoming["message"]["sender_type"]) == ("Size 42 please", "customer")

        await socket.send_json_to({"type": "chat_message", "content": "Yes, in stock!"})
        reply = await receive_until(socket, "chat_message")
        assert reply["message"]["delivery_status"] == "pending"
        updated = await receive_until(socket, "message_updated", timeout=5)
    finally:
        await loop_delivery.stop()
        await socket.disconnect()
    sent = platform.sent_for("echochat")
    assert [(s["to"], s["text"]) for s in sent] == [("eve-77", "Yes, in stock!")]
    platform_id = f"ec-{sent[0]['message_id']}"
    assert updated["message"]["id"] == reply["message"]["id"]
    assert updated["message"]["delivery_status"] == "sent"
    assert updated["message"]["external_send_result"] == {
        "success": True, "platform": "echochat", "external_message_id": platform_id}
    stored = await database_sync_to_async(Message.objects.get)(pk=reply["message"]["id"])
    assert (stored.external_id, stored.channel_id) == (platform_id, channel["id"])


def test_platform_sim_says_on_a_registered_platform(echochat, live_server, settings, platform, capsys):
    settings.PUBLIC_BASE_URL = live_server.url
    make_workspace("demo")
    call_command("platform_sim", "--say", "Hello from EchoChat", "--from", "eve-8", "--platform", "echochat",
                 "--sim-url", platform.base_url)
    channel = Channel.objects.get()
    assert (channel.platform, channel.name) == ("echochat", "Simulator EchoChat")
    assert platform.webhooks["echochat"]["url"] == channel.webhook_url
    assert f"echochat channel {channel.pk}: 200" in capsys.readouterr().out
    message = Message.objects.select_related("conversation__customer").get()
    assert (message.content, message.conversation.customer.source) == ("Hello from EchoChat", "echochat")


def test_the_registry_decides_which_credentials_a_platform_takes(echochat, staff):
    api = owner_api(staff)
    wrong = api.post("/api/channels/", {"platform": "echochat", "access_token": "k", "bot_token": BOT_TOKEN},
                     format="json")
    assert wrong.status_code == 400 and "Not a echochat setting." in json.dumps(wrong.json())
    missing = api.post("/api/channels/", {"platform": "echochat"}, format="json")
    assert missing.status_code == 400 and "access_token" in json.dumps(missing.json())
    assert not Channel.objects.exists()
    platforms.unregister(EchoChat.name)
    gone = api.post("/api/channels/", {"platform": "echochat", "access_token": "k"}, format="json")
    assert gone.status_code == 400 and "platform" in json.dumps(gone.json())


def test_a_platform_nobody_registered_has_no_webhook(workspace):
    channel = Channel.objects.create(workspace=workspace, platform="gone", access_token="k")
    answer = Client().post(f"/integrations/gone/{channel.pk}/webhook/", data="{}", content_type="application/json")
    assert (answer.status_code, answer.json()) == (404, {"ok": False, "detail": "no such channel"})
