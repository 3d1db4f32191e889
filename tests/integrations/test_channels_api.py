"""/api/channels/: owners connect Telegram bots and Instagram accounts. Secrets only go in;
Telegram's setWebhook is called at the simulator and its answer reported."""
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from integrations.models import Channel
from tests.factories import make_user
from tests.integrations.conftest import BOT_TOKEN
from tests.sockets import staff_token

pytestmark = pytest.mark.django_db(transaction=True)
SECRETS = ("bot_token", "webhook_secret", "ig_id", "page_id", "access_token", "app_secret", "verify_token")


def client_for(user):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {staff_token(user)}")
    return client


@pytest.fixture
def api(staff):  # alice owns "acme"
    return client_for(staff)


@pytest.fixture
def agent(workspace):
    return make_user("bob", workspace=workspace, role="agent")


INSTAGRAM = {"platform": "instagram", "name": "fiko.shop", "ig_id": "17841405822304914", "page_id": "104512345678901",
             "access_token": "EAAGm0PX4ZCpsBAKZAZC-page-token", "app_secret": "9f8e7d6c5b4a39281706f5e4d3c2b1a0",
             "verify_token": "verify-me-please"}


def test_owner_creates_a_telegram_channel_and_the_webhook_is_registered(api, platform, workspace):
    response = api.post("/api/channels/", {"platform": "telegram", "bot_token": BOT_TOKEN}, format="json")
    assert response.status_code == 201
    body = response.json()
    channel = Channel.objects.get()
    assert body == {
        "id": channel.pk, "workspace_id": workspace.pk, "platform": "telegram", "name": "@fiko_sim_6123456789_bot",
        "is_active": True, "webhook_url": f"http://127.0.0.1:8000/integrations/telegram/{channel.pk}/webhook/",
        "created_at": body["created_at"], "updated_at": body["updated_at"],
        "set_webhook": {"ok": True, "description": "Webhook was set"},
    }
    assert len(channel.webhook_secret) >= 32  # generated
    assert platform.webhooks["6123456789"] == {"url": body["webhook_url"], "secret_token": channel.webhook_secret,
                                               "allowed_updates": ["message", "edited_message"]}
    assert BOT_TOKEN not in response.content.decode() and channel.webhook_secret not in response.content.decode()


def test_given_webhook_secret_is_used(api, platform):
    secret = "my-own-secret_0123456789"
    api.post("/api/channels/", {"platform": "telegram", "name": "Shop bot", "bot_token": BOT_TOKEN,
                                "webhook_secret": secret}, format="json")
    assert Channel.objects.get().webhook_secret == secret
    assert platform.webhooks["6123456789"]["secret_token"] == secret


def test_set_webhook_failure_is_reported_not_fatal(api, settings):
    settings.TELEGRAM_API_BASE = "http://127.0.0.1:9"  # nothing listens
    settings.PLATFORM_HTTP_TIMEOUT_SECONDS = 2
    response = api.post("/api/channels/", {"platform": "telegram", "name": "Shop bot", "bot_token": BOT_TOKEN},
                        format="json")
    assert response.status_code == 201
    report = response.json()["set_webhook"]
    assert report["ok"] is False and report["description"].startswith("ConnectError")
    assert BOT_TOKEN not in response.content.decode()
    assert Channel.objects.filter(is_active=True).count() == 1


def test_owner_creates_an_instagram_channel(api):
    response = api.post("/api/channels/", INSTAGRAM, format="json")
    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"id", "workspace_id", "platform", "name", "is_active", "webhook_url", "created_at", "updated_at"}
    assert body["webhook_url"].endswith(f"/integrations/instagram/{body['id']}/webhook/")
    channel = Channel.objects.get()
    assert (channel.ig_id, channel.page_id, channel.verify_token) == ("17841405822304914", "104512345678901",
                                                                     "verify-me-please")
    for secret in ("EAAGm0PX4ZCpsBAKZAZC-page-token", "9f8e7d6c5b4a39281706f5e4d3c2b1a0", "verify-me-please"):
        assert secret not in response.content.decode()


@pytest.mark.parametrize("payload, field", [
    ({"platform": "telegram"}, "bot_token"),
    ({"platform": "telegram", "bot_token": "not-a-token"}, "bot_token"),
    ({"platform": "telegram", "bot_token": BOT_TOKEN, "webhook_secret": "short"}, "webhook_secret"),
    ({"platform": "telegram", "bot_token": BOT_TOKEN, "app_secret": "x"}, "app_secret"),
    ({**INSTAGRAM, "verify_token": ""}, "verify_token"),
    ({**INSTAGRAM, "ig_id": "abc"}, "ig_id"),
    ({**INSTAGRAM, "bot_token": BOT_TOKEN}, "bot_token"),
    ({"platform": "whatsapp"}, "platform"),
    ({"platform": "telegram", "bot_token": BOT_TOKEN, "color": "red"}, "color"),
])
def test_bad_input_is_400_with_the_field_and_creates_nothing(api, platform, payload, field):
    response = api.post("/api/channels/", payload, format="json")
    assert response.status_code == 400
    assert field in response.content.decode()
    assert not Channel.objects.exists()


def test_the_same_bot_cannot_be_connected_twice(api, platform):
    api.post("/api/channels/", {"platform": "telegram", "bot_token": BOT_TOKEN}, format="json")
    response = api.post("/api/channels/", {"platform": "telegram", "bot_token": BOT_TOKEN}, format="json")
    assert response.status_code == 400 and "already connected" in response.json()["detail"]
    assert Channel.objects.count() == 1


def test_agents_are_forbidden(agent, telegram_channel, platform):
    client = client_for(agent)
    assert client.get("/api/channels/").status_code == 403
    assert client.post("/api/channels/", {"platform": "telegram", "bot_token": BOT_TOKEN}, format="json").status_code == 403
    assert client.get(f"/api/channels/{telegram_channel.pk}/").status_code == 403
    assert client.patch(f"/api/channels/{telegram_channel.pk}/", {"name": "x"}, format="json").status_code == 403
    assert client.delete(f"/api/channels/{telegram_channel.pk}/").status_code == 403
    telegram_channel.refresh_from_db()
    assert telegram_channel.is_active and telegram_channel.name == "@fiko_shop_bot"


def test_another_workspace_channel_looks_missing(other_staff, telegram_channel, platform):
    client = client_for(other_staff)
    missing = client.get("/api/channels/999999/")
    assert missing.status_code == 404
    for response in (client.get(f"/api/channels/{telegram_channel.pk}/"),
                     client.patch(f"/api/channels/{telegram_channel.pk}/", {"name": "x"}, format="json"),
                     client.delete(f"/api/channels/{telegram_channel.pk}/")):
        assert response.status_code == 404 and response.json() == missing.json()
    assert client.get("/api/channels/").json()["results"] == []
    telegram_channel.refresh_from_db()
    assert telegram_channel.is_active


def test_creating_in_a_workspace_one_does_not_own(api, other_workspace, workspace, platform):
    response = api.post("/api/channels/", {"platform": "telegram", "bot_token": BOT_TOKEN,
                                           "workspace": other_workspace.pk}, format="json")
    assert response.status_code == 404 and not Channel.objects.exists()


def test_owner_of_several_workspaces_says_which(staff, other_workspace, platform):
    from workspaces.models import Membership

    Membership.objects.create(workspace=other_workspace, user=staff, role="owner")
    api = client_for(staff)
    response = api.post("/api/channels/", {"platform": "telegram", "bot_token": BOT_TOKEN}, format="json")
    assert response.status_code == 400 and response.json()["field"] == "workspace"
    response = api.post("/api/channels/", {"platform": "telegram", "bot_token": BOT_TOKEN,
                                           "workspace": other_workspace.pk}, format="json")
    assert response.status_code == 201 and response.json()["workspace_id"] == other_workspace.pk


def test_update_token_registers_the_webhook_again(api, telegram_channel, platform):
    new_token = "7000000002:AAHnewTokenAfterRevokeBotFather01"
    response = api.patch(f"/api/channels/{telegram_channel.pk}/", {"bot_token": new_token, "name": "Shop"}, format="json")
    assert response.status_code == 200
    assert response.json()["set_webhook"] == {"ok": True, "description": "Webhook was set"}
    telegram_channel.refresh_from_db()
    assert (telegram_channel.bot_token, telegram_channel.name) == (new_token, "Shop")
    assert platform.webhooks["7000000002"]["url"] == telegram_channel.webhook_url


def test_rename_does_not_call_telegram(api, telegram_channel, platform):
    response = api.patch(f"/api/channels/{telegram_channel.pk}/", {"name": "Support bot"}, format="json")
    assert response.status_code == 200 and response.json()["set_webhook"] is None
    assert platform.calls == []


def test_platform_cannot_change(api, telegram_channel, platform):
    response = api.patch(f"/api/channels/{telegram_channel.pk}/", {"platform": "instagram"}, format="json")
    assert response.status_code == 400


def test_disable_and_delete_remove_the_webhook_and_keep_history(api, telegram_channel, platform):
    api.patch(f"/api/channels/{telegram_channel.pk}/", {"bot_token": BOT_TOKEN.replace("AAH", "AAX")}, format="json")
    assert "6123456789" in platform.webhooks
    response = api.patch(f"/api/channels/{telegram_channel.pk}/", {"is_active": False}, format="json")
    assert response.json()["is_active"] is False
    assert response.json()["set_webhook"] == {"ok": True, "description": "Webhook was deleted"}
    assert "6123456789" not in platform.webhooks
    api.patch(f"/api/channels/{telegram_channel.pk}/", {"is_active": True}, format="json")
    assert "6123456789" in platform.webhooks
    assert api.delete(f"/api/channels/{telegram_channel.pk}/").status_code == 204
    telegram_channel.refresh_from_db()
    assert not telegram_channel.is_active and "6123456789" not in platform.webhooks
    assert api.get("/api/channels/").json()["count"] == 1  # still listed, disabled


def test_list_shows_owned_channels_with_write_only_secrets(api, telegram_channel, instagram_channel):
    body = api.get("/api/channels/").json()
    assert body["count"] == 2 and body["next"] is None
    assert [c["platform"] for c in body["results"]] == ["telegram", "instagram"]
    for item in body["results"]:
        assert not set(SECRETS) & set(item)


def test_unauthenticated_is_401():
    assert APIClient().get("/api/channels/").status_code == 401


@pytest.mark.parametrize("rows", [1, 20])
def test_list_query_count_does_not_grow(api, workspace, rows, django_assert_num_queries):
    Channel.objects.bulk_create([Channel(workspace=workspace, platform="telegram", name=f"bot {n}",
                                         bot_token=f"{1000 + n}:AAHtoken{n:020d}", webhook_secret=f"s{n}")
                                 for n in range(rows)])
    with CaptureQueriesContext(connection) as ctx:
        body = api.get("/api/channels/").json()
    assert body["count"] == rows
    # auth user + memberships + page (no COUNT: a page that is not full tells the total): the same
    # at 1 and at 20 rows
    assert len(ctx.captured_queries) == 3, [q["sql"] for q in ctx.captured_queries]
