"""The Django admin: every list works, secrets never show, edits go through the services."""
from html.parser import HTMLParser

import pytest
from django.contrib import admin
from django.core.management import call_command
from django.urls import reverse

from conversations.consumers import conversations_list_frame
from conversations.models import Conversation
from conversations.services import message_receive
from customers.models import CustomerAccount, Tag
from customers.services import customer_update
from fiko import realtime
from integrations.models import Channel
from tests.factories import make_conversation, make_user

pytestmark = pytest.mark.django_db

OUR_APPS = {"workspaces", "customers", "conversations", "integrations"}


class FormValues(HTMLParser):
    """The values a browser would submit for the admin's main form."""

    def __init__(self):
        super().__init__()
        self.values, self._select, self._textarea = [], None, None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        name = attrs.get("name")
        if tag == "input" and name and attrs.get("type") not in ("submit", "button", "file"):
            if attrs.get("type") in ("checkbox", "radio"):
                if "checked" in attrs:
                    self.values.append((name, attrs.get("value", "on")))
            else:
                self.values.append((name, attrs.get("value", "")))
        elif tag == "select" and name:
            self._select = name
        elif tag == "option" and self._select and "selected" in attrs:
            self.values.append((self._select, attrs.get("value", "")))
        elif tag == "textarea" and name:
            self._textarea = [name, ""]

    def handle_data(self, data):
        if self._textarea:
            self._textarea[1] += data

    def handle_endtag(self, tag):
        if tag == "select":
            self._select = None
        elif tag == "textarea" and self._textarea:
            self.values.append(tuple(self._textarea))
            self._textarea = None


def form_data(html: str, **changes) -> dict:
    parser = FormValues()
    parser.feed(html)
    data = {}
    for name, value in parser.values:
        if name in ("_save", "_continue", "_addanother", "csrfmiddlewaretoken"):
            continue
        data.setdefault(name, []).append(value)
    data.update({name: value for name, value in changes.items()})
    return data


def test_every_admin_list_loads_and_searches(admin_client):
    call_command("seed_demo", stdout=open("/dev/null", "w"))
    models = [model for model in admin.site._registry if model._meta.app_label in OUR_APPS]
    assert len(models) == 10
    for model in models:
        url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
        assert admin_client.get(url).status_code == 200, url
        assert admin_client.get(url, {"q": "a"}).status_code == 200, url


def test_channel_secrets_are_never_shown_and_empty_keeps_them(admin_client, workspace):
    channel = Channel.objects.create(
        workspace=workspace, platform="telegram", name="Bot", bot_token="123:SECRET-BOT-TOKEN",
        webhook_secret="SECRET-WEBHOOK", access_token="SECRET-ACCESS", app_secret="SECRET-APP",
        verify_token="SECRET-VERIFY",
    )
    url = reverse("admin:integrations_channel_change", args=[channel.pk])
    page = admin_client.get(url).content.decode()
    assert "SECRET" not in page
    listing = admin_client.get(reverse("admin:integrations_channel_changelist")).content.decode()
    assert "SECRET" not in listing

    response = admin_client.post(url, form_data(page, name="Renamed bot"))
    assert response.status_code == 302
    channel.refresh_from_db()
    assert channel.name == "Renamed bot"
    assert (channel.bot_token, channel.webhook_secret, channel.access_token, channel.app_secret,
            channel.verify_token) == ("123:SECRET-BOT-TOKEN", "SECRET-WEBHOOK", "SECRET-ACCESS", "SECRET-APP",
                                      "SECRET-VERIFY")

    response = admin_client.post(url, form_data(page, bot_token="456:NEW-TOKEN"))
    assert response.status_code == 302
    channel.refresh_from_db()
    assert channel.bot_token == "456:NEW-TOKEN" and channel.webhook_secret == "SECRET-WEBHOOK"
    assert "NEW-TOKEN" not in admin_client.get(url).content.decode()


def test_customer_account_password_is_never_shown(admin_client, workspace, customer):
    account = CustomerAccount(customer=customer, workspace=workspace, email="john@example.com")
    account.set_password("old-password")
    account.save()
    url = reverse("admin:customers_customeraccount_change", args=[account.pk])
    page = admin_client.get(url).content.decode()
    assert account.password not in page and account.password.split("$")[-1] not in page

    assert admin_client.post(url, form_data(page)).status_code == 302
    account.refresh_from_db()
    assert account.check_password("old-password")
    assert admin_client.post(url, form_data(page, new_password="new-password")).status_code == 302
    account.refresh_from_db()
    assert account.check_password("new-password")


@pytest.mark.django_db(transaction=True)
def test_conversation_edit_goes_through_the_service_and_publishes(admin_client, workspace, conversation, listen):
    agent = make_user("agent-1", workspace=workspace)
    url = reverse("admin:conversations_conversation_change", args=[conversation.pk])
    page = admin_client.get(url).content.decode()
    events = listen([realtime.workspace_group(workspace.pk)])

    response = admin_client.post(url, form_data(page, status="closed", priority="3", assignee=str(agent.pk)))

    assert response.status_code == 302
    conversation.refresh_from_db()
    assert (conversation.status, conversation.priority, conversation.assignee_id) == ("closed", 3, agent.pk)
    updates = [e for e in events.drain() if e["type"] == realtime.CONVERSATION_UPDATED]
    assert len(updates) == 1
    wire = updates[0]["conversation"]
    assert (wire["status"], wire["priority"], wire["assignee"]) == ("closed", "urgent",
                                                                    {"id": agent.pk, "username": "agent-1"})


def test_conversation_assignee_must_be_a_member(admin_client, conversation, other_staff):
    url = reverse("admin:conversations_conversation_change", args=[conversation.pk])
    page = admin_client.get(url).content.decode()

    response = admin_client.post(url, form_data(page, assignee=str(other_staff.pk)))

    assert response.status_code == 200  # the form again, with an error
    assert "Select a valid choice" in response.content.decode()
    conversation.refresh_from_db()
    assert conversation.assignee_id is None


def test_conversation_page_shows_the_newest_messages_read_only(admin_client, conversation, customer):
    for number in range(1, 61):
        message_receive(conversation=conversation, customer=customer, content=f"line-{number:02d}")
    url = reverse("admin:conversations_conversation_change", args=[conversation.pk])
    page = admin_client.get(url).content.decode()

    assert "line-60" in page and "line-11" in page
    assert "line-10" not in page and "line-01" not in page
    assert admin_client.post(url, form_data(page, title="Renamed")).status_code == 302
    conversation.refresh_from_db()
    assert conversation.title == "Renamed" and conversation.messages.count() == 60


def test_messages_cannot_be_added_changed_or_deleted(admin_client, conversation, customer):
    message, _ = message_receive(conversation=conversation, customer=customer, content="keep me")
    change_url = reverse("admin:conversations_message_change", args=[message.pk])

    assert admin_client.get(reverse("admin:conversations_message_add")).status_code == 403
    assert admin_client.post(change_url, {"content": "rewritten"}).status_code == 403
    assert admin_client.post(reverse("admin:conversations_message_delete", args=[message.pk]),
                             {"post": "yes"}).status_code == 403
    message.refresh_from_db()
    assert message.content == "keep me"
    assert Conversation.objects.get(pk=conversation.pk).last_seq == 1


def test_a_tag_deleted_in_the_admin_leaves_its_conversations_tag_filter(admin_client, workspace, staff, customer):
    vip = Tag.objects.create(workspace=workspace, name="VIP")
    keep = Tag.objects.create(workspace=workspace, name="Keep")
    conversation = make_conversation(workspace, customer)
    customer_update(customer=customer, data={"tag_ids": [vip.pk, keep.pk]})
    response = admin_client.post(reverse("admin:customers_tag_delete", args=[vip.pk]), {"post": "yes"})
    assert response.status_code == 302 and not Tag.objects.filter(pk=vip.pk).exists()
    assert Conversation.objects.get(pk=conversation.pk).customer_tag_ids == [keep.pk]
    found = conversations_list_frame(user=staff, filters={"tags": ["Keep"]})["conversations"]
    assert [row["id"] for row in found] == [conversation.pk]
