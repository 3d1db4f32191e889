"""`manage.py platform_sim --say`: a realistic customer message posted over HTTP to our running
server's webhook (pytest-django's live server), exactly as the platform would post it."""
import pytest
from django.core.management import call_command

from conversations.models import Message
from customers.models import Customer
from integrations.models import Channel
from tests.factories import make_workspace

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def live(live_server, settings):
    settings.PUBLIC_BASE_URL = live_server.url
    return live_server


def test_say_on_telegram_creates_a_simulator_channel_and_the_message_arrives(live, platform, capsys):
    make_workspace("demo")
    call_command("platform_sim", "--say", "Hello, is my order ready?", "--from", "alice", "--sim-url", platform.base_url)
    channel = Channel.objects.get()
    assert (channel.platform, channel.name) == ("telegram", "Simulator bot")
    assert platform.webhooks["7000000001"]["url"] == channel.webhook_url  # registered at the simulator
    out = capsys.readouterr().out
    assert f"telegram channel {channel.pk}: 200" in out and '"result": "stored"' in out
    message = Message.objects.get()
    assert message.content == "Hello, is my order ready?" and message.conversation.customer.username == "alice"

    call_command("platform_sim", "--say", "with a photo", "--from", "alice", "--photo", "--sim-url", platform.base_url)
    assert Customer.objects.count() == 1  # same name, same customer
    photo = Message.objects.get(content="with a photo")
    assert photo.message_type == "image" and photo.media_url.startswith(f"{live.url}/uploads/media/{channel.pk}/")


def test_say_on_instagram_is_signed_and_the_profile_comes_from_the_simulator(live, platform, instagram_channel):
    call_command("platform_sim", "--say", "Salam!", "--from", "sara karimi", "--platform", "instagram",
                 "--sim-url", platform.base_url)
    customer = Customer.objects.get()
    assert (customer.first_name, customer.last_name, customer.username) == ("Sara", "Karimi", "sara_karimi")
    assert Message.objects.get().content == "Salam!"


def test_say_without_a_server_explains(platform, telegram_channel, settings):
    from django.core.management.base import CommandError

    settings.PUBLIC_BASE_URL = "http://127.0.0.1:9"
    with pytest.raises(CommandError, match="is `make run` up"):
        call_command("platform_sim", "--say", "hi", "--sim-url", platform.base_url)


def test_simulated_deliveries_never_share_an_id():
    """Ids come from a counter, not the clock: two `--say` within the same millisecond used to
    build the same update_id / message_id and the second was dropped as a duplicate."""
    from integrations.instagram.simulator import instagram_notification
    from integrations.telegram.simulator import telegram_update

    updates = [telegram_update(text="same", sender="alice") for _ in range(200)]
    assert len({u["update_id"] for u in updates}) == 200
    assert len({u["message"]["message_id"] for u in updates}) == 200
    assert all(0 < u["update_id"] < 2**31 and 0 < u["message"]["message_id"] < 2**31 for u in updates)
    mids = {instagram_notification(text="same", sender="alice", account_id="1")["entry"][0]["messaging"][0]
            ["message"]["mid"] for _ in range(200)}
    assert len(mids) == 200


def test_two_says_in_a_row_are_both_stored(live, platform):
    make_workspace("demo")
    for _ in range(2):
        call_command("platform_sim", "--say", "same words twice", "--from", "alice", "--sim-url", platform.base_url)
    assert Message.objects.filter(content="same words twice").count() == 2
