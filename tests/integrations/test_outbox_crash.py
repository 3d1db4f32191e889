"""Crash safety of the outbox: a worker process killed mid-send, a platform answer that never
arrives. The worker is a real ``manage.py run_delivery_worker`` subprocess sharing the test
database, killed with SIGKILL while the simulator holds its request."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from conversations.services import message_send
from integrations.delivery.outbox import outbox_run_once
from tests.integrations.conftest import load_fixture, post_instagram

pytestmark = pytest.mark.django_db(transaction=True)
ROOT = Path(__file__).resolve().parents[2]
LEASE = 1.0


@pytest.fixture(autouse=True)
def short_lease(settings):
    settings.OUTBOX_LEASE_SECONDS = LEASE
    settings.OUTBOX_RETRY_BASE_SECONDS = 0.2


def database_url() -> str:
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    auth = db["USER"] + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def start_worker(platform) -> subprocess.Popen:
    env = dict(os.environ, DJANGO_SETTINGS_MODULE="fiko.test_settings", DATABASE_URL=database_url(),
               TELEGRAM_API_BASE=platform.telegram_api_base, INSTAGRAM_GRAPH_API_BASE=platform.graph_api_base,
               OUTBOX_LEASE_SECONDS=str(LEASE), MEDIA_ROOT=str(settings.MEDIA_ROOT))
    command = [sys.executable, "manage.py", "run_delivery_worker", "--once", "--grace", "0"]
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def kill_while_held(worker: subprocess.Popen, platform, timeout: float = 30) -> None:
    """Wait until the simulator is holding the worker's request, then SIGKILL the worker."""
    deadline = time.monotonic() + timeout
    while platform.held == 0:
        if worker.poll() is not None or time.monotonic() > deadline:
            output = worker.stdout.read().decode() if worker.poll() is not None else ""
            worker.kill()
            pytest.fail(f"the worker never reached the platform: {output}")
        time.sleep(0.05)
    worker.send_signal(signal.SIGKILL)
    worker.wait(10)


def test_send_interrupted_by_a_killed_worker_is_resumed_and_sent_once(platform, tg_conversation, staff):
    message, _ = message_send(conversation=tg_conversation, user=staff, content="Your refund is on its way.")
    platform.fail_next("hang", hold_seconds=30)  # the platform never answers: the worker dies waiting
    kill_while_held(start_worker(platform), platform)

    message.refresh_from_db()
    assert message.delivery_status == "pending" and message.send_attempts == 1
    assert platform.sent == []
    assert outbox_run_once() == 0  # the dead worker's lease still holds the row
    time.sleep(LEASE + 0.1)
    assert outbox_run_once() == 1
    message.refresh_from_db()
    assert message.delivery_status == "sent" and message.send_attempts == 2
    assert [s["text"] for s in platform.sent] == ["Your refund is on its way."]  # exactly once


def test_recorded_part_is_never_sent_again_after_a_crash(platform, ig_conversation, staff):
    """Instagram media + text go as two sends. The attachment's id is written before the text is
    sent; the worker dies during the text. The resumed send only sends the text."""
    message, _ = message_send(conversation=ig_conversation, user=staff, content="Our catalogue",
                              message_type="image", media_url="https://cdn.example.com/catalogue.png")
    platform.fail_next("accept", platform="instagram")
    platform.fail_next("hang", platform="instagram", hold_seconds=30)
    kill_while_held(start_worker(platform), platform)

    message.refresh_from_db()
    (attachment,) = platform.sent
    assert message.delivery_status == "pending" and message.external_id == attachment["message_id"]
    time.sleep(LEASE + 0.1)
    assert outbox_run_once() == 1
    message.refresh_from_db()
    assert message.delivery_status == "sent"
    assert [s.get("media", {}).get("type") or s["text"] for s in platform.sent] == ["image", "Our catalogue"]


def test_instagram_echo_closes_the_window_when_the_answer_is_lost(platform, ig_conversation, instagram_channel,
                                                                  staff, settings):
    """The platform accepted the message but its answer never reached us (timeout): the send is
    due for a retry. Instagram's echo brings the id; the retry then sends nothing."""
    settings.PLATFORM_HTTP_TIMEOUT_SECONDS = 0.3
    message, _ = message_send(conversation=ig_conversation, user=staff, content="Shipped today!")
    platform.fail_next("accept_then_hang", platform="instagram", hold_seconds=2)
    outbox_run_once()
    message.refresh_from_db()
    assert message.delivery_status == "pending" and message.external_send_result["success"] is False
    (accepted,) = platform.sent

    echo = load_fixture("instagram", "echo.json", ECHO_MID=accepted["message_id"], ECHO_TEXT="Shipped today!")
    assert post_instagram(instagram_channel, echo).status_code == 200
    message.refresh_from_db()
    assert (message.delivery_status, message.external_id) == ("sent", accepted["message_id"])
    time.sleep(0.3)
    assert outbox_run_once() == 0
    assert len(platform.sent) == 1


def test_documented_window_telegram_answer_lost_after_acceptance_is_sent_again(platform, tg_conversation, staff,
                                                                              settings):
    """The one window no one can close (docs/platforms.md): Telegram accepted the message, the
    answer never reached us, and the Bot API has no idempotency key or echo. The retry sends it
    again. This test pins that behaviour down so the documentation stays true."""
    settings.PLATFORM_HTTP_TIMEOUT_SECONDS = 0.3
    message, _ = message_send(conversation=tg_conversation, user=staff, content="See you soon")
    platform.fail_next("accept_then_hang", platform="telegram", hold_seconds=2)
    outbox_run_once()
    time.sleep(0.25)
    outbox_run_once()
    message.refresh_from_db()
    assert message.delivery_status == "sent"
    assert [s["text"] for s in platform.sent] == ["See you soon", "See you soon"]


def test_worker_process_output_never_shows_the_bot_token(platform, tg_conversation, staff, telegram_channel):
    """The worker's real log output (httpx request lines, delivery lines, a refused send)."""
    message, _ = message_send(conversation=tg_conversation, user=staff, content="Hello")
    platform.fail_next("blocked")
    worker = start_worker(platform)
    output, _ = worker.communicate(timeout=60)
    output = output.decode()
    assert worker.returncode == 0 and "delivered 1 message(s)" in output
    assert "/bot[redacted]/sendMessage" in output and "-> failed" in output
    assert telegram_channel.bot_token not in output and telegram_channel.bot_token.split(":")[1] not in output
    message.refresh_from_db()
    assert message.delivery_status == "failed"
