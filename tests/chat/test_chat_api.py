"""Seed 004's chat REST API: create, list (staff and customer), message history; token kinds,
tenancy, presence, constant query counts."""
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from conversations.models import Conversation, Message, ReadMarker
from conversations.services import conversation_mark_read, message_receive, message_send
from fiko import presence, redis_clients
from fiko.tokens import customer_tokens_for, staff_tokens_for
from tests.chat.chat_socket_helpers import fresh_presence  # noqa: F401  (autouse: empty presence registry)
from tests.factories import make_conversation, make_customer, make_user

pytestmark = pytest.mark.django_db

CHAT_KEYS = {"id", "chat_type", "salon_id", "title", "is_active", "is_archived", "last_message_at",
             "last_message_preview", "created_at", "updated_at", "participants", "total_messages", "unread_count",
             "online_participants"}


def as_staff(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {staff_tokens_for(user)['access']}")
    return client


def as_customer(customer) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {customer_tokens_for(customer)['access']}")
    return client


@pytest.fixture
def web_customer(workspace):
    return make_customer(workspace, source="web", first_name="Sara", last_name="K", phone="+1234567890",
                         email="sara@example.com")


# --- create -----------------------------------------------------------------------------------------
def test_staff_creates_a_chat_with_its_first_message(staff, web_customer, listen,
                                                     django_capture_on_commit_callbacks):
    from fiko import realtime

    listener = listen([realtime.workspace_group(web_customer.workspace_id)])
    with django_capture_on_commit_callbacks(execute=True):
        response = as_staff(staff).post("/api/v1/chat/chats", {
            "customer_id": web_customer.pk, "title": "Support Chat", "initial_message": "Hi, how can I help you?",
        }, format="json")
    assert response.status_code == 201, response.content
    chat = response.json()
    assert set(chat) == CHAT_KEYS
    conversation = Conversation.objects.get(pk=chat["id"])
    assert conversation.customer_id == web_customer.pk and conversation.source == "web"
    assert chat["chat_type"] == "user_customer" and chat["salon_id"] == web_customer.workspace_id
    assert chat["title"] == "Support Chat" and chat["is_active"] is True and chat["is_archived"] is False
    assert chat["total_messages"] == 1 and chat["unread_count"] == 0
    assert chat["last_message_preview"] == "Hi, how can I help you?"
    assert chat["last_message_at"].endswith("Z") and chat["created_at"].endswith("Z")
    user_part, customer_part = chat["participants"]
    assert user_part == {"participant_type": "user", "participant_id": staff.pk, "joined_at": user_part["joined_at"],
                         "is_active": True, "unread_count": 0, "name": "alice", "email": "alice@example.com"}
    assert customer_part == {"participant_type": "customer", "participant_id": web_customer.pk,
                             "joined_at": customer_part["joined_at"], "is_active": True, "unread_count": 1,
                             "name": "Sara K", "email": "sara@example.com", "phone": "+1234567890"}
    message = Message.objects.get(conversation=conversation)
    assert (message.sender_type, message.sender_user_id, message.content) == ("user", staff.pk,
                                                                               "Hi, how can I help you?")
    types = [event["type"] for event in listener.drain()]
    assert types.count("conversation.created") == 1 and types.count("message.created") == 1


def test_staff_create_refuses_other_workspaces_customer_and_bad_input(staff, other_workspace):
    rival = make_customer(other_workspace, first_name="Rita")
    client = as_staff(staff)
    for customer_id in (rival.pk, 999999):
        response = client.post("/api/v1/chat/chats", {"customer_id": customer_id, "title": "x"}, format="json")
        assert response.status_code == 404 and response.json() == {"detail": "Customer not found", "code": "not_found"}
    response = client.post("/api/v1/chat/chats", {"title": "no customer"}, format="json")
    assert response.status_code == 400 and "customer_id" in response.json()
    response = client.post("/api/v1/chat/chats", {"customer_id": "abc"}, format="json")
    assert response.status_code == 400
    response = client.post("/api/v1/chat/chats", {"customer_id": rival.pk, "initial_message": "x" * 4097},
                           format="json")
    assert response.status_code == 400 and "initial_message" in response.json()
    assert Conversation.objects.count() == 0 and Message.objects.count() == 0


def test_customer_creates_a_chat_with_a_staff_member(web_customer, staff):
    response = as_customer(web_customer).post("/api/v1/chat/chats/customer", {
        "user_id": staff.pk, "title": "Booking Inquiry", "initial_message": "I'd like to book an appointment",
    }, format="json")
    assert response.status_code == 201, response.content
    chat = response.json()
    conversation = Conversation.objects.get(pk=chat["id"])
    assert conversation.assignee_id == staff.pk and conversation.customer_id == web_customer.pk
    assert conversation.workspace_id == web_customer.workspace_id and conversation.source == "web"
    assert chat["title"] == "Booking Inquiry" and chat["total_messages"] == 1
    assert chat["unread_count"] == 0  # the customer's side: nothing unread
    assert [(p["participant_type"], p["participant_id"], p["unread_count"]) for p in chat["participants"]] == [
        ("user", staff.pk, 1), ("customer", web_customer.pk, 0)]
    message = Message.objects.get(conversation=conversation)
    assert (message.sender_type, message.sender_customer_id, message.delivery_status) == (
        "customer", web_customer.pk, "received")


def test_customer_create_without_user_and_with_a_stranger(web_customer, other_staff, workspace):
    client = as_customer(web_customer)
    chat = client.post("/api/v1/chat/chats/customer", {"initial_message": "hello"}, format="json").json()
    assert [p["participant_type"] for p in chat["participants"]] == ["customer"]
    assert chat["title"] == "web - Sara K"
    for user_id in (other_staff.pk, 999999, make_user("loner").pk):  # another business, nobody, no workspace
        response = client.post("/api/v1/chat/chats/customer", {"user_id": user_id, "initial_message": "hi"},
                               format="json")
        assert response.status_code == 400 and response.json()["field"] == "user_id"
    assert Conversation.objects.count() == 1


# --- token kinds --------------------------------------------------------------------------------------
def test_staff_endpoints_refuse_customer_tokens_and_vice_versa(staff, web_customer):
    customer_client, staff_client = as_customer(web_customer), as_staff(staff)
    for method, path, body in [("get", "/api/v1/chat/chats", None),
                               ("post", "/api/v1/chat/chats", {"customer_id": web_customer.pk})]:
        response = getattr(customer_client, method)(path, body, format="json")
        assert response.status_code == 401 and "staff token" in response.json()["detail"]
    for method, path, body in [("get", "/api/v1/chat/chats/customer", None),
                               ("post", "/api/v1/chat/chats/customer", {"initial_message": "hi"})]:
        response = getattr(staff_client, method)(path, body, format="json")
        assert response.status_code == 401 and "customer token" in response.json()["detail"]
        assert getattr(APIClient(), method)(path, body, format="json").status_code == 401
    assert APIClient().get("/api/v1/chat/chats").status_code == 401
    assert Conversation.objects.count() == 0


# --- lists ----------------------------------------------------------------------------------------------
def test_staff_list_filters_archived_and_hides_other_workspaces(staff, workspace, other_workspace, customer):
    open_chat = make_conversation(workspace, customer, title="open")
    archived = make_conversation(workspace, customer, title="old", is_archived=True)
    make_conversation(other_workspace, make_customer(other_workspace), title="rival")
    message_receive(conversation=open_chat, customer=customer, content="Where is my order?")
    client = as_staff(staff)
    chats = client.get("/api/v1/chat/chats?is_archived=false").json()
    assert isinstance(chats, list) and [c["id"] for c in chats] == [open_chat.pk]
    chat = chats[0]
    assert set(chat) == CHAT_KEYS
    assert chat["unread_count"] == 1 and chat["last_message_preview"] == "Where is my order?"
    assert chat["online_participants"] == []
    assert [c["id"] for c in client.get("/api/v1/chat/chats?is_archived=true").json()] == [archived.pk]
    assert {c["id"] for c in client.get("/api/v1/chat/chats").json()} == {open_chat.pk, archived.pk}
    response = client.get("/api/v1/chat/chats?is_archived=maybe")
    assert response.status_code == 400 and "is_archived" in response.json()
    assert client.get("/api/v1/chat/chats?page_size=101").status_code == 400
    assert [c["id"] for c in client.get("/api/v1/chat/chats?page=2&page_size=1").json()] == [archived.pk]


def test_customer_list_has_only_their_own_chats(workspace, customer, web_customer, staff):
    own = make_conversation(workspace, web_customer, title="mine")
    make_conversation(workspace, customer, title="someone else's")
    message_send(conversation=own, user=staff, content="We open at 9")
    chats = as_customer(web_customer).get("/api/v1/chat/chats/customer?is_archived=false").json()
    assert [c["id"] for c in chats] == [own.pk]
    assert chats[0]["unread_count"] == 1  # the customer's side: one staff message unread
    assert [p["participant_id"] for p in chats[0]["participants"]] == [staff.pk, web_customer.pk]


def test_online_participants_come_from_presence(staff, workspace, customer):
    from asgiref.sync import async_to_sync

    chat = make_conversation(workspace, customer)
    other = make_conversation(workspace, customer)
    async_to_sync(presence.enter)(presence.conversation_key(chat.pk), f"user:{staff.pk}", "conn-1")
    async_to_sync(presence.enter)(presence.conversation_key(chat.pk), f"customer:{customer.pk}", "conn-2")
    redis_clients.forget()
    chats = {c["id"]: c for c in as_staff(staff).get("/api/v1/chat/chats").json()}
    assert chats[chat.pk]["online_participants"] == [staff.pk, customer.pk]
    assert chats[other.pk]["online_participants"] == []


def test_online_participants_across_processes_on_redis(redis_url, staff, workspace, customer):
    """Another server process registers a socket in Redis; this process's REST answer shows it."""
    chat = make_conversation(workspace, customer)
    code = ("import asyncio, django; django.setup(); from fiko import presence; "
            f"asyncio.run(presence.enter(presence.conversation_key({chat.pk}), 'customer:{customer.pk}', 'elsewhere'))")
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "fiko.test_settings", "REDIS_URL": redis_url}
    subprocess.run([sys.executable, "-c", code], check=True, env=env, cwd=Path(__file__).resolve().parents[2],
                   timeout=60)
    chats = as_staff(staff).get("/api/v1/chat/chats").json()
    assert chats[0]["online_participants"] == [customer.pk]


def _chats_with_activity(workspace, staff, colleague, n):
    for i in range(n):
        customer = make_customer(workspace, first_name=f"C{i}")
        chat = make_conversation(workspace, customer, assignee=colleague)
        message_receive(conversation=chat, customer=customer, content="hi")
        message_send(conversation=chat, user=staff, content="hello")


@pytest.mark.parametrize("side", ["staff", "customer"])
def test_list_queries_are_constant(staff, workspace, side):
    colleague = make_user("bob", workspace=workspace)
    counts = []
    for total in (1, 20):
        Conversation.objects.all().delete()
        if side == "staff":
            _chats_with_activity(workspace, staff, colleague, total)
            client, path = as_staff(staff), "/api/v1/chat/chats"
        else:
            customer = make_customer(workspace, source="web")
            for _ in range(total):
                chat = make_conversation(workspace, customer, assignee=colleague)
                message_send(conversation=chat, user=staff, content="hello")
            client, path = as_customer(customer), "/api/v1/chat/chats/customer"
        with CaptureQueriesContext(connection) as queries:
            chats = client.get(path).json()
        assert len(chats) == total
        assert all(len(c["participants"]) == 3 for c in chats)  # assignee, writer, customer
        counts.append(len(queries))
    assert counts[0] == counts[1], counts


# --- messages --------------------------------------------------------------------------------------------
@pytest.fixture
def history(workspace, web_customer, staff):
    chat = make_conversation(workspace, web_customer)
    for i in range(5):
        message_receive(conversation=chat, customer=web_customer, content=f"q{i}")
        message_send(conversation=chat, user=staff, content=f"a{i}")
    conversation_mark_read(conversation=chat, reader_type="customer", reader_id=web_customer.pk,
                           up_to_message_id=Message.objects.get(conversation=chat, seq=4).pk)
    return chat


def test_staff_reads_history_newest_first_with_read_receipts(staff, history, web_customer):
    body = as_staff(staff).get(f"/api/v1/chat/chats/{history.pk}/messages?page=1&page_size=3").json()
    assert (body["total"], body["page"], body["page_size"], body["has_more"]) == (10, 1, 3, True)
    assert [m["seq"] for m in body["messages"]] == [10, 9, 8]
    first = body["messages"][0]
    assert first["chat_id"] == history.pk and first["sender_type"] == "user" and first["sender_name"] == "alice"
    assert first["read_receipts"] == []
    body = as_staff(staff).get(f"/api/v1/chat/chats/{history.pk}/messages?page=3&page_size=3").json()
    assert [m["seq"] for m in body["messages"]] == [4, 3, 2] and body["has_more"] is True
    staff_reply = body["messages"][0]
    assert staff_reply["read_receipts"] == [{"reader_type": "customer", "reader_id": web_customer.pk,
                                             "read_at": staff_reply["read_receipts"][0]["read_at"]}]
    body = as_staff(staff).get(f"/api/v1/chat/chats/{history.pk}/messages?page=4&page_size=3").json()
    assert [m["seq"] for m in body["messages"]] == [1] and body["has_more"] is False
    body = as_staff(staff).get(f"/api/v1/chat/chats/{history.pk}/messages").json()
    assert (len(body["messages"]), body["page_size"], body["has_more"]) == (10, 50, False)


def test_customer_reads_own_history_on_the_same_path(web_customer, history, workspace, customer):
    body = as_customer(web_customer).get(f"/api/v1/chat/chats/{history.pk}/messages").json()
    assert body["total"] == 10 and body["messages"][0]["seq"] == 10
    someone_elses = make_conversation(workspace, customer)
    response = as_customer(web_customer).get(f"/api/v1/chat/chats/{someone_elses.pk}/messages")
    assert response.status_code == 404 and response.json()["detail"] == "Chat not found"


def test_history_of_another_workspace_or_bad_page_is_refused(other_staff, staff, history):
    response = as_staff(other_staff).get(f"/api/v1/chat/chats/{history.pk}/messages")
    assert response.status_code == 404 and response.json() == {"detail": "Chat not found", "code": "not_found"}
    missing = as_staff(staff).get("/api/v1/chat/chats/999999/messages")
    assert missing.status_code == 404 and missing.json() == response.json()  # indistinguishable
    for query in ("page=0", "page_size=101", "page=x"):
        assert as_staff(staff).get(f"/api/v1/chat/chats/{history.pk}/messages?{query}").status_code == 400
    assert APIClient().get(f"/api/v1/chat/chats/{history.pk}/messages").status_code == 401


def test_history_queries_are_constant(staff, workspace, web_customer):
    counts = []
    for total in (1, 20):
        chat = make_conversation(workspace, web_customer)
        for i in range(total):
            message_send(conversation=chat, user=staff, content=f"m{i}")
        ReadMarker.objects.create(conversation=chat, reader_type="customer", reader_id=web_customer.pk,
                                  last_read_seq=total, read_at=chat.created_at)
        with CaptureQueriesContext(connection) as queries:
            body = as_staff(staff).get(f"/api/v1/chat/chats/{chat.pk}/messages").json()
        assert len(body["messages"]) == total and body["messages"][0]["read_receipts"]
        counts.append(len(queries))
    assert counts[0] == counts[1], counts


def test_staff_chat_with_a_telegram_customer_goes_through_their_channel(staff, workspace, customer):
    """A staff-started chat with a platform customer is delivered on that platform: it reuses
    the customer's open conversation on their channel, and the first message waits for delivery."""
    from integrations.models import Channel

    channel = Channel.objects.create(workspace=workspace, platform="telegram", bot_token="1:x", webhook_secret="s")
    closed = make_conversation(workspace, customer, channel=channel, status="closed")
    response = as_staff(staff).post("/api/v1/chat/chats", {"customer_id": customer.pk, "title": "Follow-up",
                                                           "initial_message": "Your order shipped"}, format="json")
    assert response.status_code == 201, response.content
    chat = Conversation.objects.get(pk=response.json()["id"])
    assert chat.pk != closed.pk and chat.channel_id == channel.pk and chat.source == "telegram"
    message = Message.objects.get(conversation=chat)
    assert (message.content, message.delivery_status) == ("Your order shipped", "pending")
    again = as_staff(staff).post("/api/v1/chat/chats", {"customer_id": customer.pk, "initial_message": "One more"},
                                 format="json")
    assert again.json()["id"] == chat.pk  # the open conversation on the channel is reused
    assert Message.objects.filter(conversation=chat).count() == 2
