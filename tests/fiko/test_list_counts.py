"""List totals as SPEC says: exact up to a cap, then the cap with ``count_capped: true``;
``has_more`` always exact; no COUNT query when the page itself tells the total. The cap is
10,000 in production; ``settings.LIST_COUNT_CAP`` lowers it here so a handful of rows cross it."""
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from conversations.consumers import conversations_list_frame
from customers.consumers import customers_list_frame
from fiko.pagination import COUNT_CAP
from tests.factories import make_conversation, make_customer
from tests.sockets import staff_token

pytestmark = pytest.mark.django_db


@pytest.fixture
def five(workspace, other_workspace):
    customers = [make_customer(workspace, first_name=f"Person{i}") for i in range(5)]
    for customer in customers:
        make_conversation(workspace, customer)
    make_customer(other_workspace, first_name="Person9")  # another tenant: never counted
    return customers


@pytest.fixture
def api(staff):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {staff_token(staff)}")
    return client


def _frame(build, **kwargs):
    with CaptureQueriesContext(connection) as ctx:
        frame = build(**kwargs)
    counts = [q["sql"] for q in ctx.captured_queries if q["sql"].upper().startswith("SELECT COUNT(")]
    return frame, counts


def test_production_cap_is_at_least_ten_thousand():
    assert COUNT_CAP >= 10_000


@pytest.mark.parametrize("build, rows", [(customers_list_frame, "customers"),
                                         (conversations_list_frame, "conversations")])
def test_counts_past_the_cap_are_the_cap_with_the_flag(staff, five, settings, build, rows):
    settings.LIST_COUNT_CAP = 3
    frame, counts = _frame(build, user=staff, filters={"page_size": 2})
    assert len(frame[rows]) == 2 and len(counts) == 1
    assert frame["count"] == frame["pagination"]["total"] == 3
    assert frame["pagination"]["count_capped"] is True and frame["pagination"]["has_more"] is True
    # the last page: has_more exact, the total still the cap (5 > 3)
    frame, _ = _frame(build, user=staff, filters={"page": 3, "page_size": 2})
    assert len(frame[rows]) == 1 and frame["pagination"]["has_more"] is False
    assert frame["count"] == 3 and frame["pagination"]["count_capped"] is True
    # past the end: no rows, no more, the capped total
    frame, counts = _frame(build, user=staff, filters={"page": 9, "page_size": 2})
    assert frame[rows] == [] and frame["pagination"]["has_more"] is False and len(counts) == 1
    assert frame["count"] == 3 and frame["pagination"]["count_capped"] is True


@pytest.mark.parametrize("build, rows", [(customers_list_frame, "customers"),
                                         (conversations_list_frame, "conversations")])
def test_exact_under_the_cap_and_no_count_for_a_page_that_is_not_full(staff, five, build, rows):
    frame, counts = _frame(build, user=staff, filters={"page_size": 10})
    assert len(frame[rows]) == 5 and counts == []
    assert frame["count"] == 5 and frame["pagination"]["has_more"] is False
    assert frame["pagination"]["count_capped"] is False
    frame, counts = _frame(build, user=staff, filters={"limit": 2, "offset": 2})
    assert len(frame[rows]) == 2 and len(counts) == 1
    assert frame["count"] == 5 and frame["pagination"]["has_more"] is True
    frame, counts = _frame(build, user=staff, filters={"limit": 2, "offset": 4})
    assert len(frame[rows]) == 1 and counts == [] and frame["count"] == 5
    # every row once across the pages, in the list's order
    seen = []
    for offset in (0, 2, 4):
        seen += [row["id"] for row in build(user=staff, filters={"limit": 2, "offset": offset})[rows]]
    assert seen == [row["id"] for row in build(user=staff, filters={"limit": 10})[rows]] and len(set(seen)) == 5


def test_rest_lists_cap_count_and_say_so_in_a_header(api, five, settings):
    settings.LIST_COUNT_CAP = 3
    response = api.get("/api/customers/?page_size=2")
    body = response.json()
    assert response.status_code == 200 and set(body) == {"count", "next", "previous", "next_cursor", "results"}
    assert body["count"] == 3 and len(body["results"]) == 2 and body["next"] is not None
    assert response["X-Count-Capped"] == "true"
    response = api.get("/api/customers/?page=3&page_size=2")
    assert response.json()["next"] is None and len(response.json()["results"]) == 1
    settings.LIST_COUNT_CAP = 10_000
    response = api.get("/api/conversations/?page_size=2")
    assert response.json()["count"] == 5 and response["X-Count-Capped"] == "false"
