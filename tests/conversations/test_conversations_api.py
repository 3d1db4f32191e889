"""/api/conversations/: list with the socket's filters, retrieve, PATCH status / priority /
assignee / is_archived (each change publishes conversation.updated); bad input is a 400 that
changes nothing; another workspace's conversation is a 404."""
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from conversations.models import Conversation, Priority
from conversations.services import message_receive, message_send
from customers.models import Tag
from fiko.realtime import workspace_group
from tests.factories import make_conversation, make_customer
from tests.sockets import staff_token

pytestmark = pytest.mark.django_db


def client_for(user):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {staff_token(user)}")
    return client


@pytest.fixture
def api(staff):
    return client_for(staff)


@pytest.fixture
def inbox(workspace, other_workspace, staff, bob, other_staff):
    tag = Tag.objects.create(workspace=workspace, name="urgent")
    john = make_customer(workspace, first_name="John", last_name="Doe", source="telegram")
    john.tags.add(tag)
    ali = make_customer(workspace, first_name="علی", source="instagram")
    support = make_conversation(workspace, john, title="Refund request", priority=Priority.HIGH, assignee=staff)
    message_receive(conversation=support, customer=john, content="Where is my order?")
    quiet = make_conversation(workspace, ali, status="pending", priority=Priority.LOW)
    message_send(conversation=quiet, user=bob, content="Hello")
    rival = make_conversation(other_workspace, make_customer(other_workspace, first_name="R"), title="Refund request")
    return {"support": support.pk, "quiet": quiet.pk, "rival": rival.pk}


def ids(response):
    return sorted(row["id"] for row in response.json()["results"])


def test_list(api, inbox, staff):
    body = api.get("/api/conversations/").json()
    assert set(body) == {"count", "next", "previous", "next_cursor", "results"} and body["count"] == 2
    support = next(r for r in body["results"] if r["id"] == inbox["support"])
    assert support["assignee"] == {"id": staff.pk, "username": "alice"} and support["priority"] == "high"
    assert support["unread_count"] == 1 and support["last_message"]["content"] == "Where is my order?"


@pytest.mark.parametrize("query, expected", [
    ("status=active", ["support"]),
    ("status=pending", ["quiet"]),
    ("priority=2", ["support"]),
    ("priority=low", ["quiet"]),
    ("unread_only=true", ["support"]),
    ("assignee=me", ["support"]),
    ("assignee=none", ["quiet"]),
    ("tags=urgent", ["support"]),
    ("search=order", ["support"]),
    ("search=علي", ["quiet"]),
    ("source=instagram", ["quiet"]),
    ("is_archived=false", ["support", "quiet"]),
])
def test_list_filters(api, inbox, query, expected):
    response = api.get(f"/api/conversations/?{query}")
    assert response.status_code == 200, response.json()
    assert ids(response) == sorted(inbox[name] for name in expected)


@pytest.mark.parametrize("query, field", [
    ("status=archived", "status"), ("priority=9", "priority"), ("assignee=bob", "assignee"),
    ("order_by=title", "order_by"), ("page=0", "page"), ("foo=1", "foo"),
])
def test_invalid_filters(api, inbox, query, field):
    response = api.get(f"/api/conversations/?{query}")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_filter" and response.json()["field"] == field


def test_retrieve_and_404s(api, inbox):
    assert api.get(f"/api/conversations/{inbox['support']}/").json()["title"] == "Refund request"
    responses = [api.get(f"/api/conversations/{inbox['rival']}/"), api.get("/api/conversations/999999/"),
                 api.get("/api/conversations/x/")]
    assert [r.status_code for r in responses] == [404, 404, 404]
    assert responses[0].json() == responses[1].json() == {"detail": "Conversation not found", "code": "not_found"}


@pytest.mark.django_db(transaction=True)
def test_patch_each_field_publishes_conversation_updated(api, inbox, workspace, bob, listen):
    url = f"/api/conversations/{inbox['quiet']}/"
    listener = listen([workspace_group(workspace.pk)])
    response = api.patch(url, {"status": "closed", "priority": "urgent", "assignee": bob.pk, "is_archived": True},
                         format="json")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["status"], body["priority"], body["is_archived"]) == ("closed", "urgent", True)
    assert body["assignee"] == {"id": bob.pk, "username": "bob"}
    stored = Conversation.objects.get(pk=inbox["quiet"])
    assert (stored.status, stored.priority, stored.assignee_id, stored.is_archived) == ("closed", 3, bob.pk, True)
    events = listener.drain()
    assert [e["type"] for e in events] == ["conversation.updated"]
    assert events[0]["conversation"]["assignee"] == {"id": bob.pk, "username": "bob"}

    listener = listen([workspace_group(workspace.pk)])
    response = api.patch(url, {"assignee": None, "priority": 1}, format="json")
    assert response.status_code == 200 and response.json()["assignee"] is None
    assert response.json()["priority"] == "medium"
    assert [e["conversation"]["priority"] for e in listener.drain()] == ["medium"]

    listener = listen([workspace_group(workspace.pk)])
    assert api.patch(url, {"priority": "medium"}, format="json").status_code == 200
    assert listener.drain() == []  # nothing changed: nothing announced


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("body, field", [
    ({"status": "active"}, "status"),
    ({"status": "closed", "priority": "critical"}, "priority"),
    ({"status": "closed", "assignee": "bob"}, "assignee"),
    ({"status": "closed", "is_archived": "sometimes"}, "is_archived"),
    ({"status": "closed", "title": "New title"}, "title"),
])
def test_patch_bad_input_changes_nothing(api, inbox, workspace, listen, body, field):
    listener = listen([workspace_group(workspace.pk)])
    response = api.patch(f"/api/conversations/{inbox['support']}/", body, format="json")
    assert response.status_code == 400 and field in str(response.json())
    stored = Conversation.objects.get(pk=inbox["support"])
    assert (stored.status, stored.title) == ("open", "Refund request")
    assert listener.drain() == []


@pytest.mark.django_db(transaction=True)
def test_assignee_must_be_a_member(api, inbox, other_staff, workspace, listen):
    listener = listen([workspace_group(workspace.pk)])
    response = api.patch(f"/api/conversations/{inbox['support']}/", {"status": "closed", "assignee": other_staff.pk},
                         format="json")
    assert response.status_code == 400 and response.json()["field"] == "assignee"
    stored = Conversation.objects.get(pk=inbox["support"])
    assert stored.status == "open" and stored.assignee.username == "alice"
    assert listener.drain() == []


def test_patch_other_workspace_is_404(api, inbox):
    response = api.patch(f"/api/conversations/{inbox['rival']}/", {"status": "closed"}, format="json")
    assert response.status_code == 404
    assert Conversation.objects.get(pk=inbox["rival"]).status == "open"


def test_list_query_count_is_constant(api, staff, workspace):
    tag = Tag.objects.create(workspace=workspace, name="bulk")

    def add(n):
        for i in range(n):
            customer = make_customer(workspace, first_name=f"Bulk{i}")
            customer.tags.add(tag)
            conversation = make_conversation(workspace, customer, assignee=staff)
            message_receive(conversation=conversation, customer=customer, content="hi")

    def count():
        with CaptureQueriesContext(connection) as ctx:
            body = api.get("/api/conversations/?tags=bulk&assignee=me&page_size=100").json()
        return len(ctx.captured_queries), body["count"]

    add(1)
    one, total = count()
    assert total == 1
    add(19)
    twenty, total = count()
    assert total == 20 and one == twenty, f"{one} vs {twenty}"


def test_openapi_schema_describes_the_fiko_rest(api):
    response = api.get("/api/schema/?format=json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    for path in ("/api/customers/", "/api/customers/{id}/", "/api/conversations/", "/api/conversations/{id}/",
                 "/api/conversations/{conversation_id}/messages/", "/api/tags/", "/api/tags/{id}/"):
        assert path in paths, path

    def params(path, method="get"):
        return {p["name"] for p in paths[path][method].get("parameters", [])}

    assert {"search", "tags", "tag_ids", "has_unread", "order_by", "limit", "offset", "page", "page_size"} <= \
        params("/api/customers/")
    assert {"status", "priority", "assignee", "unread_only", "is_archived"} <= params("/api/conversations/")
    assert {"before_id", "after_id", "limit"} <= params("/api/conversations/{conversation_id}/messages/")
    assert set(paths["/api/conversations/{id}/"]) >= {"get", "patch"}
    assert "put" not in paths["/api/customers/{id}/"] and "delete" not in paths["/api/customers/{id}/"]
