"""/api/tags/: CRUD, one name per workspace (400 with a reason), the workspace of a new tag,
another workspace's tag answers 404, and tag changes reach /ws/customers/ as customer.updated."""
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from customers.models import Tag
from fiko.realtime import workspace_group
from tests.factories import make_customer, make_user, make_workspace
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
def tags(workspace, other_workspace):
    return {"vip": Tag.objects.create(workspace=workspace, name="VIP", color="#ff0000").pk,
            "rival": Tag.objects.create(workspace=other_workspace, name="Secret").pk}


def test_list_only_own_tags(api, tags):
    body = api.get("/api/tags/").json()
    assert body == {"count": 1, "next": None, "previous": None,
                    "results": [{"id": tags["vip"], "name": "VIP", "color": "#ff0000"}]}


def test_create_in_the_only_workspace(api, workspace, tags):
    response = api.post("/api/tags/", {"name": "  Premium ", "color": "#00ff00"}, format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["name"] == "Premium" and body["color"] == "#00ff00"
    assert Tag.objects.get(pk=body["id"]).workspace_id == workspace.pk
    response = api.post("/api/tags/", {"name": "Plain"}, format="json")
    assert response.status_code == 201 and response.json()["color"] == "#64748b"


def test_duplicate_name_is_400_and_stores_nothing(api, workspace, tags):
    response = api.post("/api/tags/", {"name": "VIP"}, format="json")
    assert response.status_code == 400
    assert response.json() == {"detail": "A tag named 'VIP' already exists in this workspace",
                               "code": "invalid_input", "field": "name"}
    assert Tag.objects.filter(workspace=workspace, name="VIP").count() == 1


def test_same_name_in_another_workspace_is_fine(other_staff, tags):
    response = client_for(other_staff).post("/api/tags/", {"name": "VIP"}, format="json")
    assert response.status_code == 201


@pytest.mark.parametrize("body, field", [
    ({"name": ""}, "name"),
    ({"name": "   "}, "name"),
    ({"color": "#fff"}, "name"),
    ({"name": "x" * 65}, "name"),
    ({"name": "ok", "color": "red"}, "color"),
    ({"name": "ok", "colour": "#fff"}, "colour"),
    ({"name": "ok", "workspace": "acme"}, "workspace"),
])
def test_create_bad_input(api, workspace, tags, body, field):
    response = api.post("/api/tags/", body, format="json")
    assert response.status_code == 400 and field in str(response.json())
    assert Tag.objects.filter(workspace=workspace).count() == 1


def test_user_of_several_workspaces_must_name_one(workspace, other_workspace, tags):
    third = make_workspace("third")
    user = make_user("multi", workspace=workspace)
    from workspaces.models import Membership

    Membership.objects.create(workspace=third, user=user)
    client = client_for(user)
    response = client.post("/api/tags/", {"name": "New"}, format="json")
    assert response.status_code == 400 and response.json()["field"] == "workspace"
    assert "several workspaces" in response.json()["detail"]
    response = client.post("/api/tags/", {"name": "New", "workspace": other_workspace.pk}, format="json")
    assert response.status_code == 400 and response.json()["field"] == "workspace"  # not theirs
    response = client.post("/api/tags/", {"name": "New", "workspace": 999999}, format="json")
    assert response.status_code == 400 and response.json()["field"] == "workspace"  # same as missing
    assert not Tag.objects.filter(name="New").exists()
    response = client.post("/api/tags/", {"name": "New", "workspace": third.pk}, format="json")
    assert response.status_code == 201 and Tag.objects.get(name="New").workspace_id == third.pk
    # both workspaces' tags are listed
    assert {t["name"] for t in client.get("/api/tags/").json()["results"]} == {"VIP", "New"}


def test_retrieve_update_delete(api, workspace, tags):
    assert api.get(f"/api/tags/{tags['vip']}/").json()["name"] == "VIP"
    response = api.patch(f"/api/tags/{tags['vip']}/", {"color": "#123456"}, format="json")
    assert response.status_code == 200 and response.json() == {"id": tags["vip"], "name": "VIP", "color": "#123456"}
    response = api.put(f"/api/tags/{tags['vip']}/", {"name": "Gold", "color": "#abcdef"}, format="json")
    assert response.status_code == 200 and response.json()["name"] == "Gold"
    response = api.put(f"/api/tags/{tags['vip']}/", {"color": "#abcdef"}, format="json")
    assert response.status_code == 400 and "name" in response.json()  # PUT needs every field
    assert api.delete(f"/api/tags/{tags['vip']}/").status_code == 204
    assert not Tag.objects.filter(pk=tags["vip"]).exists()
    assert api.get(f"/api/tags/{tags['vip']}/").status_code == 404


def test_rename_to_a_taken_name_changes_nothing(api, workspace, tags):
    other = Tag.objects.create(workspace=workspace, name="Premium")
    response = api.patch(f"/api/tags/{other.pk}/", {"name": "VIP"}, format="json")
    assert response.status_code == 400 and response.json()["field"] == "name"
    assert Tag.objects.get(pk=other.pk).name == "Premium"


def test_another_workspaces_tag_is_404_for_everything(api, tags):
    url = f"/api/tags/{tags['rival']}/"
    responses = [api.get(url), api.patch(url, {"name": "Mine"}, format="json"),
                 api.put(url, {"name": "Mine"}, format="json"), api.delete(url)]
    assert [r.status_code for r in responses] == [404, 404, 404, 404]
    assert all(r.json() == {"detail": "Tag not found", "code": "not_found"} for r in responses)
    assert api.get("/api/tags/nope/").status_code == 404
    assert Tag.objects.get(pk=tags["rival"]).name == "Secret"


@pytest.mark.django_db(transaction=True)
def test_tag_changes_reach_the_customers_wearing_it(api, workspace, tags, listen):
    john = make_customer(workspace, first_name="John")
    make_customer(workspace, first_name="Untagged")
    john.tags.add(tags["vip"])
    listener = listen([workspace_group(workspace.pk)])
    api.patch(f"/api/tags/{tags['vip']}/", {"name": "Gold"}, format="json")
    events = listener.drain()
    assert [(e["type"], e["customer"]["id"]) for e in events] == [("customer.updated", john.pk)]
    assert events[0]["customer"]["tags"] == [{"id": tags["vip"], "name": "Gold", "color": "#ff0000"}]
    listener = listen([workspace_group(workspace.pk)])
    api.delete(f"/api/tags/{tags['vip']}/")
    events = listener.drain()
    assert [(e["type"], e["customer"]["id"], e["customer"]["tags"]) for e in events] == [
        ("customer.updated", john.pk, [])]


def test_list_query_count_is_constant(api, workspace):
    def count():
        with CaptureQueriesContext(connection) as ctx:
            body = api.get("/api/tags/?page_size=100").json()
        return len(ctx.captured_queries), body["count"]

    Tag.objects.create(workspace=workspace, name="t0")
    one, total = count()
    assert total == 1
    for i in range(1, 20):
        Tag.objects.create(workspace=workspace, name=f"t{i}")
    twenty, total = count()
    assert total == 20 and one == twenty
