"""/api/conversations/{id}/messages/: a cursor window (oldest first) and sending a message
over REST, which reaches the sockets exactly like one sent on /ws/chat/."""
import pytest
from channels.db import database_sync_to_async
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from conversations.models import Message
from conversations.services import conversation_mark_read, message_receive, message_send
from fiko import presence
from fiko.realtime import conversation_group, workspace_group
from tests.factories import make_conversation, make_customer
from tests.sockets import connect, receive_until, staff_token

pytestmark = pytest.mark.django_db


def client_for(user):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {staff_token(user)}")
    return client


@pytest.fixture
def api(staff):
    return client_for(staff)


def _fill(conversation, customer, staff, n):
    for i in range(n):
        if i % 2:
            message_send(conversation=conversation, user=staff, content=f"m{i + 1}")
        else:
            message_receive(conversation=conversation, customer=customer, content=f"m{i + 1}")


def url(conversation_id):
    return f"/api/conversations/{conversation_id}/messages/"


def seqs(body):
    return [m["seq"] for m in body["results"]]


def test_window_newest_first_page_then_older_and_newer(api, staff, customer, conversation):
    _fill(conversation, customer, staff, 25)
    body = api.get(url(conversation.pk) + "?limit=10").json()
    assert seqs(body) == list(range(16, 26)) and body["has_more"] is True and body["count"] == 25
    assert body["next"] is None and f"before_id={body['results'][0]['id']}" in body["previous"]
    older = api.get(body["previous"]).json()
    assert seqs(older) == list(range(6, 16)) and older["has_more"] is True
    assert f"after_id={older['results'][-1]['id']}" in older["next"]
    oldest = api.get(older["previous"]).json()
    assert seqs(oldest) == [1, 2, 3, 4, 5] and oldest["has_more"] is False and oldest["previous"] is None
    newer = api.get(oldest["next"]).json()
    assert seqs(newer) == list(range(6, 16)) and newer["has_more"] is True
    caught_up = api.get(url(conversation.pk) + f"?after_id={body['results'][-1]['id']}").json()
    assert caught_up["results"] == [] and caught_up["has_more"] is False and caught_up["next"] is None
    first = body["results"][0]
    assert first["chat_id"] == conversation.pk and first["customer"]["username"] == "johndoe"


def test_default_limit_is_50(api, staff, customer, conversation):
    _fill(conversation, customer, staff, 55)
    body = api.get(url(conversation.pk)).json()
    assert seqs(body) == list(range(6, 56)) and body["has_more"] is True


@pytest.mark.parametrize("query, field", [
    ("limit=0", "limit"), ("limit=101", "limit"), ("limit=ten", "limit"), ("before_id=x", "before_id"),
    ("before_id=3&after_id=1", "before_id"), ("after_id=-1", "after_id"), ("page=2", "page"),
])
def test_window_bad_query(api, conversation, query, field):
    response = api.get(url(conversation.pk) + f"?{query}")
    assert response.status_code == 400 and field in str(response.json())


def test_other_workspace_and_missing_are_404(api, other_workspace, conversation):
    rival = make_conversation(other_workspace, make_customer(other_workspace, first_name="R"))
    for target in (rival.pk, 999999, "abc"):
        get = api.get(url(target))
        post = api.post(url(target), {"content": "hi"}, format="json")
        assert get.status_code == post.status_code == 404
        assert get.json() == {"detail": "Conversation not found", "code": "not_found"}
    assert not Message.objects.filter(conversation=rival).exists()


@pytest.mark.django_db(transaction=True)
def test_post_stores_and_publishes(api, staff, conversation, workspace, listen):
    listener = listen([conversation_group(conversation.pk), workspace_group(workspace.pk)])
    response = api.post(url(conversation.pk), {"content": " Hi John ", "role": "marketing",
                                                "reference": {"type": "pack", "id": "p-9", "title": "Summer"}},
                        format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["content"], body["type"], body["sender_type"], body["seq"]) == ("Hi John", "marketing", "user", 1)
    assert body["reference"] == {"type": "pack", "id": "p-9", "title": "Summer"}
    assert Message.objects.get(pk=body["id"]).sender_user_id == staff.pk
    events = listener.drain()
    assert [e["type"] for e in events] == ["message.created", "message.created"]
    assert events[0]["message"]["id"] == body["id"]


@pytest.mark.django_db(transaction=True)
def test_post_client_message_id_is_idempotent(api, conversation, workspace, listen):
    first = api.post(url(conversation.pk), {"content": "once", "client_message_id": "abc"}, format="json")
    listener = listen([conversation_group(conversation.pk)])
    again = api.post(url(conversation.pk), {"content": "once", "client_message_id": "abc"}, format="json")
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == first.json()["id"]
    assert Message.objects.filter(conversation=conversation).count() == 1
    assert listener.drain() == []


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("body, status, code", [
    ({"content": ""}, 400, "empty_content"),
    ({"content": "   "}, 400, "empty_content"),
    ({}, 400, "empty_content"),
    ({"content": "x" * 4097}, 400, "too_long"),
    ({"content": "hi", "role": "customer"}, 400, None),
    ({"content": "hi", "message_type": "sticker"}, 400, None),
    ({"content": "hi", "reference": {"type": "coupon", "id": 1}}, 400, None),
    ({"content": "hi", "reply_to_message_id": 999999}, 400, "not_found"),
    ({"content": "hi", "sender_type": "customer"}, 400, "invalid_input"),
])
def test_post_bad_input_stores_nothing(api, conversation, workspace, listen, body, status, code):
    listener = listen([conversation_group(conversation.pk), workspace_group(workspace.pk)])
    response = api.post(url(conversation.pk), body, format="json")
    assert response.status_code == status, response.json()
    if code:
        assert response.json()["code"] == code
    if code == "empty_content":
        assert response.json()["detail"] == "Message content cannot be empty"
    assert not Message.objects.filter(conversation=conversation).exists()
    assert listener.drain() == []


def test_messages_query_count_is_constant(api, staff, customer, conversation):
    def count():
        with CaptureQueriesContext(connection) as ctx:
            body = api.get(url(conversation.pk) + "?limit=100").json()
        return len(ctx.captured_queries), len(body["results"])

    _fill(conversation, customer, staff, 1)
    conversation_mark_read(conversation=conversation, reader_type="user", reader_id=staff.pk)
    one, n = count()
    assert n == 1
    _fill(conversation, customer, staff, 19)
    conversation_mark_read(conversation=conversation, reader_type="user", reader_id=staff.pk)
    twenty, n = count()
    assert n == 20 and one == twenty, f"{one} vs {twenty}"


@pytest.mark.django_db(transaction=True)
async def test_rest_message_reaches_the_chat_and_list_sockets(staff, conversation):
    presence._memory.keys.clear()
    chat, connected, _ = await connect(f"/ws/chat/{conversation.pk}/", staff_token(staff))
    assert connected and (await chat.receive_json_from())["type"] == "recent_messages"
    conv_list, _, _ = await connect("/ws/conversations/", staff_token(staff))
    response = await database_sync_to_async(client_for(staff).post)(
        url(conversation.pk), {"content": "from REST"}, format="json")
    assert response.status_code == 201
    frame = await receive_until(chat, "chat_message")
    assert frame["message"]["id"] == response.json()["id"] and frame["message"]["content"] == "from REST"
    update = await receive_until(conv_list, "conversation_updated")
    assert update["conversation"]["last_message"]["content"] == "from REST"
    await chat.disconnect(), await conv_list.disconnect()
