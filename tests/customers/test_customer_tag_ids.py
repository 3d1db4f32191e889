"""The customer list's tags filter reads the customer's copy of its tag ids (Customer.tag_ids,
GIN-indexed on PostgreSQL), and the conversation list reads the conversations' copy
(Conversation.customer_tag_ids). customers.tag_copies keeps both equal to the tag links
whatever changes them: the customer's side (``customer.tags.add/remove/set/clear``), the tag's
side (``tag.customers...``), customer_update, the admin's forms, and tag deletion. So a list
filtered by tags shows exactly the customers who wear them, on every database."""
import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from rest_framework.test import APIClient

from conversations.models import Conversation
from customers.consumers import customers_list_frame
from customers.models import Customer, Tag
from customers.services import customer_update
from customers.tag_services import tag_delete
from fiko.inputs import INT_MAX
from tests.factories import make_conversation, make_customer
from tests.sockets import staff_token

pytestmark = pytest.mark.django_db


@pytest.fixture
def tags(workspace):
    return {name: Tag.objects.create(workspace=workspace, name=name) for name in ("VIP", "Premium", "Late")}


@pytest.fixture
def people(workspace):
    """Three customers, each in two conversations."""
    found = {}
    for name in ("Sara", "Omid", "Reza"):
        customer = make_customer(workspace, first_name=name)
        make_conversation(workspace, customer)
        make_conversation(workspace, customer)
        found[name] = customer
    return found


def _links(customer) -> list[int]:
    return sorted(Customer.tags.through.objects.filter(customer_id=customer.pk).values_list("tag_id", flat=True))


def _copies(customer) -> tuple[list[int], list[list[int]]]:
    """(the customer's copy, its conversations' copies) as stored."""
    stored = Customer.objects.values_list("tag_ids", flat=True).get(pk=customer.pk)
    return stored, list(Conversation.objects.filter(customer_id=customer.pk).values_list("customer_tag_ids", flat=True))


def _assert_copies(customer, expected_tags):
    expected = sorted(tag.pk for tag in expected_tags)
    assert _links(customer) == expected
    assert _copies(customer) == (expected, [expected, expected])


def test_tags_added_removed_set_and_cleared_on_the_customer_reach_both_copies(people, tags):
    sara, omid = people["Sara"], people["Omid"]
    vip, premium, late = tags["VIP"], tags["Premium"], tags["Late"]
    sara.tags.add(vip, premium)
    _assert_copies(sara, [vip, premium])
    assert sara.tag_ids == sorted([vip.pk, premium.pk])  # the instance reads its copy again
    sara.tags.add(vip)  # already worn: nothing changes
    _assert_copies(sara, [vip, premium])
    sara.tags.remove(vip)
    _assert_copies(sara, [premium])
    sara.tags.set([late, vip])
    _assert_copies(sara, [vip, late])
    omid.tags.add(late.pk)  # by id
    _assert_copies(omid, [late])
    sara.tags.clear()
    _assert_copies(sara, [])
    _assert_copies(omid, [late])  # another customer's tags are left alone
    _assert_copies(people["Reza"], [])


def test_customers_added_removed_set_and_cleared_on_the_tag_reach_both_copies(people, tags):
    sara, omid, reza = people["Sara"], people["Omid"], people["Reza"]
    vip, premium = tags["VIP"], tags["Premium"]
    sara.tags.add(premium)
    vip.customers.add(sara, omid)
    _assert_copies(sara, [vip, premium])
    _assert_copies(omid, [vip])
    vip.customers.remove(sara)
    _assert_copies(sara, [premium])
    vip.customers.set([reza, omid])
    _assert_copies(reza, [vip])
    _assert_copies(sara, [premium])
    premium.customers.add(reza.pk)
    _assert_copies(reza, [vip, premium])
    vip.customers.clear()
    _assert_copies(omid, [])
    _assert_copies(reza, [premium])
    _assert_copies(sara, [premium])


def test_a_customer_saved_from_an_older_instance_keeps_its_tags_copy(people, tags):
    """A full save writes the fields an edit changes, never the tag ids an older instance holds."""
    stale = Customer.objects.get(pk=people["Sara"].pk)
    people["Sara"].tags.add(tags["VIP"])
    stale.first_name = "Sarah"
    stale.save()
    assert Customer.objects.get(pk=stale.pk).first_name == "Sarah"
    _assert_copies(stale, [tags["VIP"]])


def test_customer_update_sets_both_copies(people, tags):
    sara = people["Sara"]
    customer_update(customer=sara, data={"tag_ids": [tags["Late"].pk, tags["VIP"].pk]})
    _assert_copies(sara, [tags["VIP"], tags["Late"]])
    customer_update(customer=sara, data={"first_name": "Sarah", "tag_ids": [tags["Premium"].pk]})
    _assert_copies(sara, [tags["Premium"]])
    customer_update(customer=sara, data={"tag_ids": []})
    _assert_copies(sara, [])


def test_a_deleted_tag_leaves_both_copies_and_the_other_tags_stay(people, tags):
    sara, omid, reza = people["Sara"], people["Omid"], people["Reza"]
    sara.tags.add(tags["VIP"], tags["Premium"])
    omid.tags.add(tags["VIP"])
    reza.tags.add(tags["Late"])
    tag_delete(tag=tags["VIP"])
    _assert_copies(sara, [tags["Premium"]])
    _assert_copies(omid, [])
    _assert_copies(reza, [tags["Late"]])


def test_the_admin_forms_and_tag_deletion_keep_both_copies(admin_client, workspace, people, tags):
    sara = people["Sara"]
    profile = {"first_name": "Sara", "last_name": "", "email": "", "phone": "", "username": "", "profile_picture": ""}
    response = admin_client.post(reverse("admin:customers_customer_change", args=[sara.pk]),
                                 {**profile, "tags": [tags["VIP"].pk, tags["Late"].pk], "_save": "Save"})
    assert response.status_code == 302
    _assert_copies(sara, [tags["VIP"], tags["Late"]])
    response = admin_client.post(reverse("admin:customers_customer_change", args=[sara.pk]),
                                 {**profile, "tags": [tags["Premium"].pk], "_save": "Save"})
    assert response.status_code == 302
    _assert_copies(sara, [tags["Premium"]])

    response = admin_client.post(reverse("admin:customers_customer_add"), {
        **profile, "first_name": "Nima", "workspace": workspace.pk, "source": "web", "external_id": "",
        "tags": [tags["VIP"].pk, tags["Premium"].pk], "_save": "Save"})
    assert response.status_code == 302
    nima = Customer.objects.get(workspace=workspace, first_name="Nima")
    assert nima.tag_ids == _links(nima) == sorted([tags["VIP"].pk, tags["Premium"].pk])

    response = admin_client.post(reverse("admin:customers_tag_delete", args=[tags["Premium"].pk]), {"post": "yes"})
    assert response.status_code == 302 and not Tag.objects.filter(pk=tags["Premium"].pk).exists()
    _assert_copies(sara, [])
    assert Customer.objects.get(pk=nima.pk).tag_ids == [tags["VIP"].pk]


def _wearers(*tags) -> list[int]:
    """The link truth: the customers wearing any of ``tags``."""
    return sorted(set(Customer.tags.through.objects.filter(tag__in=tags).values_list("customer_id", flat=True)))


def test_the_list_filtered_by_tags_shows_exactly_the_wearers(staff, workspace, people, tags):
    """REST (names and ids) and the customers_list frame, after changes from every side."""
    sara, omid, reza = people["Sara"], people["Omid"], people["Reza"]
    vip, premium, late = tags["VIP"], tags["Premium"], tags["Late"]
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {staff_token(staff)}")

    def rest(**params) -> list[int]:
        response = api.get("/api/customers/", params)
        assert response.status_code == 200, response.json()
        return sorted(row["id"] for row in response.json()["results"])

    def check(*chosen):
        truth = _wearers(*chosen)
        names = [tag.name for tag in chosen]
        frame = customers_list_frame(user=staff, filters={"tags": names})
        assert sorted(row["id"] for row in frame["customers"]) == truth and frame["count"] == len(truth)
        assert rest(tags=names) == truth == rest(tag_ids=[tag.pk for tag in chosen])
        return truth

    assert check(vip) == []
    sara.tags.add(vip, late)
    vip.customers.add(omid)
    customer_update(customer=reza, data={"tag_ids": [premium.pk]})
    assert check(vip) == sorted([sara.pk, omid.pk])
    assert check(premium, late) == sorted([sara.pk, reza.pk])
    sara.tags.remove(vip)
    vip.customers.set([reza])
    assert check(vip) == [reza.pk]
    assert check(late) == [sara.pk]
    tag_delete(tag=late)
    assert check(vip, premium) == [reza.pk]
    reza.tags.clear()
    assert check(vip, premium) == []
    email = make_customer(workspace, first_name="Mail", email="m@example.com")
    email.tags.add(vip)
    frame = customers_list_frame(user=staff, filters={"tags": ["VIP"], "has_email": "true"})
    assert [row["id"] for row in frame["customers"]] == [email.pk] and frame["count"] == 1


def test_a_tag_id_past_the_copies_range_finds_nobody(staff, people, tags):
    people["Sara"].tags.add(tags["VIP"])
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {staff_token(staff)}")
    response = api.get("/api/customers/", {"tag_ids": [INT_MAX + 1]})
    assert response.status_code == 200 and response.json()["results"] == []
    response = api.get("/api/customers/", {"tag_ids": [INT_MAX + 1, tags["VIP"].pk]})
    assert [row["id"] for row in response.json()["results"]] == [people["Sara"].pk]


# --- PostgreSQL: the count reads the GIN index -------------------------------------------------

def _nodes(node):
    yield node
    for child in node.get("Plans", []):
        yield from _nodes(child)


def test_the_tags_filters_count_reads_the_gin_index(db):
    """``customers: seed 001: VIP with email`` of bench/search.py: its capped COUNT is a bitmap
    scan of customer_tag_ids_gin, not a probe of the tag links per customer nor a sequential
    scan. seed_scale writes realistic customers (VIP on about 3% of them) and ANALYZEs them; the
    planner chooses freely (no planner setting is touched)."""
    if connection.vendor != "postgresql":
        from tests.conftest import require_service

        require_service("DATABASE_URL")  # fails under REQUIRE_SERVICES=1, skips otherwise
        pytest.skip(f"query plans are PostgreSQL's; this database is {connection.vendor}")
    from io import StringIO

    from django.core.management import call_command

    from workspaces.models import Membership, Workspace

    call_command("create_workspace", "gin", owner="gin-owner", password="G1n-owner-pass!", stdout=StringIO())
    call_command("seed_scale", workspace="gin", customers=30_000, conversations=0, messages=0, stdout=StringIO())
    workspace = Workspace.objects.get(slug="gin")
    owner = Membership.objects.get(workspace=workspace, role="owner").user
    filters = {"tags": ["VIP"], "has_email": "true"}
    with CaptureQueriesContext(connection) as ctx:
        frame = customers_list_frame(user=owner, filters=filters, workspace_ids=[workspace.pk])
    vip = Tag.objects.get(workspace=workspace, name="VIP")
    truth = Customer.objects.filter(workspace=workspace, tags=vip).exclude(email="").count()
    assert frame["count"] == truth > 0
    counts = [q["sql"] for q in ctx.captured_queries if q["sql"].startswith("SELECT COUNT(")]
    assert len(counts) == 1
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (FORMAT JSON) " + counts[0])
        plan = cursor.fetchone()[0]
    plan = json.loads(plan) if isinstance(plan, str) else plan
    nodes = list(_nodes(plan[0]["Plan"]))
    assert any(n.get("Index Name") == "customer_tag_ids_gin" for n in nodes), json.dumps(plan, indent=1)
    assert not any(n.get("Node Type") == "Seq Scan" for n in nodes), json.dumps(plan, indent=1)
    assert not any(n.get("Relation Name") == "customers_customer_tags" for n in nodes), json.dumps(plan, indent=1)


# --- PostgreSQL: two changes of one customer's tags at once ---------------------------------

def _require_postgres():
    if connection.vendor != "postgresql":
        from tests.conftest import require_service

        require_service("DATABASE_URL")  # fails under REQUIRE_SERVICES=1, skips otherwise
        pytest.skip(f"row locks are PostgreSQL's here; this database is {connection.vendor}")


@pytest.mark.django_db(transaction=True)
def test_two_staff_tagging_one_customer_at_once_both_reach_the_copies(workspace):
    """The first change holds its transaction open; the second starts meanwhile and waits for it
    (the customer's row lock), then rewrites the copies from both changes' links: VIP and Late.
    (Without the lock the second would read the links as they were when it started, Late only.)"""
    import threading
    import time

    from django.db import transaction

    _require_postgres()
    customer = make_customer(workspace, first_name="Sara")
    make_conversation(workspace, customer)
    make_conversation(workspace, customer)
    vip, late = (Tag.objects.create(workspace=workspace, name=name) for name in ("VIP", "Late"))
    first_done, release, errors = threading.Event(), threading.Event(), []

    def in_thread(work):
        def run():
            try:
                work()
            except Exception as error:  # reported by the test, not lost in the thread
                errors.append(error)
            finally:
                connection.close()
        return threading.Thread(target=run)

    def first():
        with transaction.atomic():
            Customer.objects.get(pk=customer.pk).tags.add(vip)
            first_done.set()
            assert release.wait(20)

    def waiting_for_a_lock() -> int:
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                           "AND wait_event_type = 'Lock'")
            return cursor.fetchone()[0]

    one = in_thread(first)
    one.start()
    assert first_done.wait(20)
    two = in_thread(lambda: Customer.objects.get(pk=customer.pk).tags.add(late))
    two.start()
    deadline = time.monotonic() + 20
    while not waiting_for_a_lock():  # the second change is blocked behind the first
        assert time.monotonic() < deadline and two.is_alive(), errors
        time.sleep(0.01)
    release.set()
    one.join(20)
    two.join(20)
    assert not errors
    _assert_copies(customer, [vip, late])
