"""Conversation search reads Conversation.message_words (the distinct normalized words of its
messages that are not deleted): what a user searches for is found after a store, no longer
found after the platform edits or deletes the message, and the migration's fill builds the same
words for conversations that existed before the column."""
import importlib

import pytest
from django.apps import apps

from conversations.consumers import conversations_list_frame
from conversations.models import Conversation
from conversations.services import message_edit_from_platform, message_receive, message_send
from integrations.models import Channel
from tests.factories import make_conversation


def found(staff, text):
    frame = conversations_list_frame(user=staff, filters={"search": text})
    return [row["id"] for row in frame["conversations"]]


@pytest.mark.django_db(transaction=True)
def test_stored_messages_are_searchable_by_their_words(staff, workspace, customer, conversation):
    other = make_conversation(workspace, customer, title="")
    message_receive(conversation=conversation, customer=customer, content="The PARCEL never arrived")
    message_send(conversation=conversation, user=staff, content="قيمت نهایی: ۲۵۰ — the parcel is late")
    message_send(conversation=other, user=staff, content="Welcome")

    conversation.refresh_from_db()
    # distinct words, normalized (case, Arabic letters, Persian digits), in order of appearance
    assert conversation.message_words == "the parcel never arrived قیمت نهایی: 250 — is late"
    assert found(staff, "parcel") == [conversation.pk]
    assert found(staff, "ARRIV") == [conversation.pk]  # part of a word
    assert found(staff, "قیمت ۲۵۰") == [conversation.pk]
    assert found(staff, "welcome") == [other.pk]
    assert found(staff, "parcel welcome") == []  # every word in the same conversation


@pytest.mark.django_db(transaction=True)
def test_platform_edit_and_deletion_change_what_is_found(staff, workspace, customer):
    channel = Channel.objects.create(workspace=workspace, platform="telegram", bot_token="1:x", webhook_secret="s")
    conversation = make_conversation(workspace, customer, channel=channel, title="")
    message_receive(conversation=conversation, customer=customer, content="blue sweater please",
                    channel=channel, external_id="m-1")
    message_receive(conversation=conversation, customer=customer, content="also a scarf",
                    channel=channel, external_id="m-2")
    assert found(staff, "sweater") == [conversation.pk] and found(staff, "scarf") == [conversation.pk]

    message_edit_from_platform(channel=channel, external_id="m-1", content="red jacket please")
    assert found(staff, "sweater") == []
    assert found(staff, "jacket") == [conversation.pk] and found(staff, "please") == [conversation.pk]

    message_edit_from_platform(channel=channel, external_id="m-2", deleted=True)
    assert found(staff, "scarf") == [] and found(staff, "jacket") == [conversation.pk]


@pytest.mark.django_db(transaction=True)
def test_migration_fill_builds_the_words_of_existing_conversations(staff, workspace, customer, conversation):
    message_receive(conversation=conversation, customer=customer, content="Hello hello WORLD")
    message_send(conversation=conversation, user=staff, content="world peace")
    stored = Conversation.objects.get(pk=conversation.pk).message_words
    Conversation.objects.update(message_words="")
    assert found(staff, "peace") == []

    importlib.import_module("conversations.migrations.0005_conversation_message_words").fill(apps, None)

    assert Conversation.objects.get(pk=conversation.pk).message_words == stored == "hello world peace"
    assert found(staff, "peace") == [conversation.pk]
