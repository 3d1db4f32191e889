"""The outbox lease (issue 10, "a crash mid-send stalls a conversation"): on PostgreSQL a
claimer holds a lock on its row while it sends, so the lease can be short. A live sender whose
platform is slow is never doubled, however long it takes; a killed one's row is rescued within
seconds, and each message still goes out exactly once.

The sender is a real ``manage.py run_delivery_worker`` subprocess; the simulator holds its
request (the platform never answers) until the test kills it with SIGKILL.
"""
import time

import pytest
from django.db import connection
from django.utils import timezone

from conversations.models import Message
from conversations.services import message_send
from integrations.delivery.outbox import lease_seconds, outbox_run_once
from tests.conftest import REQUIRE_SERVICES
from tests.integrations.test_outbox_crash import kill_while_held, start_worker

pytestmark = pytest.mark.django_db(transaction=True)
RESCUE = 1.0  # OUTBOX_RESCUE_SECONDS for this test: the lease of a claimed row on PostgreSQL
WAIT = 20.0


@pytest.fixture(autouse=True)
def postgres_lease(settings, monkeypatch):
    if connection.vendor != "postgresql":
        (pytest.fail if REQUIRE_SERVICES else pytest.skip)("the sender lock needs PostgreSQL")
    settings.OUTBOX_LEASE_SECONDS = None
    settings.OUTBOX_RESCUE_SECONDS = RESCUE
    monkeypatch.delenv("OUTBOX_LEASE_SECONDS", raising=False)
    monkeypatch.setenv("OUTBOX_RESCUE_SECONDS", str(RESCUE))


def wait_until(check, what: str, timeout: float = WAIT):
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"not within {timeout}s: {what}")
        time.sleep(0.05)


def test_the_lease_is_short_on_postgresql_and_proportional_to_the_timeout_elsewhere(settings):
    assert lease_seconds() == RESCUE
    settings.OUTBOX_LEASE_SECONDS = 7.0
    assert lease_seconds() == 7.0


def test_a_slow_live_sender_is_not_doubled_and_a_killed_one_is_rescued_at_once(platform, tg_conversation, staff):
    message, _ = message_send(conversation=tg_conversation, user=staff, content="Your parcel left today.")
    platform.fail_next("hang", hold_seconds=60)  # the platform holds the request, never answers
    worker = start_worker(platform)
    try:
        wait_until(lambda: platform.held == 1, "the worker is sending")
        # the lease has run out while the live worker still waits for the platform
        wait_until(lambda: Message.objects.get(pk=message.pk).next_attempt_at <= timezone.now(), "lease over")
        assert outbox_run_once() == 0, "a live sender's row was claimed again"
        assert Message.objects.get(pk=message.pk).send_attempts == 1

        kill_while_held(worker, platform)
        killed_at = time.monotonic()
        wait_until(lambda: outbox_run_once() == 1, "the killed worker's row is rescued", timeout=RESCUE + 10)
        rescued_after = time.monotonic() - killed_at
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait(10)
    message.refresh_from_db()
    assert message.delivery_status == "sent" and message.send_attempts == 2
    assert [entry["text"] for entry in platform.sent] == ["Your parcel left today."]  # exactly once
    print(f"outbox lease: killed sender's row rescued {rescued_after:.2f}s after SIGKILL (lease {RESCUE:g}s)")
