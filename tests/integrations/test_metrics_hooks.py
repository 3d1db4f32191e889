"""The platform-side series of /metrics (fiko/metrics.py): webhook requests by platform and
status with their handling time, outbound sends by result (retries included)."""
import time

import pytest
from prometheus_client import REGISTRY

from conversations.services import message_send
from integrations.delivery.outbox import outbox_run_once
from tests.integrations.conftest import load_fixture, post_instagram, post_telegram

pytestmark = pytest.mark.django_db(transaction=True)


def value(name: str, **labels) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_webhook_requests_are_counted_by_platform_and_status(telegram_channel, instagram_channel):
    before = {status: value("fiko_webhook_requests_total", platform="telegram", status=status)
              for status in ("200", "403")}
    timed = value("fiko_webhook_ingest_seconds_count", platform="telegram")
    assert post_telegram(telegram_channel, load_fixture("telegram", "text.json")).status_code == 200
    assert post_telegram(telegram_channel, {"update_id": 1}, secret="wrong").status_code == 403
    assert value("fiko_webhook_requests_total", platform="telegram", status="200") == before["200"] + 1
    assert value("fiko_webhook_requests_total", platform="telegram", status="403") == before["403"] + 1
    assert value("fiko_webhook_ingest_seconds_count", platform="telegram") == timed + 2

    refused = value("fiko_webhook_requests_total", platform="instagram", status="403")
    assert post_instagram(instagram_channel, {"object": "instagram"}, signature="sha256=00").status_code == 403
    assert value("fiko_webhook_requests_total", platform="instagram", status="403") == refused + 1


def test_outbound_sends_are_counted_by_result_and_retries(platform, tg_conversation, staff, settings):
    settings.OUTBOX_RETRY_BASE_SECONDS = 0.05
    retries = value("fiko_outbound_sends_total", platform="telegram", result="retry")
    sent = value("fiko_outbound_sends_total", platform="telegram", result="sent")
    platform.fail_next("server_error", count=1)
    message, _ = message_send(conversation=tg_conversation, user=staff, content="metrics")
    deadline = time.monotonic() + 20
    while True:  # the retry becomes due 0.05 s later: poll until it is sent
        outbox_run_once()
        message.refresh_from_db()
        if message.delivery_status != "pending" or time.monotonic() > deadline:
            break
        time.sleep(0.02)
    assert message.delivery_status == "sent"
    assert value("fiko_outbound_sends_total", platform="telegram", result="retry") == retries + 1
    assert value("fiko_outbound_sends_total", platform="telegram", result="sent") == sent + 1
