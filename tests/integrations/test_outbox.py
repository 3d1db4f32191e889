"""The outbox against the local platform simulator: what the platform receives, what the row
records, and the message.updated each change publishes."""
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings

from conversations.models import Message
from conversations.services import message_send
from fiko.realtime import conversation_group
from integrations.delivery.outbox import outbox_claim_next, outbox_run_once
from integrations.platform_sim.server import tiny_png
from tests.integrations.conftest import BOT_TOKEN, IG_CUSTOMER_ID, TELEGRAM_CUSTOMER_ID

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def quick_retries(settings):
    settings.OUTBOX_RETRY_BASE_SECONDS = 0.2
    settings.OUTBOX_MAX_ATTEMPTS = 3


def send(conversation, user, content="Your order ships tomorrow.", **kwargs):
    message, _ = message_send(conversation=conversation, user=user, content=content, **kwargs)
    return message


def updates(listener):
    return [e["message"] for e in listener.drain() if e["type"] == "message.updated"]


def test_telegram_text_is_sent_and_the_result_published(platform, tg_conversation, staff, listen):
    message = send(tg_conversation, staff)
    assert message.delivery_status == "pending" and message.external_send_result is None
    listener = listen([conversation_group(tg_conversation.pk)])

    assert outbox_run_once() == 1
    assert [(s["method"], s["chat_id"], s["text"]) for s in platform.sent] == [
        ("sendMessage", int(TELEGRAM_CUSTOMER_ID), "Your order ships tomorrow.")]
    message.refresh_from_db()
    platform_id = f"{TELEGRAM_CUSTOMER_ID}:{platform.sent[0]['message_id']}"
    assert (message.delivery_status, message.external_id, message.send_attempts) == ("sent", platform_id, 1)
    assert message.external_send_result == {"success": True, "platform": "telegram", "external_message_id": platform_id}
    (wire,) = updates(listener)
    assert wire["id"] == message.pk and wire["delivery_status"] == "sent"
    assert wire["external_send_result"] == {"success": True, "platform": "telegram", "external_message_id": platform_id}
    assert BOT_TOKEN not in str(wire)
    assert outbox_run_once() == 0 and len(platform.sent) == 1  # done is done


@pytest.mark.parametrize("message_type, method", [
    ("image", "sendPhoto"), ("voice", "sendVoice"), ("video", "sendVideo"), ("file", "sendDocument")])
def test_telegram_media_is_uploaded_from_our_storage(platform, tg_conversation, staff, message_type, method):
    path = Path(settings.MEDIA_ROOT) / "chat" / "photo.png"
    path.parent.mkdir(parents=True)
    path.write_bytes(tiny_png())
    send(tg_conversation, staff, content="Here it is", message_type=message_type,
         media_url=f"{settings.PUBLIC_BASE_URL}/uploads/chat/photo.png")
    outbox_run_once()
    (sent,) = platform.sent
    assert sent["method"] == method and sent["caption"] == "Here it is"
    assert sent["media"] == {"upload": "photo.png", "bytes": len(tiny_png())}
    assert Message.objects.get().delivery_status == "sent"


def test_telegram_media_elsewhere_is_sent_by_url(platform, tg_conversation, staff):
    send(tg_conversation, staff, content="", message_type="image", media_url="https://cdn.example.com/p.jpg")
    outbox_run_once()
    assert platform.sent[0]["media"] == {"url": "https://cdn.example.com/p.jpg"}


def test_telegram_reply_refers_to_the_platform_message(platform, tg_conversation, staff, customer):
    from conversations.services import message_receive

    incoming, _ = message_receive(conversation=tg_conversation, customer=tg_conversation.customer, content="Where?",
                                  channel=tg_conversation.channel, external_id=f"{TELEGRAM_CUSTOMER_ID}:211")
    send(tg_conversation, staff, content="Here", reply_to_message_id=incoming.pk)
    outbox_run_once()
    assert platform.sent[0]["reply_to_message_id"] == 211


def test_blocked_bot_fails_with_the_platform_reason(platform, tg_conversation, staff, listen):
    platform.fail_next("blocked")
    message = send(tg_conversation, staff)
    listener = listen([conversation_group(tg_conversation.pk)])
    outbox_run_once()
    message.refresh_from_db()
    assert message.delivery_status == "failed" and message.next_attempt_at is None
    assert message.external_send_result == {"success": False, "platform": "telegram",
                                            "error": "Forbidden: bot was blocked by the user"}
    assert updates(listener)[0]["external_send_result"]["error"] == "Forbidden: bot was blocked by the user"
    assert outbox_run_once() == 0 and platform.sent == []  # a permanent failure is not retried


def test_rate_limit_waits_retry_after_then_sends(platform, tg_conversation, staff, listen):
    platform.fail_next("rate_limit", retry_after=1)
    message = send(tg_conversation, staff)
    listener = listen([conversation_group(tg_conversation.pk)])
    outbox_run_once()
    message.refresh_from_db()
    assert message.delivery_status == "pending" and message.send_attempts == 1
    assert message.external_send_result["success"] is False
    assert message.external_send_result["error"].startswith("Too Many Requests: retry after 1")
    assert 0.8 < (message.next_attempt_at - message.updated_at).total_seconds() <= 1.1

    assert outbox_run_once() == 0  # not before retry_after
    time.sleep(1.1)
    assert outbox_run_once() == 1
    message.refresh_from_db()
    assert message.delivery_status == "sent" and message.send_attempts == 2
    first, second = platform.attempts
    assert (first["result"], second["result"]) == ("rate_limit", "accepted")
    assert second["at"] - first["at"] >= 1.0
    assert [m["delivery_status"] for m in updates(listener)] == ["pending", "sent"]


def test_server_error_is_retried_with_backoff_then_sent(platform, tg_conversation, staff):
    platform.fail_next("server_error", count=2)
    message = send(tg_conversation, staff)
    outbox_run_once()
    message.refresh_from_db()
    assert "Internal Server Error (attempt 1 of 3, retrying in 0.2s)" == message.external_send_result["error"]
    time.sleep(0.25)
    outbox_run_once()
    message.refresh_from_db()
    assert "retrying in 0.4s" in message.external_send_result["error"]  # exponential
    time.sleep(0.45)
    outbox_run_once()
    message.refresh_from_db()
    assert message.delivery_status == "sent" and message.send_attempts == 3
    assert [a["result"] for a in platform.attempts] == ["server_error", "server_error", "accepted"]
    assert len(platform.sent) == 1


def test_network_failure_is_retried_until_the_attempts_run_out(tg_conversation, staff, settings):
    settings.TELEGRAM_API_BASE = "http://127.0.0.1:9"  # nothing listens
    message = send(tg_conversation, staff)
    for _ in range(3):
        outbox_run_once()
        time.sleep(0.85)
    message.refresh_from_db()
    assert message.delivery_status == "failed" and message.send_attempts == 3
    assert message.external_send_result["error"].startswith("gave up after 3 attempts: ConnectError")
    assert BOT_TOKEN not in message.external_send_result["error"]


def test_messages_of_one_conversation_leave_in_order(platform, tg_conversation, staff):
    platform.fail_next("server_error")
    first = send(tg_conversation, staff, content="first")
    second = send(tg_conversation, staff, content="second")
    outbox_run_once()  # first fails (retry later); second must wait behind it
    assert platform.sent == []
    second.refresh_from_db()
    assert second.delivery_status == "pending" and second.send_attempts == 0
    time.sleep(0.25)
    outbox_run_once()
    assert [s["text"] for s in platform.sent] == ["first", "second"]
    first.refresh_from_db()
    assert first.delivery_status == "sent"


def test_claimed_row_is_not_claimed_twice(platform, tg_conversation, staff):
    send(tg_conversation, staff)
    assert outbox_claim_next() is not None
    assert outbox_claim_next() is None  # leased to the first claimer


def test_instagram_text_and_media_with_text(platform, ig_conversation, staff, settings):
    send(ig_conversation, staff, content="Hello from the shop")
    send(ig_conversation, staff, content="Our catalogue", message_type="image",
         media_url="/uploads/chat/catalogue.png")
    outbox_run_once()
    assert [(s["recipient_id"], s.get("text"), s.get("media")) for s in platform.sent] == [
        (IG_CUSTOMER_ID, "Hello from the shop", None),
        (IG_CUSTOMER_ID, None, {"type": "image", "url": f"{settings.PUBLIC_BASE_URL}/uploads/chat/catalogue.png"}),
        (IG_CUSTOMER_ID, "Our catalogue", None),
    ]
    text, media = Message.objects.order_by("seq")
    assert text.external_id == platform.sent[0]["message_id"]
    assert media.external_id == platform.sent[1]["message_id"]  # the first part's id
    assert media.external_send_result["external_message_id"] == platform.sent[2]["message_id"]
    assert {m.delivery_status for m in (text, media)} == {"sent"}


def test_instagram_outside_the_messaging_window_fails_with_the_reason(platform, ig_conversation, staff):
    platform.fail_next("outside_window")
    message = send(ig_conversation, staff)
    outbox_run_once()
    message.refresh_from_db()
    assert message.delivery_status == "failed"
    assert message.external_send_result == {
        "success": False, "platform": "instagram",
        "error": "(#10) This message is sent outside of allowed window. (code 10, subcode 2018278)"}


def test_instagram_text_over_the_platform_limit_fails_with_the_reason(platform, ig_conversation, staff):
    message = send(ig_conversation, staff, content="x" * 1200)
    outbox_run_once()
    message.refresh_from_db()
    assert message.delivery_status == "failed"
    assert "must be less than or equal to 1000" in message.external_send_result["error"]


def test_instagram_rate_limit_is_retried(platform, ig_conversation, staff):
    platform.fail_next("rate_limit", retry_after=1)
    message = send(ig_conversation, staff)
    outbox_run_once()
    message.refresh_from_db()
    assert message.delivery_status == "pending"
    assert message.external_send_result["error"].startswith("(#613) Calls to this api have exceeded the rate limit.")
    time.sleep(1.05)
    outbox_run_once()
    message.refresh_from_db()
    assert message.delivery_status == "sent"


def test_disabled_channel_fails_the_message(platform, tg_conversation, staff):
    message = send(tg_conversation, staff)
    type(tg_conversation.channel).objects.filter(pk=tg_conversation.channel_id).update(is_active=False)
    outbox_run_once()
    message.refresh_from_db()
    assert message.delivery_status == "failed" and message.external_send_result["error"] == "the channel is disabled"
    assert platform.sent == []


def test_web_conversation_messages_never_enter_the_outbox(platform, conversation, staff):
    message = send(conversation, staff)
    assert message.delivery_status == "sent" and message.next_attempt_at is None
    assert outbox_run_once() == 0 and platform.sent == []


def wait_for(predicate, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_message_send_kicks_prompt_delivery_in_this_process(platform, tg_conversation, staff, settings, listen):
    """No worker runs: the commit of a pending message wakes this process's delivery thread."""
    import fiko.asgi  # noqa: F401 - this test process now serves the ASGI app, like Daphne would
    from integrations.delivery.inprocess import serving, thread_delivery

    settings.FIKO_DELIVERY_IN_PROCESS = True
    assert serving()
    listener = listen([conversation_group(tg_conversation.pk)])
    try:
        message = send(tg_conversation, staff, content="Right away")
        assert wait_for(lambda: Message.objects.filter(pk=message.pk, delivery_status="sent").exists())
        assert [s["text"] for s in platform.sent] == ["Right away"]
        # a retry later is also handled in-process: the thread sleeps until the row is due
        platform.fail_next("server_error")
        later = send(tg_conversation, staff, content="After a hiccup")
        assert wait_for(lambda: Message.objects.filter(pk=later.pk, delivery_status="sent").exists())
        assert [a["result"] for a in platform.attempts] == ["accepted", "server_error", "accepted"]
    finally:
        thread_delivery.stop()
    statuses = [(m["id"], m["delivery_status"]) for m in updates(listener)]
    assert (message.pk, "sent") in statuses and (later.pk, "sent") in statuses


def test_in_process_delivery_is_off_unless_enabled(platform, tg_conversation, staff, settings):
    settings.FIKO_DELIVERY_IN_PROCESS = False
    message = send(tg_conversation, staff)
    time.sleep(0.3)
    message.refresh_from_db()
    assert message.delivery_status == "pending" and platform.sent == []


def test_rescue_worker_leaves_fresh_rows_to_the_server_process(platform, tg_conversation, staff):
    """run_delivery_worker --grace (the default without Redis) only takes rows overdue by that long."""
    message = send(tg_conversation, staff)
    assert outbox_run_once(grace=10) == 0
    Message.objects.filter(pk=message.pk).update(next_attempt_at=message.next_attempt_at - timedelta(seconds=11))
    assert outbox_run_once(grace=10) == 1 and len(platform.sent) == 1
