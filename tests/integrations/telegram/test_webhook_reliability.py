"""Concurrent deliveries and a database that is away: the answers Telegram's retry logic needs.

Concurrency runs real threads, each with its own database connection, against the webhook view
(meaningful on PostgreSQL, where the transactions truly overlap; SQLite serializes writers)."""
import threading

import pytest
from django.db import connection

from conversations.models import Conversation, Message
from customers.models import Customer
from integrations.models import InboundEvent
from tests.integrations.conftest import database_unreachable, load_fixture, post_telegram

pytestmark = pytest.mark.django_db(transaction=True)


def deliver_concurrently(channel, payloads):
    barrier = threading.Barrier(len(payloads))
    statuses, errors = [], []

    def deliver(payload):
        try:
            barrier.wait(10)
            statuses.append(post_telegram(channel, payload).status_code)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=deliver, args=(payload,)) for payload in payloads]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors
    return sorted(statuses)


def test_ten_parallel_deliveries_of_one_update_store_one_row(telegram_channel):
    payload = load_fixture("telegram", "text.json")
    statuses = deliver_concurrently(telegram_channel, [payload] * 10)
    assert statuses == [200] * 10
    assert Message.objects.count() == 1
    assert InboundEvent.objects.filter(event_key="update:843920101").count() == 1
    assert Customer.objects.count() == 1 and Conversation.objects.count() == 1
    assert Conversation.objects.get().unread_count == 1


def test_ten_parallel_first_messages_of_a_new_customer_share_one_customer_and_conversation(telegram_channel):
    payloads = []
    for n in range(10):
        payload = load_fixture("telegram", "text.json")
        payload["update_id"] += n
        payload["message"]["message_id"] += n
        payload["message"]["text"] = f"message {n}"
        payloads.append(payload)
    assert deliver_concurrently(telegram_channel, payloads) == [200] * 10
    assert Customer.objects.count() == 1 and Conversation.objects.count() == 1
    conversation = Conversation.objects.get()
    assert sorted(conversation.messages.values_list("seq", flat=True)) == list(range(1, 11))
    assert conversation.unread_count == 10 and conversation.last_seq == 10


def test_database_unavailable_is_503_then_the_redelivery_is_stored(telegram_channel):
    """Point the connection at a database that is not there (a closed port, or for SQLite a file
    that cannot be opened): the ORM raises OperationalError, the webhook answers 503."""
    payload = load_fixture("telegram", "text.json")
    with database_unreachable():
        response = post_telegram(telegram_channel, payload)
    assert response.status_code == 503 and response["Retry-After"]
    assert not Message.objects.exists()

    # Telegram delivers the same update again once we are back: stored once.
    assert post_telegram(telegram_channel, payload).status_code == 200
    assert Message.objects.count() == 1
