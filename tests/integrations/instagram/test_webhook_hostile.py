"""Hostile and malformed notifications with a valid signature (issue 8, items 2, 6, 7): SPEC
"Webhook answers" — 200 and ignored, logged with the mid, nothing stored, never a 5xx that Meta
would repeat; the other events of the same delivery still count; only the database being down
is a 503."""
import json
import logging

import pytest

from conversations.models import Conversation, Message, ReadMarker
from customers.models import Customer
from integrations.models import InboundEvent
from tests.integrations.conftest import (
    IG_ACCESS_TOKEN, IG_CUSTOMER_ID, database_unreachable, load_fixture, post_instagram,
)

pytestmark = pytest.mark.django_db(transaction=True)
TEXT_MID = load_fixture("instagram", "text.json")["entry"][0]["messaging"][0]["message"]["mid"]


@pytest.fixture
def sim(platform):
    platform.set_profile(IG_CUSTOMER_ID, name="Leila Ahmadi", username="leila.ahmadi")
    return platform


def text_notification():
    return load_fixture("instagram", "text.json")


def first_event(payload):
    return payload["entry"][0]["messaging"][0]


def changed(change):
    payload = text_notification()
    change(first_event(payload))
    return payload


def nothing_stored():
    return not (Message.objects.exists() or Customer.objects.exists() or Conversation.objects.exists()
                or InboundEvent.objects.exists() or ReadMarker.objects.exists())


def ignored_lines(caplog, ref_prefix):
    return [r for r in caplog.records if r.name == "integrations.webhooks" and "ignored" in r.getMessage()
            and f"update {ref_prefix}" in r.getMessage()]


def assert_logged_without_traceback(caplog, ref_prefix):
    lines = ignored_lines(caplog, ref_prefix)
    assert lines, caplog.text
    assert all(r.levelno in (logging.INFO, logging.WARNING) and r.exc_info is None for r in lines)
    assert "Traceback" not in caplog.text and IG_ACCESS_TOKEN not in caplog.text


def message(event):
    return event["message"]


MALFORMED_EVENTS = {
    "event is a number": None,  # replaced below: the whole event
    "sender is a string": lambda e: e.update(sender="x"),
    "sender.id missing": lambda e: e.update(sender={}),
    "sender.id of 5k characters": lambda e: e.update(sender={"id": "7" * 5000}),
    "sender.id is a path": lambda e: e.update(sender={"id": "../me"}),
    "sender.id is a list": lambda e: e.update(sender={"id": [1]}),
    "recipient.id is an object": lambda e: e.update(recipient={"id": {"a": 1}}),
    "message is a string": lambda e: e.update(message="hi"),
    "mid is a number": lambda e: message(e).update(mid=5),
    "mid missing": lambda e: message(e).pop("mid"),
    "mid of 100k characters": lambda e: message(e).update(mid="m" * 100_000),
    "mid of 256 characters": lambda e: message(e).update(mid="m" * 256),
    "text is a number": lambda e: message(e).update(text=5),
    "attachments is a string": lambda e: message(e).update(attachments="x"),
    "attachment is a number": lambda e: message(e).update(attachments=[1]),
    "attachment type is a list": lambda e: message(e).update(attachments=[{"type": ["image"]}]),
    "attachment payload is a string": lambda e: message(e).update(attachments=[{"type": "image", "payload": "x"}]),
    "payload.url is a number": lambda e: message(e).update(attachments=[{"type": "image", "payload": {"url": 5}}]),
    "payload.url is javascript": lambda e: message(e).update(
        attachments=[{"type": "file", "payload": {"url": "javascript:alert(1)"}}]),
    "payload.url has no host": lambda e: message(e).update(attachments=[{"type": "image", "payload": {"url": "http://"}}]),
    "payload.url host is not IDNA": lambda e: message(e).update(
        attachments=[{"type": "image", "payload": {"url": "http://xn--/a.jpg"}}]),
    "payload.url port out of range": lambda e: message(e).update(
        attachments=[{"type": "image", "payload": {"url": "http://127.0.0.1:99999/a.jpg"}}]),
    "payload.title is an object": lambda e: message(e).update(
        attachments=[{"type": "share", "payload": {"url": "https://example.com/p", "title": {}}}]),
    "too many attachments": lambda e: message(e).update(
        attachments=[{"type": "share", "payload": {"title": "x"}}] * 33),
    "mid of 252 characters (its event key would not fit)": lambda e: message(e).update(mid="m" * 252),
    "reply_to is a string": lambda e: message(e).update(reply_to="x"),
    "reply_to.mid is a number": lambda e: message(e).update(reply_to={"mid": 1}),
    "is_echo is a string": lambda e: message(e).update(is_echo="true"),
    "is_deleted is a number": lambda e: message(e).update(is_deleted=1),
    "read is a string": lambda e: (e.pop("message"), e.update(read="x")),
    "read.mid is a number": lambda e: (e.pop("message"), e.update(read={"mid": 7})),
    "read with a 5k-character sender": lambda e: (e.pop("message"), e.update(sender={"id": "1" * 5000},
                                                                               read={"mid": TEXT_MID})),
    "message_edit.num_edit is text": lambda e: (e.pop("message"), e.update(
        message_edit={"mid": TEXT_MID, "text": "x", "num_edit": "1"})),
    "message_edit.text is a list": lambda e: (e.pop("message"), e.update(
        message_edit={"mid": TEXT_MID, "text": ["x"], "num_edit": 1})),
}


@pytest.mark.parametrize("case", sorted(MALFORMED_EVENTS))
def test_malformed_event_is_200_ignored_logged_and_stores_nothing(instagram_channel, sim, caplog, case):
    if case == "event is a number":
        payload = text_notification()
        payload["entry"][0]["messaging"][0] = 1
    else:
        payload = changed(MALFORMED_EVENTS[case])
    for _delivery in range(2):  # Meta's redelivery gets the same answer: never a 5xx
        response = post_instagram(instagram_channel, payload)
        assert response.status_code == 200, response.content
        assert response.json() == {"ok": True, "results": ["ignored"]}
    assert nothing_stored()
    assert sim.calls == []  # nothing fetched for it either (no profile, no attachment)
    lines = [r for r in caplog.records if r.name == "integrations.webhooks" and "malformed event" in r.getMessage()]
    assert len(lines) == 2 and all(r.levelno == logging.WARNING and r.exc_info is None for r in lines)
    assert "Traceback" not in caplog.text and IG_ACCESS_TOKEN not in caplog.text


@pytest.mark.parametrize("case", ["mid of 100k characters", "text is a number", "attachments is a string"])
def test_the_log_line_names_the_mid(instagram_channel, sim, caplog, case):
    payload = changed(MALFORMED_EVENTS[case])
    post_instagram(instagram_channel, payload)
    assert_logged_without_traceback(caplog, message(first_event(payload))["mid"][:40])
    if case == "mid of 100k characters":  # named, not copied whole
        assert max(len(r.getMessage()) for r in caplog.records) < 400


@pytest.mark.parametrize("payload", [
    [], "x", {}, {"object": "instagram"}, {"object": "instagram", "entry": "x"}, {"object": "instagram", "entry": {}},
])
def test_json_that_is_not_a_notification_is_200_ignored(instagram_channel, sim, payload):
    response = post_instagram(instagram_channel, payload)
    assert response.status_code == 200 and response.json() == {"ok": True, "results": ["ignored"]}
    assert nothing_stored()


@pytest.mark.parametrize("entry", [[1], ["x"], [{"messaging": "x"}], [{"messaging": {"sender": {}}}]])
def test_malformed_entries_are_200_ignored(instagram_channel, sim, entry):
    response = post_instagram(instagram_channel, {"object": "instagram", "entry": entry})
    assert response.status_code == 200 and response.json() == {"ok": True, "results": ["ignored"]}
    assert nothing_stored()


def test_a_malformed_event_does_not_lose_the_good_ones_of_the_same_delivery(instagram_channel, sim):
    payload = text_notification()
    good = first_event(payload)
    payload["entry"][0]["messaging"] = [{"sender": "x", "message": {"mid": "m1"}}, good, 7]
    response = post_instagram(instagram_channel, payload)
    assert response.status_code == 200 and response.json()["results"] == ["ignored", "stored", "ignored"]
    assert Message.objects.get().external_id == TEXT_MID
    # redelivered: the good one is a duplicate, the bad ones are still ignored
    response = post_instagram(instagram_channel, payload)
    assert response.json()["results"] == ["ignored", "duplicate", "ignored"]
    assert Message.objects.count() == 1


@pytest.mark.parametrize("where", ["mid", "text", "sender", "read"])
def test_nul_in_mid_text_sender_or_read_receipt_is_200_ignored_every_time_not_503(instagram_channel, sim, caplog,
                                                                                   where):
    """Item 6: a NUL used to reach PostgreSQL, whose DataError was answered 503 + Retry-After on
    every redelivery. It is refused before any database work now."""
    payload = text_notification()
    event = first_event(payload)
    if where == "mid":
        event["message"]["mid"] = TEXT_MID + "\x00"
    elif where == "text":
        event["message"]["text"] = "hi\x00"
    elif where == "sender":
        event["sender"]["id"] = "672918\x004650193842"
    else:
        event.pop("message")
        event["read"] = {"mid": "aWdf\x00read"}
    for _delivery in range(3):
        response = post_instagram(instagram_channel, payload)
        assert response.status_code == 200 and "Retry-After" not in response
        assert response.json() == {"ok": True, "ignored": "not JSON: NUL characters are not allowed"}
    assert nothing_stored()
    assert_logged_without_traceback(caplog, "aWdf")


def test_deeply_nested_json_is_not_a_5xx_and_stores_nothing(instagram_channel, sim, caplog):
    raw = (b'{"object": "instagram", "entry": [{"messaging": [{"message": {"mid": "aWdfdeep", "text": '
           + b"[" * 1000 + b"]" * 1000 + b"}}]}]}")
    response = post_instagram(instagram_channel, None, raw=raw)
    assert response.status_code == 200 and "nested deeper than" in response.json()["ignored"]
    assert nothing_stored()
    assert_logged_without_traceback(caplog, "aWdfdeep")


@pytest.mark.parametrize("raw", [
    b'{"object": "instagram", "entry": [{"messaging": [{"message": {"mid": "aWdf", "text": "\\udc00"}}]}]}',
    b"{not json", b"", b"\xff",
])
def test_invalid_json_with_a_valid_signature_is_200_ignored(instagram_channel, sim, raw):
    response = post_instagram(instagram_channel, None, raw=raw)
    assert response.status_code == 200 and response.json()["ignored"].startswith("not JSON")
    assert nothing_stored()


def test_unknown_object_is_200_ignored(instagram_channel, sim):
    payload = text_notification()
    payload["object"] = "whatsapp_business_account"
    response = post_instagram(instagram_channel, payload)
    assert response.status_code == 200 and response.json()["results"] == ["ignored"]
    assert nothing_stored()


def test_signature_is_still_checked_before_anything_is_parsed(instagram_channel, sim):
    raw = json.dumps({"entry": "x"}).encode()
    assert post_instagram(instagram_channel, None, raw=raw, signature="sha256=" + "0" * 64).status_code == 403


def test_database_down_is_still_503_with_retry_after(instagram_channel, sim):
    with database_unreachable():
        response = post_instagram(instagram_channel, text_notification())
    assert response.status_code == 503 and response["Retry-After"]
    assert post_instagram(instagram_channel, text_notification()).json()["results"] == ["stored"]
