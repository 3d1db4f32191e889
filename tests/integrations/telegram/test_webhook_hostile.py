"""Hostile and malformed updates with a valid secret (issue 8, items 2, 6, 7): SPEC "Webhook
answers" — 200 and ignored, logged with the update id, nothing stored, never a 5xx that
Telegram would repeat; only the database being down is a 503."""
import logging
from contextlib import contextmanager

import pytest
from django.db import connection

from conversations.models import Conversation, Message
from customers.models import Customer
from integrations.models import InboundEvent
from tests.integrations.conftest import BOT_TOKEN, database_unreachable, load_fixture, post_telegram

pytestmark = pytest.mark.django_db(transaction=True)
UPDATE_ID = 843920101  # text.json


def text_update():
    return load_fixture("telegram", "text.json")


def changed(change):
    payload = text_update()
    change(payload["message"])
    return payload


def nothing_stored():
    return not (Message.objects.exists() or Customer.objects.exists() or Conversation.objects.exists()
                or InboundEvent.objects.exists())


def assert_logged_without_traceback(caplog, ref):
    lines = [r for r in caplog.records if r.name == "integrations.webhooks" and f"update {ref} ignored" in r.getMessage()]
    assert lines, caplog.text
    assert all(r.levelno in (logging.INFO, logging.WARNING) and r.exc_info is None for r in lines)
    assert "Traceback" not in caplog.text and BOT_TOKEN not in caplog.text


MALFORMED = {
    # item 7: the structures that answered 500
    "chat is a list": lambda m: m.update(chat=[1]),
    "from is a string": lambda m: m.update({"from": "x"}),
    "reply_to_message.message_id is text": lambda m: m.update(reply_to_message={"message_id": "abc"}),
    "reply_to_message.message_id is a list": lambda m: m.update(reply_to_message={"message_id": [1]}),
    "photo of numbers": lambda m: m.update(photo=[1, 2]),
    "photo is a string": lambda m: m.update(photo="abc"),
    "sticker is a string": lambda m: m.update(sticker="x"),
    # the same rule for every other field the parser reads
    "message is a string": None,  # replaced below: the whole message
    "reply_to_message is a string": lambda m: m.update(reply_to_message="x"),
    "chat.id is a string": lambda m: m["chat"].update(id="385720164"),
    "chat.type is a number": lambda m: m["chat"].update(type=1),
    "from.is_bot is a string": lambda m: m["from"].update(is_bot="false"),
    "from.first_name is a list": lambda m: m["from"].update(first_name=["Sara"]),
    "from.username is an object": lambda m: m["from"].update(username={"a": 1}),
    "text is a number": lambda m: m.update(text=5),
    "caption is a list": lambda m: (m.pop("text"), m.update(caption=["x"], document={"file_id": "BQAC"})),
    "message_id is a float": lambda m: m.update(message_id=211.5),
    "message_id is negative": lambda m: m.update(message_id=-1),
    "document.file_id is a number": lambda m: m.update(document={"file_id": 5}),
    "document without file_id": lambda m: m.update(document={"file_name": "a.pdf"}),
    "document.file_id of 10k characters": lambda m: m.update(document={"file_id": "F" * 10_000}),
    "photo size with text width": lambda m: m.update(photo=[{"file_id": "a", "width": "x", "height": 1}]),
    "empty photo list": lambda m: m.update(photo=[]),
    "sticker.is_video is a string": lambda m: m.update(sticker={"file_id": "C", "is_video": "yes"}),
    "animated sticker thumbnail is a list": lambda m: m.update(sticker={"file_id": "C", "is_animated": True,
                                                                        "thumbnail": [1]}),
    # item 6: ids longer than their columns (JSON turns a 200-digit number into a float)
    "from.id of 200 digits": lambda m: m["from"].update(id=int("9" * 200)),
    "from.id past bigint": lambda m: m["from"].update(id=2**63),
    "chat.id of 200 digits": lambda m: m["chat"].update(id=int("9" * 200)),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_update_is_200_ignored_logged_and_stores_nothing(telegram_channel, caplog, case):
    if case == "message is a string":
        payload = {"update_id": UPDATE_ID, "message": "x"}
    else:
        payload = changed(MALFORMED[case])
    caplog.set_level(logging.INFO)
    for _delivery in range(2):  # Telegram's redelivery gets the same answer: never a 5xx
        response = post_telegram(telegram_channel, payload)
        assert response.status_code == 200, response.content
        body = response.json()
        assert body["ok"] is True and body["ignored"].startswith("malformed update:")
    assert nothing_stored()
    assert_logged_without_traceback(caplog, UPDATE_ID)
    assert all(r.levelno == logging.WARNING for r in caplog.records if "ignored" in r.getMessage())


@pytest.mark.parametrize("update_id", ["843920101", -1, 2**63, 1.5, True, None, [1]])
def test_update_id_of_the_wrong_type_or_range_is_200_ignored(telegram_channel, caplog, update_id):
    payload = text_update()
    payload["update_id"] = update_id
    response = post_telegram(telegram_channel, payload)
    assert response.status_code == 200 and response.json()["ignored"].startswith("not a Telegram update")
    assert nothing_stored()
    assert "Traceback" not in caplog.text


@pytest.mark.parametrize("raw", [b"[]", b'"update"', b"{}", b"null", b"42"])
def test_json_that_is_not_an_update_is_200_ignored(telegram_channel, raw):
    response = post_telegram(telegram_channel, None, raw=raw)
    assert response.status_code == 200 and response.json()["ignored"] == "not a Telegram update: update_id missing"
    assert nothing_stored()


@pytest.mark.parametrize("where", ["text", "from.first_name", "from.last_name", "from.username", "caption"])
def test_nul_in_text_or_names_is_200_ignored_every_time_not_503(telegram_channel, caplog, where):
    """Item 6: a NUL used to reach PostgreSQL, whose DataError was answered 503 + Retry-After on
    every redelivery. It is refused before any database work now, and said to be bad."""
    payload = text_update()
    message = payload["message"]
    if where == "caption":
        message.pop("text")
        message.update(caption="look\x00here", photo=[{"file_id": "AgAC", "width": 1, "height": 1}])
    elif where == "text":
        message["text"] = "hello\x00world"
    else:
        message["from"][where.split(".")[1]] = "Sa\x00ra"
    caplog.set_level(logging.INFO)
    for _delivery in range(3):
        response = post_telegram(telegram_channel, payload)
        assert response.status_code == 200 and "Retry-After" not in response
        assert response.json()["ignored"] == "not JSON: NUL characters are not allowed"
    assert nothing_stored()
    assert_logged_without_traceback(caplog, UPDATE_ID)


def test_deeply_nested_json_is_not_a_5xx_and_stores_nothing(telegram_channel, caplog):
    # 1,000 levels in a 2 KB body used to be a RecursionError (500).
    raw = b'{"update_id": 843920101, "message": {"text": ' + b"[" * 1000 + b"]" * 1000 + b"}}"
    response = post_telegram(telegram_channel, None, raw=raw)
    assert response.status_code == 200 and "nested deeper than" in response.json()["ignored"]
    assert nothing_stored()
    assert_logged_without_traceback(caplog, UPDATE_ID)


def test_deep_nesting_past_the_decoder_limit_is_not_a_5xx(telegram_channel):
    raw = b"[" * 200_000 + b"]" * 200_000
    response = post_telegram(telegram_channel, None, raw=raw)
    assert response.status_code == 200 and response.json()["ignored"].startswith("not JSON")
    assert nothing_stored()


@pytest.mark.parametrize("raw", [
    b'{"update_id": 843920101, "message": {"text": "\\ud800"}}',  # a lone surrogate escape
    b'{"update_id": 843920101, "message": {"text": "\xff\xfe"}}',  # not UTF-8
    b'{"update_id": 843920101, "message": {"text": NaN}}',
    b"",
])
def test_invalid_json_with_a_valid_secret_is_200_ignored(telegram_channel, caplog, raw):
    response = post_telegram(telegram_channel, None, raw=raw)
    assert response.status_code == 200 and response.json()["ignored"].startswith("not JSON")
    assert nothing_stored()
    if raw:
        assert_logged_without_traceback(caplog, UPDATE_ID)


def test_an_ignored_update_does_not_stop_the_next_good_one(telegram_channel):
    bad = changed(lambda m: m.update(chat=[1]))
    assert post_telegram(telegram_channel, bad).status_code == 200
    good = text_update()
    good["update_id"] += 1
    response = post_telegram(telegram_channel, good)
    assert response.json() == {"ok": True, "result": "stored"}
    assert Message.objects.count() == 1


def test_unknown_update_kind_is_logged_at_info_with_its_update_id(telegram_channel, caplog):
    caplog.set_level(logging.INFO)
    response = post_telegram(telegram_channel, load_fixture("telegram", "callback_query.json"))
    assert response.status_code == 200
    update_id = load_fixture("telegram", "callback_query.json")["update_id"]
    lines = [r for r in caplog.records if f"update {update_id} ignored" in r.getMessage()]
    assert len(lines) == 1 and lines[0].levelno == logging.INFO


# --- the database refuses the row: "this update is bad", not "the database is down" ----------
@contextmanager
def table_changed(model, alter: str, restore: str):
    """Change a table for one test (PostgreSQL), so the database itself refuses a row the parser
    let through; put it back afterwards."""
    if connection.vendor != "postgresql":
        pytest.skip("uses PostgreSQL DDL")
    table = model._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(alter.format(table=table))
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute(restore.format(table=table))


@pytest.mark.parametrize("model, alter, restore, error", [
    (Customer, "ALTER TABLE {table} ALTER COLUMN first_name TYPE varchar(3)",
     "ALTER TABLE {table} ALTER COLUMN first_name TYPE varchar(150)", "DataError"),
    (InboundEvent, f"ALTER TABLE {{table}} ADD CONSTRAINT hostile_test_refuse CHECK (event_key <> 'update:{UPDATE_ID}')",
     "ALTER TABLE {table} DROP CONSTRAINT hostile_test_refuse", "IntegrityError"),
], ids=["DataError", "IntegrityError"])
def test_a_row_the_database_refuses_is_200_ignored_and_logged_not_503(telegram_channel, caplog, model, alter,
                                                                     restore, error):
    with table_changed(model, alter, restore):
        for _delivery in range(2):
            response = post_telegram(telegram_channel, text_update())
            assert response.status_code == 200 and "Retry-After" not in response
            assert response.json()["ignored"] == f"the database refused it ({error})"
        assert nothing_stored()
    assert_logged_without_traceback(caplog, UPDATE_ID)
    assert "Sara" not in caplog.text  # the reason names the error, never the update's values


def test_database_down_is_still_503_with_retry_after(telegram_channel):
    with database_unreachable():
        response = post_telegram(telegram_channel, text_update())
    assert response.status_code == 503 and response["Retry-After"]
    assert post_telegram(telegram_channel, text_update()).json() == {"ok": True, "result": "stored"}
