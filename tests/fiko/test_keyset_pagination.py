"""Paging the customer and conversation lists by cursor (fiko/keyset.py, fiko/pagination.py).

What a user sees: following ``next_cursor`` from the first page gives exactly the rows that
paging by ``page`` gives, in every offered order and both directions, with NULLs and ties in the
sort column, with filters too; each page says where it is (``offset``/``page``) and counts every
match; a cursor of another order, an edited one or anything that is not a cursor is an
``invalid_filter`` error over REST (400) and over the sockets (error frame); a cursor never
reaches another workspace's rows; and a page by cursor costs the queries of a first page.
"""
from datetime import datetime, timedelta, timezone

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from conversations.consumers import conversations_list_frame
from conversations.filters import ORDER_FIELDS as CONVERSATION_ORDER_FIELDS
from conversations.models import Conversation
from customers.consumers import customers_list_frame
from customers.filters import ORDER_FIELDS as CUSTOMER_ORDER_FIELDS
from customers.models import Customer, Tag
from fiko.keyset import encode_cursor
from tests.factories import make_conversation, make_customer
from tests.sockets import connect, staff_token

pytestmark = pytest.mark.django_db

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)
SIZE = 3  # rows a page: 12 rows are 4 pages


def at(hours: float | None):
    return None if hours is None else T0 + timedelta(hours=hours)


# Per customer: first, last, username, email, created (h), updated (h), last activity (h or None).
# Ties in every sort column, NULL activity (also tied on created_at), ties across the page edges.
CUSTOMERS = [
    ("Ann", "Zed", "ann", "ann@x.io", 1, 5, 10),
    ("Ann", "Zed", "", "", 1, 5, 10),
    ("Bob", "Young", "bob", "", 2, 5, None),
    ("Bob", "Young", "bob2", "bob@x.io", 2, 6, 10),
    ("Bob", "Xu", "", "", 2, 6, None),
    ("Cy", "Xu", "cy", "cy@x.io", 3, 6, 8),
    ("Cy", "Wu", "cy2", "", 3, 7, None),
    ("Dee", "Wu", "", "dee@x.io", 3, 7, 8),
    ("Dee", "Vo", "dee", "", 4, 7, None),
    ("Eve", "Vo", "eve", "eve@x.io", 4, 8, 12),
    ("Eve", "Ulm", "", "", 4, 8, 12),
    ("Eve", "Ulm", "eve2", "", 4, 8, None),
]
# Per conversation: status, priority, unread, created (h), updated (h), last message (h or None).
CONVERSATIONS = [
    ("open", 1, 0, 1, 5, 10),
    ("open", 1, 2, 1, 5, 10),
    ("pending", 2, 0, 2, 5, None),
    ("pending", 2, 2, 2, 6, 10),
    ("closed", 3, 1, 2, 6, None),
    ("closed", 3, 1, 3, 6, 8),
    ("open", 0, 0, 3, 7, None),
    ("open", 0, 5, 3, 7, 8),
    ("pending", 1, 5, 4, 7, None),
    ("closed", 1, 0, 4, 8, 12),
    ("open", 2, 0, 4, 8, 12),
    ("open", 2, 1, 4, 8, None),
]


def _orders(fields, mixed):
    return [None] + [value for name, _ in fields for value in (name, f"-{name}")] + [mixed]


CUSTOMER_ORDERS = _orders(CUSTOMER_ORDER_FIELDS, "first_name,-created_at")  # several fields, mixed directions
CONVERSATION_ORDERS = _orders(CONVERSATION_ORDER_FIELDS, "priority,-last_message_at")


@pytest.fixture
def customers(workspace):
    vip = Tag.objects.create(workspace=workspace, name="VIP")
    ids = []
    for first, last, username, email, created, updated, activity in CUSTOMERS:
        customer = make_customer(workspace, first_name=first, last_name=last, username=username, email=email)
        if email:
            customer.tags.add(vip)
        Customer.objects.filter(pk=customer.pk).update(created_at=at(created), updated_at=at(updated),
                                                       last_activity_at=at(activity))
        ids.append(customer.pk)
    return ids


@pytest.fixture
def conversations(workspace):
    customer = make_customer(workspace, first_name="Pat")
    ids = []
    for status, priority, unread, created, updated, last in CONVERSATIONS:
        conversation = make_conversation(workspace, customer, status=status, priority=priority)
        Conversation.objects.filter(pk=conversation.pk).update(
            unread_count=unread, created_at=at(created), updated_at=at(updated), last_message_at=at(last))
        ids.append(conversation.pk)
    return ids


LISTS = {"customers": customers_list_frame, "conversations": conversations_list_frame}


def _filters(order_by, **more):
    return {**({"order_by": order_by} if order_by else {}), **more}


def walk_by_pages(name, user, filters):
    rows, page = [], 1
    while True:
        frame = LISTS[name](user=user, filters={**filters, "page": page, "page_size": SIZE})
        rows += [row["id"] for row in frame[name]]
        if not frame["pagination"]["has_more"]:
            return rows
        page += 1


def walk_by_cursor(name, user, filters, size_key="page_size"):
    """Every row, following next_cursor; checks what each page says about itself."""
    total = LISTS[name](user=user, filters={**filters, "page_size": 100})["count"]
    rows, cursor = [], None
    while True:
        page_filters = {**filters, size_key: SIZE, **({"cursor": cursor} if cursor else {})}
        frame = LISTS[name](user=user, filters=page_filters)
        pagination = frame["pagination"]
        assert pagination["offset"] == len(rows) and pagination["page"] == len(rows) // SIZE + 1
        assert frame["count"] == pagination["total"] == total
        assert pagination["has_more"] == (len(rows) + len(frame[name]) < total)
        assert (pagination["next_cursor"] is None) == (not pagination["has_more"])
        rows += [row["id"] for row in frame[name]]
        cursor = pagination["next_cursor"]
        if cursor is None:
            return rows
        assert isinstance(cursor, str) and len(frame[name]) == SIZE


def _full(name, user, filters):
    return [row["id"] for row in LISTS[name](user=user, filters={**filters, "page_size": 100})[name]]


@pytest.mark.parametrize("order_by", CUSTOMER_ORDERS, ids=str)
def test_customers_by_cursor_are_the_rows_by_page(staff, customers, order_by):
    filters = _filters(order_by)
    by_cursor = walk_by_cursor("customers", staff, filters)
    assert by_cursor == walk_by_pages("customers", staff, filters) == _full("customers", staff, filters)
    assert sorted(by_cursor) == sorted(customers)  # every row once


@pytest.mark.parametrize("order_by", CONVERSATION_ORDERS, ids=str)
def test_conversations_by_cursor_are_the_rows_by_page(staff, conversations, order_by):
    filters = _filters(order_by)
    by_cursor = walk_by_cursor("conversations", staff, filters, size_key="limit")
    assert by_cursor == walk_by_pages("conversations", staff, filters) == _full("conversations", staff, filters)
    assert sorted(by_cursor) == sorted(conversations)


def test_the_sort_columns_really_have_nulls_and_ties(customers, conversations):
    activity = [row[6] for row in CUSTOMERS]
    assert activity.count(None) >= 3 and len(set(activity)) < len(activity)
    last = [row[5] for row in CONVERSATIONS]
    assert last.count(None) >= 3 and len(set(last)) < len(last)
    for rows in (CUSTOMERS, CONVERSATIONS):
        for column in range(len(rows[0])):
            assert len({row[column] for row in rows}) < len(rows), f"column {column} has no tie"


@pytest.mark.parametrize("name, filters", [
    ("customers", {"has_email": "true"}),
    ("customers", {"search": "bob"}),
    ("customers", {"tags": ["VIP"], "order_by": "-last_activity_at"}),
    ("customers", {"has_email": "false", "order_by": "last_name"}),
    ("conversations", {"status": "open"}),
    ("conversations", {"unread_only": True, "order_by": "last_message_at"}),
    ("conversations", {"priority": "low", "order_by": "-unread_count"}),
])
def test_filters_with_a_cursor(staff, customers, conversations, name, filters):
    by_cursor = walk_by_cursor(name, staff, filters)
    assert by_cursor == walk_by_pages(name, staff, filters) == _full(name, staff, filters)
    assert 0 < len(by_cursor) < (13 if name == "customers" else 12)  # the filters did narrow the list


def test_a_cursor_only_narrows_the_filters_it_is_used_with(staff, customers):
    first = customers_list_frame(user=staff, filters={"page_size": SIZE})
    cursor = first["pagination"]["next_cursor"]
    frame = customers_list_frame(user=staff, filters={"cursor": cursor, "has_email": "true", "page_size": 100})
    after = _full("customers", staff, {})[SIZE:]
    with_email = set(Customer.objects.exclude(email="").values_list("id", flat=True))
    assert [row["id"] for row in frame["customers"]] == [pk for pk in after if pk in with_email]


def test_rows_that_come_and_go_neither_repeat_nor_skip(staff, customers, workspace):
    order = {"order_by": "created_at"}
    first = customers_list_frame(user=staff, filters={**order, "page_size": SIZE})
    seen = [row["id"] for row in first["customers"]]
    Customer.objects.filter(pk=seen[0]).delete()  # a row of the page already read goes away
    newcomer = make_customer(workspace, first_name="Early")
    Customer.objects.filter(pk=newcomer.pk).update(created_at=at(0))  # and one comes before the cursor
    second = customers_list_frame(user=staff, filters={**order, "page_size": SIZE,
                                                      "cursor": first["pagination"]["next_cursor"]})
    expected = [pk for pk in _full("customers", staff, order) if pk not in seen and pk != newcomer.pk][:SIZE]
    assert [row["id"] for row in second["customers"]] == expected
    assert second["count"] == len(customers)  # every match now: one gone, one new


def test_a_cursor_after_the_longest_persian_name(staff, workspace):
    for letter in "آبپ":
        make_customer(workspace, first_name=letter * 150)
    order = {"order_by": "-first_name"}
    names = [row["first_name"] for row in customers_list_frame(user=staff, filters=order)["customers"]]
    first = customers_list_frame(user=staff, filters={**order, "page_size": 1})
    cursor = first["pagination"]["next_cursor"]
    second = customers_list_frame(user=staff, filters={**order, "page_size": 1, "cursor": cursor})
    assert [first["customers"][0]["first_name"], second["customers"][0]["first_name"]] == names[:2]
    assert len(names[0]) == 150 and second["pagination"]["offset"] == 1


# --- REST -------------------------------------------------------------------------------------
def _api(user):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {staff_token(user)}")
    return client


@pytest.mark.parametrize("name", ["customers", "conversations"])
def test_rest_pages_by_cursor_and_links_by_it(staff, customers, conversations, name):
    api = _api(staff)
    everything = api.get(f"/api/{name}/", {"page_size": 100, "order_by": "-created_at"}).json()
    first = api.get(f"/api/{name}/", {"page_size": SIZE, "order_by": "-created_at"}).json()
    assert set(first) == {"count", "next", "previous", "next_cursor", "results"}
    assert "page=2" in first["next"] and "cursor" not in first["next"] and first["previous"] is None
    rows = [row["id"] for row in first["results"]]
    response = api.get(f"/api/{name}/", {"page_size": SIZE, "order_by": "-created_at", "cursor": first["next_cursor"]})
    while True:
        assert response.status_code == 200
        body = response.json()
        assert body["count"] == everything["count"]
        assert body["previous"] is not None and "cursor" not in body["previous"]
        rows += [row["id"] for row in body["results"]]
        if body["next"] is None:
            assert body["next_cursor"] is None
            break
        assert "cursor=" in body["next"] and "page=" not in body["next"] and "order_by=-created_at" in body["next"]
        response = api.get(body["next"])
    assert rows == [row["id"] for row in everything["results"]] and len(rows) == everything["count"] > SIZE * 3


def test_rest_previous_link_of_a_cursor_page_is_by_offset(staff, customers):
    api = _api(staff)
    first = api.get("/api/customers/", {"limit": SIZE}).json()
    second = api.get("/api/customers/", {"limit": SIZE, "cursor": first["next_cursor"]}).json()
    assert "offset=0" in second["previous"] and "limit=3" in second["previous"]
    assert "cursor=" in second["next"] and "offset=" not in second["next"]
    back = api.get(second["previous"]).json()
    assert [row["id"] for row in back["results"]] == [row["id"] for row in first["results"]]


def test_a_list_that_cannot_page_by_cursor_says_so(staff, customers):
    api = _api(staff)
    assert "next_cursor" not in api.get("/api/tags/").json()  # tags are ordered by name alone
    cursor = customers_list_frame(user=staff, filters={"page_size": 1})["pagination"]["next_cursor"]
    response = api.get("/api/tags/", {"cursor": cursor})
    assert response.status_code == 400 and response.json()["code"] == "invalid_filter"


# --- bad cursors ----------------------------------------------------------------------------------
DEFAULT_ORDER = "-last_activity_at nulls last,-created_at,-id"
ISO = "2024-05-01T12:00:00Z"


def _signed(after, order=DEFAULT_ORDER, offset=3):
    return encode_cursor({"order": order, "after": after, "offset": offset})


BAD_CURSORS = [
    ("not a cursor", "hello"),
    ("no signature", "eyJvcmRlciI6Ii1pZCJ9"),
    ("bad base64", "!!!*not base64*!!!"),
    ("signature of nothing", "abc:def:ghi"),
    ("too long", "a" * 5000),
    ("non-ASCII", "کرسر:abc"),
    ("another order", _signed(["Ann", 1], order="first_name,id")),
    ("not a date", _signed(["yesterday", ISO, 1])),
    ("year 10000", _signed(["10000-01-01T00:00:00Z", ISO, 1])),
    ("date as a number", _signed([1714564800, ISO, 1])),
    ("null created_at", _signed([ISO, None, 1])),
    ("id as text", _signed([ISO, ISO, "1; DROP TABLE"])),
    ("id as a boolean", _signed([ISO, ISO, True])),
    ("id as a float", _signed([ISO, ISO, 1.5])),
    ("huge id", _signed([ISO, ISO, 2**70])),
    ("negative id", _signed([ISO, ISO, -1])),
    ("id as a list", _signed([ISO, ISO, [1]])),
    ("too few values", _signed([ISO, 1])),
    ("too many values", _signed([ISO, ISO, 1, 2])),
    ("negative offset", _signed([ISO, ISO, 1], offset=-1)),
    ("huge offset", _signed([ISO, ISO, 1], offset=2**40)),
    ("offset as text", _signed([ISO, ISO, 1], offset="three")),
    ("not an object", encode_cursor([DEFAULT_ORDER, [ISO, ISO, 1], 0])),
    ("missing keys", encode_cursor({"order": DEFAULT_ORDER, "after": [ISO, ISO, 1]})),
    ("extra keys", encode_cursor({"order": DEFAULT_ORDER, "after": [ISO, ISO, 1], "offset": 0, "user": 1})),
]
TEXT_ORDER = "first_name,id"
BAD_TEXT_CURSORS = [
    ("NUL in text", _signed(["An\x00n", 1], order=TEXT_ORDER)),
    ("text longer than the column", _signed(["A" * 151, 1], order=TEXT_ORDER)),
    ("text as a number", _signed([5, 1], order=TEXT_ORDER)),
]


def _tampered(cursor: str) -> str:
    middle = len(cursor) // 3
    return cursor[:middle] + ("A" if cursor[middle] != "A" else "B") + cursor[middle + 1:]


@pytest.mark.parametrize("case, cursor", BAD_CURSORS + BAD_TEXT_CURSORS, ids=[c for c, _ in BAD_CURSORS + BAD_TEXT_CURSORS])
def test_bad_cursor_is_invalid_filter_over_rest(staff, customers, case, cursor):
    order = {"order_by": "first_name"} if (case, cursor) in BAD_TEXT_CURSORS else {}
    response = _api(staff).get("/api/customers/", {**order, "cursor": cursor})
    assert response.status_code == 400, case
    body = response.json()
    assert body["code"] == "invalid_filter" and body["field"] == "cursor" and "cursor" in body["detail"]


def test_edited_or_foreign_order_cursor_is_invalid_filter(staff, customers):
    api = _api(staff)
    good = api.get("/api/customers/", {"page_size": SIZE}).json()["next_cursor"]
    assert api.get("/api/customers/", {"cursor": good}).status_code == 200
    for cursor, filters in ((_tampered(good), {}), (good, {"order_by": "first_name"}),
                            (good, {"order_by": "last_activity_at"})):
        response = api.get("/api/customers/", {**filters, "cursor": cursor})
        assert response.status_code == 400 and response.json()["field"] == "cursor", filters
    # the default order and -last_activity_at are the same order: its cursors serve both
    assert api.get("/api/customers/", {"order_by": "-last_activity_at", "cursor": good}).status_code == 200


def test_a_cursor_of_one_list_is_refused_by_the_other(staff, customers, conversations):
    api = _api(staff)
    conversation_cursor = api.get("/api/conversations/", {"page_size": 1}).json()["next_cursor"]
    customer_cursor = api.get("/api/customers/", {"page_size": 1}).json()["next_cursor"]
    for path, cursor in (("/api/customers/", conversation_cursor), ("/api/conversations/", customer_cursor)):
        response = api.get(path, {"cursor": cursor})
        assert response.status_code == 400 and response.json()["code"] == "invalid_filter", path


@pytest.mark.parametrize("extra, field", [({"page": 2}, "page"), ({"offset": 3}, "offset"),
                                          ({"limit": 0}, "limit"), ({"page_size": 101}, "page_size")])
def test_cursor_with_offset_or_page_or_a_bad_size_is_invalid_filter(staff, customers, extra, field):
    api = _api(staff)
    cursor = api.get("/api/customers/", {"page_size": SIZE}).json()["next_cursor"]
    response = api.get("/api/customers/", {"cursor": cursor, **extra})
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_filter" and response.json()["field"] == field


@pytest.mark.django_db(transaction=True)
async def test_bad_cursors_over_the_sockets_are_error_frames(staff, customers, conversations):
    from channels.db import database_sync_to_async

    good = (await database_sync_to_async(customers_list_frame)(user=staff, filters={"page_size": SIZE}))[
        "pagination"]["next_cursor"]
    for path, frame_type, listing in (("/ws/customers/", "filter_customers", "customers_list"),
                                      ("/ws/conversations/", "filter_conversations", "conversations_list")):
        comm, connected, _ = await connect(path, staff_token(staff))
        assert connected
        cases = [cursor for _, cursor in BAD_CURSORS] + [_tampered(good), 123, ["x"], {"a": 1}, True]
        if listing == "conversations_list":
            cases.append(good)  # a customer cursor on the conversation list
        for cursor in cases:
            await comm.send_json_to({"type": frame_type, "filters": {"cursor": cursor}})
            error = await comm.receive_json_from(timeout=5)
            assert error["type"] == "error" and error["code"] == "invalid_filter", (path, cursor)
            assert error.get("field") == "cursor", error
        await comm.send_json_to({"type": frame_type, "filters": {"cursor": good if listing == "customers_list" else None,
                                                                 "page_size": SIZE}})
        frame = await comm.receive_json_from(timeout=5)
        assert frame["type"] == listing and frame["pagination"]["offset"] == (SIZE if listing == "customers_list" else 0)
        await comm.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_walking_the_customer_socket_by_cursor(staff, customers):
    comm, connected, _ = await connect("/ws/customers/", staff_token(staff))
    assert connected
    seen, cursor = [], None
    while True:
        filters = {"order_by": "-last_activity_at", "limit": 5, **({"cursor": cursor} if cursor else {})}
        await comm.send_json_to({"type": "filter_customers", "filters": filters})
        frame = await comm.receive_json_from(timeout=5)
        assert frame["type"] == "customers_list" and frame["filters"] == filters
        assert frame["pagination"]["offset"] == len(seen) and frame["count"] == len(CUSTOMERS)
        seen += [row["id"] for row in frame["customers"]]
        cursor = frame["pagination"]["next_cursor"]
        if cursor is None:
            break
    await comm.send_json_to({"type": "refresh_customers"})  # re-runs the last page (by its cursor)
    again = await comm.receive_json_from(timeout=5)
    assert [row["id"] for row in again["customers"]] == seen[-(len(CUSTOMERS) % 5 or 5):]
    await comm.disconnect()
    assert sorted(seen) == sorted(customers)


# --- isolation ----------------------------------------------------------------------------------
def test_another_workspaces_cursor_reaches_none_of_its_rows(staff, other_staff, customers, other_workspace):
    theirs = []
    for i, (first, last, username, email, created, updated, activity) in enumerate(CUSTOMERS):
        customer = make_customer(other_workspace, first_name=first, last_name=last, email=email)
        Customer.objects.filter(pk=customer.pk).update(created_at=at(created), last_activity_at=at(activity))
        theirs.append(customer.pk)
    for filters in ({}, {"order_by": "first_name"}, {"order_by": "created_at"}):
        cursor = customers_list_frame(user=other_staff, filters={**filters, "page_size": 2})["pagination"]["next_cursor"]
        # used on my list: my rows after that position, none of theirs; used by them: theirs only
        mine = customers_list_frame(user=staff, filters={**filters, "cursor": cursor, "page_size": 100})
        got = [row["id"] for row in mine["customers"]]
        assert got and set(got) <= set(customers) and not set(got) & set(theirs)
        assert mine["count"] == len(customers)
        response = _api(staff).get("/api/customers/", {**filters, "cursor": cursor, "page_size": 100})
        assert {row["id"] for row in response.json()["results"]} == set(got)


# --- query counts -------------------------------------------------------------------------------
@pytest.mark.parametrize("name, order_by", [("customers", None), ("customers", "first_name"),
                                            ("customers", "last_activity_at"), ("conversations", None),
                                            ("conversations", "-priority"), ("conversations", "last_message_at")])
def test_a_page_by_cursor_costs_the_queries_of_a_first_page(staff, customers, conversations, name, order_by):
    filters = _filters(order_by, page_size=SIZE)
    with CaptureQueriesContext(connection) as first:
        frame = LISTS[name](user=staff, filters=filters)
    cursor = frame["pagination"]["next_cursor"]
    counts = []
    for _ in range(3):  # the 2nd, 3rd and 4th (last) page: every one full, and both sides of the NULLs
        with CaptureQueriesContext(connection) as ctx:
            frame = LISTS[name](user=staff, filters={**filters, "cursor": cursor})
        assert len(frame[name]) == SIZE
        counts.append(len(ctx.captured_queries))
        cursor = frame["pagination"]["next_cursor"]
    assert counts == [len(first.captured_queries)] * 3, counts
