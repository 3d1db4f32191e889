"""/integrations/instagram/<id>/webhook/: subscription check, signatures, and what each kind of
messaging event (fixtures/*.json) does."""
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone

from conversations.models import Conversation, Message, ReadMarker
from conversations.services import message_send
from customers.models import Customer
from fiko.realtime import conversation_group, workspace_group
from integrations.delivery.outbox import outbox_run_once
from integrations.models import InboundEvent
from integrations.platform_sim.server import tiny_png
from tests.integrations.conftest import (
    IG_ACCESS_TOKEN, IG_CUSTOMER_ID, database_unreachable, load_fixture, post_instagram,
)

pytestmark = pytest.mark.django_db(transaction=True)
TEXT_MID = load_fixture("instagram", "text.json")["entry"][0]["messaging"][0]["message"]["mid"]


@pytest.fixture
def sim(platform):
    platform.set_profile(IG_CUSTOMER_ID, name="Leila Ahmadi", username="leila.ahmadi", picture=tiny_png((9, 9, 9)))
    platform.add_media("ig-photo-1.jpg", tiny_png((200, 10, 10)), "image/jpeg")
    platform.add_media("ig-voice-1.mp4", b"\x00\x00\x00\x18ftypM4A voice", "audio/mp4")
    platform.add_media("ig-video-1.mp4", b"\x00\x00\x00\x18ftypmp42 video", "video/mp4")
    platform.add_media("ig-file-1.pdf", b"%PDF-1.7 file", "application/pdf")
    return platform


def fixture(name, sim=None, **replacements):
    if sim is not None:
        replacements["SIM"] = sim.base_url
    return load_fixture("instagram", name, **replacements)


def test_subscription_check_answers_the_challenge(instagram_channel):
    url = f"/integrations/instagram/{instagram_channel.pk}/webhook/"
    ok = Client().get(url, {"hub.mode": "subscribe", "hub.verify_token": "verify-me-please", "hub.challenge": "1158201444"})
    assert ok.status_code == 200 and ok.content == b"1158201444" and ok["Content-Type"].startswith("text/plain")
    wrong = Client().get(url, {"hub.mode": "subscribe", "hub.verify_token": "nope", "hub.challenge": "1"})
    assert wrong.status_code == 403
    mode = Client().get(url, {"hub.mode": "unsubscribe", "hub.verify_token": "verify-me-please", "hub.challenge": "1"})
    assert mode.status_code == 403


def test_text_message_with_profile_fetched_from_the_graph_api(instagram_channel, sim, workspace, listen):
    listener = listen([workspace_group(workspace.pk)])
    response = post_instagram(instagram_channel, fixture("text.json"))
    assert response.status_code == 200 and response.json() == {"ok": True, "results": ["stored"]}

    customer = Customer.objects.get()
    assert (customer.source, customer.external_id) == ("instagram", IG_CUSTOMER_ID)
    assert (customer.first_name, customer.last_name, customer.username) == ("Leila", "Ahmadi", "leila.ahmadi")
    assert customer.profile_fetched_at is not None
    # the picture is ours, fetched and stored; never the platform's URL
    prefix = f"{settings.PUBLIC_BASE_URL}/uploads/media/{instagram_channel.pk}/profiles/{IG_CUSTOMER_ID}-"
    assert customer.profile_picture.startswith(prefix) and customer.profile_picture.endswith(".png")
    stored = Path(settings.MEDIA_ROOT) / customer.profile_picture.split("/uploads/", 1)[1]
    assert stored.read_bytes() == tiny_png((9, 9, 9))

    message = Message.objects.get()
    assert (message.content, message.sender_type, message.external_id) == ("Hi! Do you ship to Shiraz?", "customer", TEXT_MID)
    assert Conversation.objects.get().title == "instagram - Leila Ahmadi"
    events = listener.drain()
    created = [e for e in events if e["type"] == "message.created"]
    assert len(created) == 1 and created[0]["conversation"]["customer"]["profile_picture"] == customer.profile_picture


def test_profile_is_fetched_once_and_again_when_stale(instagram_channel, sim):
    post_instagram(instagram_channel, fixture("text.json"))
    post_instagram(instagram_channel, fixture("reply.json"))
    profile_calls = [c for c in sim.calls if c == ("instagram", "<id>")]
    assert len(profile_calls) == 1

    Customer.objects.update(profile_fetched_at=timezone.now() - timedelta(hours=25))
    sim.set_profile(IG_CUSTOMER_ID, name="Leila Ahmadi-Rad", username="leila.rad")
    post_instagram(instagram_channel, fixture("image.json", sim))
    assert len([c for c in sim.calls if c == ("instagram", "<id>")]) == 2
    customer = Customer.objects.get()
    assert (customer.last_name, customer.username) == ("Ahmadi-Rad", "leila.rad")


def test_profile_failure_does_not_lose_the_message(instagram_channel, settings):
    settings.INSTAGRAM_GRAPH_API_BASE = "http://127.0.0.1:9/v21.0"  # nothing listens there
    assert post_instagram(instagram_channel, fixture("text.json")).status_code == 200
    customer = Customer.objects.get()
    assert customer.profile_fetched_at is None and customer.first_name == ""
    assert Message.objects.get().content == "Hi! Do you ship to Shiraz?"


@pytest.mark.parametrize("name, message_type, data", [
    ("image.json", "image", tiny_png((200, 10, 10))),
    ("audio.json", "voice", b"\x00\x00\x00\x18ftypM4A voice"),
    ("video.json", "video", b"\x00\x00\x00\x18ftypmp42 video"),
    ("file.json", "file", b"%PDF-1.7 file"),
])
def test_attachments_are_fetched_to_our_storage(instagram_channel, sim, name, message_type, data):
    assert post_instagram(instagram_channel, fixture(name, sim)).status_code == 200
    message = Message.objects.get()
    assert message.message_type == message_type
    assert message.media_url.startswith(f"{settings.PUBLIC_BASE_URL}/uploads/media/{instagram_channel.pk}/")
    assert sim.base_url not in message.media_url
    assert (Path(settings.MEDIA_ROOT) / message.media_url.split("/uploads/", 1)[1]).read_bytes() == data


def test_attachment_that_cannot_be_fetched_becomes_a_marker(instagram_channel, sim):
    payload = fixture("image.json", sim)
    payload["entry"][0]["messaging"][0]["message"]["attachments"][0]["payload"]["url"] = f"{sim.base_url}/_sim/media/gone.jpg"
    assert post_instagram(instagram_channel, payload).status_code == 200
    message = Message.objects.get()
    assert (message.message_type, message.content) == ("text", "[Image could not be downloaded from Instagram]")


def test_unsupported_attachment_is_a_marker_without_the_platform_url(instagram_channel, sim):
    assert post_instagram(instagram_channel, fixture("share.json")).status_code == 200
    message = Message.objects.get()
    assert message.content == "Our spring collection\n[Instagram reel: this kind of message is not supported yet]"
    assert "lookaside" not in message.content and message.media_url == ""


def test_reply_to_points_at_the_replied_message(instagram_channel, sim):
    post_instagram(instagram_channel, fixture("text.json"))
    post_instagram(instagram_channel, fixture("reply.json"))
    original = Message.objects.get(external_id=TEXT_MID)
    assert Message.objects.get(content="This one please").reply_to_id == original.pk


def test_customer_read_receipt_moves_the_customer_marker(instagram_channel, sim, staff):
    post_instagram(instagram_channel, fixture("text.json"))
    conversation = Conversation.objects.get()
    message_send(conversation=conversation, user=staff, content="Yes, 2-3 days.")
    assert outbox_run_once() == 1
    ours = Message.objects.get(sender_type="user")
    assert ours.delivery_status == "sent" and ours.external_id.startswith("aWdf")

    from tests.conftest import LayerListener

    listener = LayerListener([conversation_group(conversation.pk)])
    response = post_instagram(instagram_channel, fixture("read.json", READ_MID=ours.external_id))
    assert response.status_code == 200 and response.json()["results"] == ["stored"]
    marker = ReadMarker.objects.get(reader_type="customer")
    assert marker.reader_id == conversation.customer_id and marker.last_read_seq == ours.seq
    conversation.refresh_from_db()
    assert conversation.customer_unread_count == 0
    reads = [e for e in listener.drain() if e["type"] == "messages.read"]
    assert len(reads) == 1
    assert (reads[0]["reader_type"], reads[0]["reader_id"], reads[0]["last_read_message_id"]) == (
        "customer", conversation.customer_id, ours.pk)


def test_echo_of_a_message_we_sent_is_not_stored_again(instagram_channel, sim, staff):
    post_instagram(instagram_channel, fixture("text.json"))
    message_send(conversation=Conversation.objects.get(), user=staff, content="Yes, 2-3 days.")
    outbox_run_once()
    ours = Message.objects.get(sender_type="user")
    response = post_instagram(instagram_channel, fixture("echo.json", ECHO_MID=ours.external_id, ECHO_TEXT="Yes, 2-3 days."))
    assert response.status_code == 200 and response.json()["results"] == ["duplicate"]
    assert Message.objects.filter(sender_type="user").count() == 1
    assert len(sim.sent) == 1


def test_echo_of_a_message_still_in_flight_marks_it_sent_and_it_is_never_resent(instagram_channel, sim, staff, listen):
    """The platform accepted our send but its answer has not been written (slow, or we crashed):
    the echo carries the id, so the row is finished and the outbox does not send it again."""
    post_instagram(instagram_channel, fixture("text.json"))
    conversation = Conversation.objects.get()
    pending, _ = message_send(conversation=conversation, user=staff, content="Yes, 2-3 days.")
    listener = listen([conversation_group(conversation.pk)])
    mid = "aWdfZAG1faXRlbToxOklHTWVzc2FnZAUlEOjE3ODQxNDA1ODIyMzA0OTE0OjM0MDI4MjM2NjAccepted"
    response = post_instagram(instagram_channel, fixture("echo.json", ECHO_MID=mid, ECHO_TEXT="Yes, 2-3 days."))
    assert response.status_code == 200

    pending.refresh_from_db()
    assert (pending.delivery_status, pending.external_id) == ("sent", mid)
    assert pending.external_send_result == {"success": True, "platform": "instagram", "external_message_id": mid}
    assert Message.objects.filter(sender_type="user").count() == 1
    updated = [e for e in listener.drain() if e["type"] == "message.updated"]
    assert updated and updated[-1]["message"]["delivery_status"] == "sent"
    assert outbox_run_once() == 0 and sim.sent == []


def test_echo_of_a_message_sent_from_the_instagram_app_is_stored_as_staff(instagram_channel, sim):
    post_instagram(instagram_channel, fixture("text.json"))
    mid = "aWdfZAG1faXRlbToxOklHTWVzc2FnZAUlEOjE3ODQxNDA1ODIyMzA0OTE0OjM0MDI4MjM2NnativeApp"
    response = post_instagram(instagram_channel, fixture("echo.json", ECHO_MID=mid, ECHO_TEXT="Sent from my phone"))
    assert response.status_code == 200
    message = Message.objects.get(external_id=mid)
    assert (message.sender_type, message.role, message.delivery_status) == ("user", "support", "sent")
    assert message.content == "Sent from my phone" and message.sender_user_id is None
    assert message.external_send_result["success"] is True
    assert Conversation.objects.count() == 1
    # not re-sent, and a second echo delivery stores nothing new
    assert outbox_run_once() == 0 and sim.sent == []
    post_instagram(instagram_channel, fixture("echo.json", ECHO_MID=mid, ECHO_TEXT="Sent from my phone"))
    assert Message.objects.filter(external_id=mid).count() == 1


def test_message_edit_and_unsend_update_the_row(instagram_channel, sim, listen):
    post_instagram(instagram_channel, fixture("text.json"))
    message = Message.objects.get()
    listener = listen([conversation_group(message.conversation_id)])
    post_instagram(instagram_channel, fixture("message_edit.json"))
    message.refresh_from_db()
    assert message.content == "Hi! Do you ship to Shiraz and Isfahan?" and message.is_edited
    post_instagram(instagram_channel, fixture("unsend.json"))
    message.refresh_from_db()
    assert message.is_deleted and Message.objects.count() == 1
    updated = [e["message"] for e in listener.drain() if e["type"] == "message.updated"]
    assert [(m["is_edited"], m["is_deleted"]) for m in updated] == [(True, False), (True, True)]


def test_duplicate_mid_stores_nothing_new(instagram_channel, sim):
    post_instagram(instagram_channel, fixture("text.json"))
    response = post_instagram(instagram_channel, fixture("text.json"))
    assert response.json()["results"] == ["duplicate"]
    assert Message.objects.count() == 1 and InboundEvent.objects.filter(event_key=f"mid:{TEXT_MID}").count() == 1


def test_unknown_event_kind_is_ignored_with_200(instagram_channel, sim):
    response = post_instagram(instagram_channel, fixture("reaction.json"))
    assert response.status_code == 200 and response.json()["results"] == ["ignored"]
    assert not Message.objects.exists() and not Customer.objects.exists()


@pytest.mark.parametrize("signature", ["", "sha256=" + "0" * 64, "sha1=abc"])
def test_wrong_or_missing_signature_is_403_and_stores_nothing(instagram_channel, sim, signature):
    response = post_instagram(instagram_channel, fixture("text.json"), signature=signature)
    assert response.status_code == 403
    assert not Message.objects.exists() and not Customer.objects.exists() and not InboundEvent.objects.exists()


def test_signature_is_over_the_raw_bytes(instagram_channel, sim):
    import json

    from integrations.instagram.views import signature_for

    raw = json.dumps(fixture("text.json"), indent=2).encode()
    reformatted = json.dumps(json.loads(raw)).encode()  # same JSON, other bytes
    response = post_instagram(instagram_channel, None, raw=reformatted,
                              signature=signature_for(raw, instagram_channel.app_secret))
    assert response.status_code == 403
    assert post_instagram(instagram_channel, None, raw=raw).status_code == 200


def test_body_over_one_mebibyte_is_413(instagram_channel, sim):
    payload = fixture("text.json")
    payload["padding"] = "x" * (1024 * 1024)
    assert post_instagram(instagram_channel, payload).status_code == 413
    assert not Message.objects.exists()


def test_access_token_never_reaches_the_answer_or_rows(instagram_channel, sim):
    response = post_instagram(instagram_channel, fixture("image.json", sim))
    assert IG_ACCESS_TOKEN not in response.content.decode()
    message = Message.objects.get()
    assert IG_ACCESS_TOKEN not in message.media_url and IG_ACCESS_TOKEN not in Customer.objects.get().profile_picture


def test_database_unavailable_is_503_then_the_redelivery_is_stored(instagram_channel, sim):
    with database_unreachable():
        response = post_instagram(instagram_channel, fixture("text.json"))
    assert response.status_code == 503 and response["Retry-After"]
    assert not Message.objects.exists()
    assert post_instagram(instagram_channel, fixture("text.json")).status_code == 200
    assert Message.objects.count() == 1
