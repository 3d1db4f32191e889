"""What one platform update costs the database: the statements of a Telegram text message from a
known customer into their open conversation, its event built after the commit included. One
transaction, no savepoint (the services join the webhook's transaction), the conversation's row
read once (found by the store's own lock), and the event's row with the customer's tags in it
on PostgreSQL."""
import threading
from contextlib import contextmanager

import pytest
from django.db import connection
from django.db.backends.utils import CursorWrapper

from conversations.models import Message
from fiko.realtime import conversation_group
from tests.integrations.conftest import load_fixture, post_telegram

pytestmark = pytest.mark.django_db(transaction=True)


@contextmanager
def statements_on_every_thread():
    """The first word of each SQL statement run on any thread (the webhook's database work runs
    on a thread pool); BEGIN and COMMIT left out (SQLite sends them as statements, PostgreSQL
    does not)."""
    seen, lock, original = [], threading.Lock(), CursorWrapper._execute

    def _execute(self, sql, *args, **kwargs):
        verb = sql.split()[0].upper()
        if verb not in ("BEGIN", "COMMIT"):
            with lock:
                seen.append(verb)
        return original(self, sql, *args, **kwargs)

    CursorWrapper._execute = _execute
    try:
        yield seen
    finally:
        CursorWrapper._execute = original


def _update(number: int) -> dict:
    update = load_fixture("telegram", "text.json")
    return {**update, "update_id": update["update_id"] + number,
            "message": {**update["message"], "message_id": 900 + number, "text": f"message {number}"}}


def test_a_telegram_message_is_one_transaction_without_savepoints(telegram_channel, tg_conversation, listen):
    postgresql = connection.vendor == "postgresql"
    room = listen([conversation_group(tg_conversation.pk)])
    store = ["WITH"] if postgresql else ["INSERT", "UPDATE"]  # the message with its conversation's counters
    event = ["SELECT"] if postgresql else ["SELECT", "SELECT"]  # the row (with its customer's tags on PostgreSQL)
    expected = [
        "SELECT",  # the channel
        "INSERT",  # the update's InboundEvent key
        "SELECT",  # the customer
        "SELECT",  # their open conversation, locked, with the store's probes
        *store,
        "UPDATE",  # the customer's last activity
        *event,
    ]
    # The first also brings the customer's profile up to date (and compiles the queries).
    assert post_telegram(telegram_channel, _update(0)).json() == {"ok": True, "result": "stored"}
    for number in (1, 2):
        with statements_on_every_thread() as seen:
            assert post_telegram(telegram_channel, _update(number)).json() == {"ok": True, "result": "stored"}
        assert seen == expected, seen
    assert list(Message.objects.filter(conversation=tg_conversation).order_by("seq").values_list("content", flat=True)) == [
        "message 0", "message 1", "message 2"]
    created = [e for e in room.drain() if e["type"] == "message.created"]
    assert [e["message"]["content"] for e in created] == ["message 0", "message 1", "message 2"]
    # The same update again: a duplicate, nothing stored.
    assert post_telegram(telegram_channel, _update(2)).json() == {"ok": True, "result": "duplicate"}
    assert Message.objects.filter(conversation=tg_conversation).count() == 3
