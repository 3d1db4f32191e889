"""/api/customers/: list with the socket's filters as query parameters, retrieve, PATCH;
bad input is a 400 with a reason that changes nothing; another workspace's customer is a 404."""
from datetime import datetime, timezone

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from conversations.services import message_receive
from customers.models import Customer, Tag
from fiko.realtime import workspace_group
from tests.factories import make_conversation, make_customer
from tests.sockets import customer_token, staff_token

pytestmark = pytest.mark.django_db


def client_for(user=None, token=None):
    client = APIClient()
    token = token or (staff_token(user) if user else None)
    if token:
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


@pytest.fixture
def api(staff):
    return client_for(staff)


@pytest.fixture
def people(workspace, other_workspace):
    vip = Tag.objects.create(workspace=workspace, name="VIP")
    premium = Tag.objects.create(workspace=workspace, name="Premium")
    john = make_customer(workspace, first_name="John", last_name="Doe", username="johndoe",
                         email="john@example.com", source="telegram")
    ali = make_customer(workspace, first_name="علی", phone="۰۹۱۲۳۴۵۶۷۸۹", source="instagram")
    sara = make_customer(workspace, first_name="Sara", email="sara@shop.io", source="web", external_id="")
    john.tags.add(vip)
    sara.tags.add(vip, premium)
    message_receive(conversation=make_conversation(workspace, john), customer=john, content="hi")
    Customer.objects.filter(pk=sara.pk).update(created_at=datetime(2024, 3, 5, tzinfo=timezone.utc))
    Customer.objects.filter(pk=ali.pk).update(created_at=datetime(2024, 2, 1, tzinfo=timezone.utc))
    Customer.objects.filter(pk=john.pk).update(created_at=datetime(2024, 1, 1, tzinfo=timezone.utc))
    rival = make_customer(other_workspace, first_name="John", last_name="Doe")
    rival_tag = Tag.objects.create(workspace=other_workspace, name="VIP")
    return {"john": john.pk, "ali": ali.pk, "sara": sara.pk, "vip": vip.pk, "premium": premium.pk,
            "rival": rival.pk, "rival_tag": rival_tag.pk}


def ids(response):
    return sorted(row["id"] for row in response.json()["results"])


def test_list_shape_and_tenancy(api, people):
    response = api.get("/api/customers/")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"count", "next", "previous", "next_cursor", "results"}
    assert body["count"] == 3 and body["next"] is None and body["previous"] is None
    assert ids(response) == sorted([people["john"], people["ali"], people["sara"]])
    john = next(r for r in body["results"] if r["id"] == people["john"])
    assert john["username"] == "johndoe" and john["unread_count"] == 1 and john["tags"][0]["name"] == "VIP"


@pytest.mark.parametrize("query, expected", [
    ("search=john+doe", ["john"]),
    ("search=علي", ["ali"]),
    ("search=0912", ["ali"]),
    ("source=web", ["sara"]),
    ("tags=Premium", ["sara"]),
    ("tags=Premium&tags=VIP", ["john", "sara"]),
    ("tags=Premium,VIP", ["john", "sara"]),
    ("has_email=false", ["ali"]),
    ("has_unread=true", ["john"]),
    ("conversation_status=active", ["john"]),
    ("date_from=2024-02-01&date_to=2024-03-05", ["ali", "sara"]),
])
def test_list_filters(api, people, query, expected):
    response = api.get(f"/api/customers/?{query}")
    assert response.status_code == 200, response.json()
    assert ids(response) == sorted(people[name] for name in expected)


def test_tag_ids_filter(api, people):
    response = api.get(f"/api/customers/?tag_ids={people['premium']}")
    assert ids(response) == [people["sara"]]
    response = api.get(f"/api/customers/?tag_ids={people['premium']}&tag_ids={people['vip']}")
    assert ids(response) == sorted([people["john"], people["sara"]])


def test_pagination_links(api, people):
    body = api.get("/api/customers/?order_by=created_at&page=1&page_size=2").json()
    assert [r["id"] for r in body["results"]] == [people["john"], people["ali"]] and body["count"] == 3
    assert body["previous"] is None and "page=2" in body["next"]
    body = api.get(body["next"]).json()
    assert [r["id"] for r in body["results"]] == [people["sara"]] and body["next"] is None
    assert "page=1" in body["previous"]
    body = api.get("/api/customers/?order_by=-created_at&limit=1&offset=1").json()
    assert [r["id"] for r in body["results"]] == [people["ali"]]
    assert "offset=2" in body["next"] and "offset=0" in body["previous"]


@pytest.mark.parametrize("query, field", [
    ("source=facebook", "source"),
    ("has_email=maybe", "has_email"),
    ("tag_ids=vip", "tag_ids"),
    ("date_from=soon", "date_from"),
    ("order_by=password", "order_by"),
    ("page_size=101", "page_size"),
    ("limit=0", "limit"),
    ("colour=red", "colour"),
])
def test_invalid_filter_is_400_naming_the_field(api, people, query, field):
    response = api.get(f"/api/customers/?{query}")
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid_filter" and body["field"] == field and field in body["detail"]


def test_retrieve_and_cross_workspace_404(api, people):
    response = api.get(f"/api/customers/{people['john']}/")
    assert response.status_code == 200 and response.json()["id"] == people["john"]
    missing = api.get("/api/customers/999999/")
    foreign = api.get(f"/api/customers/{people['rival']}/")
    malformed = api.get("/api/customers/abc/")
    assert missing.status_code == foreign.status_code == malformed.status_code == 404
    assert missing.json() == foreign.json() == malformed.json() == {"detail": "Customer not found",
                                                                      "code": "not_found"}


@pytest.mark.django_db(transaction=True)
def test_patch_updates_and_publishes(api, people, workspace, listen):
    listener = listen([workspace_group(workspace.pk)])
    response = api.patch(f"/api/customers/{people['ali']}/", {
        "first_name": "Ali", "last_name": "Karimi", "email": "ali@example.com", "phone": "+98 912 345 6789",
        "tag_ids": [people["premium"]]}, format="json")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["first_name"], body["last_name"], body["email"]) == ("Ali", "Karimi", "ali@example.com")
    assert [t["id"] for t in body["tags"]] == [people["premium"]]
    stored = Customer.objects.get(pk=people["ali"])
    assert stored.phone == "+98 912 345 6789" and list(stored.tags.values_list("pk", flat=True)) == [people["premium"]]
    assert "karimi" in stored.search_text  # searchable by the new name
    events = listener.drain()
    assert [e["type"] for e in events] == ["customer.updated"]
    assert events[0]["customer"]["last_name"] == "Karimi"
    # tags can be cleared
    response = api.patch(f"/api/customers/{people['ali']}/", {"tag_ids": []}, format="json")
    assert response.status_code == 200 and response.json()["tags"] == []


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("body, field", [
    ({"email": "not-an-email", "first_name": "X"}, "email"),
    ({"phone": "call me", "first_name": "X"}, "phone"),
    ({"first_name": "x" * 151}, "first_name"),
    ({"tag_ids": ["vip"], "first_name": "X"}, "tag_ids"),
    ({"first_name": "X", "nickname": "x"}, "nickname"),
])
def test_patch_bad_input_changes_nothing(api, people, workspace, listen, body, field):
    listener = listen([workspace_group(workspace.pk)])
    response = api.patch(f"/api/customers/{people['john']}/", body, format="json")
    assert response.status_code == 400
    assert field in str(response.json())
    assert Customer.objects.get(pk=people["john"]).first_name == "John"
    assert listener.drain() == []


@pytest.mark.django_db(transaction=True)
def test_patch_with_another_workspaces_tag_changes_nothing(api, people, workspace, listen):
    listener = listen([workspace_group(workspace.pk)])
    response = api.patch(f"/api/customers/{people['john']}/",
                         {"first_name": "Hacked", "tag_ids": [people["rival_tag"]]}, format="json")
    assert response.status_code == 400
    assert response.json()["field"] == "tag_ids" and str(people["rival_tag"]) in response.json()["detail"]
    john = Customer.objects.get(pk=people["john"])
    assert john.first_name == "John" and list(john.tags.values_list("name", flat=True)) == ["VIP"]
    assert listener.drain() == []


def test_patch_another_workspace_customer_is_404(api, people):
    response = api.patch(f"/api/customers/{people['rival']}/", {"first_name": "Hacked"}, format="json")
    assert response.status_code == 404
    assert Customer.objects.get(pk=people["rival"]).first_name == "John"


def test_put_and_delete_are_not_allowed(api, people):
    assert api.put(f"/api/customers/{people['john']}/", {"first_name": "X"}, format="json").status_code == 405
    assert api.delete(f"/api/customers/{people['john']}/").status_code == 405


def test_authentication_required(people, customer):
    assert client_for().get("/api/customers/").status_code == 401
    assert client_for(token="garbage").get("/api/customers/").status_code == 401
    assert client_for(token=customer_token(customer)).get("/api/customers/").status_code == 401


def _add(workspace, n):
    tag = Tag.objects.get_or_create(workspace=workspace, name="bulk")[0]
    for i in range(n):
        customer = make_customer(workspace, first_name=f"Bulk{i}")
        customer.tags.add(tag)
        message_receive(conversation=make_conversation(workspace, customer), customer=customer, content="x")


def test_list_query_count_is_constant(api, staff, workspace):
    def count():
        with CaptureQueriesContext(connection) as ctx:
            response = api.get("/api/customers/?tags=bulk&page_size=100")
        assert response.status_code == 200
        return len(ctx.captured_queries), response.json()["count"]

    _add(workspace, 1)
    one, total = count()
    assert total == 1
    _add(workspace, 19)
    twenty, total = count()
    assert total == 20
    assert one == twenty, f"{one} queries for 1 customer, {twenty} for 20"
