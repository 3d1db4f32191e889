"""POST /integrations/telegram/<id>/webhook/ with realistic updates (fixtures/*.json): what is
stored, what is published, and what is refused."""
from pathlib import Path

import pytest
from django.conf import settings

from conversations.models import Conversation, Message
from customers.models import Customer
from fiko.realtime import conversation_group, workspace_group
from integrations.models import InboundEvent
from integrations.platform_sim.server import tiny_png
from tests.integrations.conftest import BOT_TOKEN, TELEGRAM_CUSTOMER_ID, load_fixture, post_telegram

pytestmark = pytest.mark.django_db(transaction=True)


def fixture(name):
    return load_fixture("telegram", name)


def only_message():
    assert Message.objects.count() == 1
    return Message.objects.get()


def test_text_message_creates_customer_conversation_and_message(telegram_channel, workspace, listen):
    listener = listen([workspace_group(workspace.pk)])
    response = post_telegram(telegram_channel, fixture("text.json"))
    assert response.status_code == 200 and response.json() == {"ok": True, "result": "stored"}

    customer = Customer.objects.get()
    assert (customer.source, customer.external_id, customer.first_name, customer.last_name, customer.username) == (
        "telegram", TELEGRAM_CUSTOMER_ID, "Sara", "Karimi", "sara_k")
    conversation = Conversation.objects.get()
    assert conversation.channel_id == telegram_channel.pk and conversation.title == "telegram - Sara Karimi"
    assert conversation.unread_count == 1 and conversation.status == "open"
    message = only_message()
    assert message.content == "سلام، سفارشم کی می‌رسه؟" and message.message_type == "text"
    assert (message.sender_type, message.delivery_status) == ("customer", "received")
    assert message.external_id == f"{TELEGRAM_CUSTOMER_ID}:211" and message.channel_id == telegram_channel.pk

    types = [event["type"] for event in listener.drain()]
    assert types.count("message.created") == 1 and "conversation.created" in types
    assert "customer.created" in types and "customer.updated" in types


def test_second_message_reuses_the_open_conversation(telegram_channel):
    post_telegram(telegram_channel, fixture("text.json"))
    post_telegram(telegram_channel, fixture("reply.json"))
    assert Conversation.objects.count() == 1
    assert Conversation.objects.get().unread_count == 2


def test_closed_conversation_is_not_reused(telegram_channel):
    post_telegram(telegram_channel, fixture("text.json"))
    Conversation.objects.update(status="closed")
    post_telegram(telegram_channel, fixture("reply.json"))
    assert Conversation.objects.count() == 2
    assert Conversation.objects.exclude(status="closed").get().messages.get().content == "Any news on this?"


def test_photo_stores_the_largest_size_under_our_url(telegram_channel, platform):
    png = tiny_png((1, 2, 3), size=16)
    platform.add_telegram_file("AgACAgQAAxkBAAIBc2d0_large", png, "photos/file_42.jpg", "AQADdbcxG_large")
    response = post_telegram(telegram_channel, fixture("photo.json"))
    assert response.status_code == 200

    message = only_message()
    assert message.message_type == "image" and message.content == "Is this the right size?"
    expected = f"{settings.PUBLIC_BASE_URL}/uploads/media/{telegram_channel.pk}/AQADdbcxG_large.jpg"
    assert message.media_url == expected
    stored = Path(settings.MEDIA_ROOT) / "media" / str(telegram_channel.pk) / "AQADdbcxG_large.jpg"
    assert stored.read_bytes() == png
    assert ("telegram", "getFile") in platform.calls
    assert BOT_TOKEN not in message.media_url and "api.telegram" not in message.media_url


@pytest.mark.parametrize("name, file_id, file_path, message_type, content, stored_name", [
    ("voice.json", "AwACAgQAAxkBAAIBdGd0voice", "voice/file_7.oga", "voice", "", "AgADvoice01.oga"),
    ("video.json", "BAACAgQAAxkBAAIBdWd0video", "videos/file_8.mp4", "video", "It arrived broken",
     "AgADvideo01-unboxing.mp4"),
    ("document.json", "BQACAgQAAxkBAAIBdmd0doc", "documents/file_9.pdf", "file", "", "AgADdoc0001-invoice-2291.pdf"),
    ("sticker.json", "CAACAgIAAxkBAAIBd2d0sticker", "stickers/file_10.webp", "image", "👍", "AgADsticker1.webp"),
])
def test_media_kinds(telegram_channel, platform, name, file_id, file_path, message_type, content, stored_name):
    data = f"bytes of {name}".encode()
    platform.add_telegram_file(file_id, data, file_path)
    assert post_telegram(telegram_channel, fixture(name)).status_code == 200
    message = only_message()
    assert (message.message_type, message.content) == (message_type, content)
    assert message.media_url.endswith(f"/uploads/media/{telegram_channel.pk}/{stored_name}")
    assert (Path(settings.MEDIA_ROOT) / "media" / str(telegram_channel.pk) / stored_name).read_bytes() == data


def test_file_that_cannot_be_fetched_keeps_the_message_with_a_marker(telegram_channel, platform, caplog):
    # The simulator does not know this file_id: getFile answers 400 "invalid file_id".
    response = post_telegram(telegram_channel, fixture("photo.json"))
    assert response.status_code == 200
    message = only_message()
    assert message.message_type == "text" and message.media_url == ""
    assert message.content == "Is this the right size?\n[Photo could not be downloaded from Telegram]"
    assert BOT_TOKEN not in caplog.text and BOT_TOKEN not in response.content.decode()


def test_unsupported_content_is_stored_as_a_marker(telegram_channel):
    assert post_telegram(telegram_channel, fixture("location.json")).status_code == 200
    assert only_message().content == "[location: this kind of message is not supported yet]"


def test_edited_message_updates_the_row_and_publishes(telegram_channel, listen):
    post_telegram(telegram_channel, fixture("text.json"))
    message = only_message()
    listener = listen([conversation_group(message.conversation_id)])
    response = post_telegram(telegram_channel, fixture("edited_message.json"))
    assert response.status_code == 200

    message.refresh_from_db()
    assert Message.objects.count() == 1
    assert message.content == "سلام، سفارش ۲۲۹۱ کی می‌رسه؟" and message.is_edited
    events = listener.drain()
    updated = [e for e in events if e["type"] == "message.updated"]
    assert len(updated) == 1 and updated[0]["message"]["is_edited"] is True
    assert updated[0]["message"]["content"] == "سلام، سفارش ۲۲۹۱ کی می‌رسه؟"


def test_edit_of_a_message_we_never_saw_is_stored(telegram_channel):
    assert post_telegram(telegram_channel, fixture("edited_message.json")).status_code == 200
    assert only_message().content == "سلام، سفارش ۲۲۹۱ کی می‌رسه؟"


def test_reply_points_at_the_replied_message(telegram_channel):
    post_telegram(telegram_channel, fixture("text.json"))
    post_telegram(telegram_channel, fixture("reply.json"))
    original = Message.objects.get(external_id=f"{TELEGRAM_CUSTOMER_ID}:211")
    reply = Message.objects.get(external_id=f"{TELEGRAM_CUSTOMER_ID}:217")
    assert reply.reply_to_id == original.pk


def test_reply_to_an_unknown_message_is_stored_without_reference(telegram_channel):
    assert post_telegram(telegram_channel, fixture("reply.json")).status_code == 200
    assert only_message().reply_to_id is None


@pytest.mark.parametrize("name, reason", [
    ("group_message.json", "supergroup chats are not handled"),
    ("callback_query.json", "update kind callback_query is not handled"),
    ("my_chat_member.json", "update kind my_chat_member is not handled"),
])
def test_other_chats_and_update_kinds_are_ignored_with_200(telegram_channel, name, reason):
    response = post_telegram(telegram_channel, fixture(name))
    assert response.status_code == 200 and response.json() == {"ok": True, "ignored": reason}
    assert not Message.objects.exists() and not Customer.objects.exists()


@pytest.mark.parametrize("secret", ["", "wrong-secret-token-0123456789", "s3cr3t-Webhook_token-012345678"])
def test_wrong_or_missing_secret_is_403_and_stores_nothing(telegram_channel, secret):
    response = post_telegram(telegram_channel, fixture("text.json"), secret=secret)
    assert response.status_code == 403
    assert not Message.objects.exists() and not Customer.objects.exists() and not InboundEvent.objects.exists()


def test_body_over_one_mebibyte_is_413(telegram_channel):
    payload = fixture("text.json")
    payload["message"]["text"] = "x" * (1024 * 1024)
    response = post_telegram(telegram_channel, payload)
    assert response.status_code == 413
    assert not Message.objects.exists()


def test_body_at_the_limit_is_accepted(telegram_channel):
    payload = fixture("text.json")
    import json

    size = len(json.dumps(payload).encode())
    payload["padding"] = "p" * (1024 * 1024 - size - len(', "padding": ""'))
    assert len(json.dumps(payload).encode()) == 1024 * 1024
    assert post_telegram(telegram_channel, payload).status_code == 200
    assert Message.objects.count() == 1


def test_not_json_is_200_ignored_so_telegram_does_not_retry_it(telegram_channel):
    # SPEC "Webhook answers": a malformed update (it passed the secret check) is 200 and ignored;
    # any other answer makes Telegram deliver the same bytes again and again.
    response = post_telegram(telegram_channel, None, raw=b"{not json")
    assert response.status_code == 200 and response.json()["ok"] is True
    assert response.json()["ignored"].startswith("not JSON")
    assert not Message.objects.exists() and not InboundEvent.objects.exists()


def test_unknown_channel_is_404_and_disabled_channel_is_ignored(telegram_channel):
    other = type(telegram_channel).objects.get(pk=telegram_channel.pk)
    other.pk = telegram_channel.pk + 1000
    assert post_telegram(other, fixture("text.json")).status_code == 404
    type(telegram_channel).objects.filter(pk=telegram_channel.pk).update(is_active=False)
    response = post_telegram(telegram_channel, fixture("text.json"))
    assert response.status_code == 200 and response.json()["ignored"] == "channel is disabled"
    assert not Message.objects.exists()


def test_a_new_update_repeating_a_stored_message_is_answered_duplicate(telegram_channel, workspace, listen):
    """Telegram's message ids are the message's identity; an update id is only the delivery's. A
    second update carrying a message already stored stores nothing, announces nothing and says
    so: the answer is "duplicate", not "stored"."""
    first = fixture("text.json")
    post_telegram(telegram_channel, first)
    listener = listen([workspace_group(workspace.pk)])
    again = {**first, "update_id": first["update_id"] + 1}
    response = post_telegram(telegram_channel, again)
    assert response.status_code == 200 and response.json() == {"ok": True, "result": "duplicate"}
    assert Message.objects.count() == 1 and Conversation.objects.get().unread_count == 1
    assert listener.drain() == []
    new_message = {**first, "update_id": first["update_id"] + 2,
                   "message": {**first["message"], "message_id": first["message"]["message_id"] + 1}}
    assert post_telegram(telegram_channel, new_message).json() == {"ok": True, "result": "stored"}
    assert Message.objects.count() == 2


def test_duplicate_update_stores_nothing_new(telegram_channel, workspace, listen):
    post_telegram(telegram_channel, fixture("text.json"))
    listener = listen([workspace_group(workspace.pk)])
    response = post_telegram(telegram_channel, fixture("text.json"))
    assert response.status_code == 200 and response.json() == {"ok": True, "result": "duplicate"}
    assert Message.objects.count() == 1 and InboundEvent.objects.count() == 1
    assert Conversation.objects.get().unread_count == 1
    assert listener.drain() == []
