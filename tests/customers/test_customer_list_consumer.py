"""/ws/customers/ through the real ASGI application: every inbound type, the filters of seed
001's cheat sheet and seed 000's example, invalid filters, and the pushed events."""
from datetime import datetime, timezone

import pytest
from channels.db import database_sync_to_async

from conversations.models import Conversation
from conversations.services import message_receive
from customers.models import Customer, Tag
from customers.services import customer_update, customer_upsert_from_platform
from tests.factories import make_conversation, make_customer
from tests.sockets import connect, drain, receive_until, staff_token

pytestmark = pytest.mark.django_db(transaction=True)

def at(day: str) -> datetime:
    return datetime.fromisoformat(day).replace(tzinfo=timezone.utc)


@pytest.fixture
def people(workspace, other_workspace):
    """A small customer base with names, contacts, tags, conversations and dates."""
    vip = Tag.objects.create(workspace=workspace, name="VIP", color="#ff0000")
    premium = Tag.objects.create(workspace=workspace, name="Premium")
    john = make_customer(workspace, first_name="John", last_name="Doe", username="johndoe",
                         email="john@example.com", source="telegram")
    ali = make_customer(workspace, first_name="علی", last_name="کریمی", phone="۰۹۱۲۳۴۵۶۷۸۹", source="instagram")
    sara = make_customer(workspace, first_name="Sara", last_name="Smith", email="sara@shop.io",
                         phone="+989351112233", source="web", external_id="")
    nobody = make_customer(workspace, first_name="Anon", source="unknown")
    john.tags.add(vip)
    sara.tags.add(vip, premium)
    Customer.objects.filter(pk=john.pk).update(created_at=at("2024-01-10T08:00:00"),
                                               last_activity_at=at("2024-03-01T12:00:00"))
    Customer.objects.filter(pk=ali.pk).update(created_at=at("2024-02-15T23:30:00"),
                                              last_activity_at=at("2024-02-20T10:00:00"))
    Customer.objects.filter(pk=sara.pk).update(created_at=at("2024-03-05T00:00:00"), last_activity_at=None)
    Customer.objects.filter(pk=nobody.pk).update(created_at=at("2023-12-31T23:59:59"), last_activity_at=None)
    # john: one open conversation with an unread message; sara: a closed one, all read
    open_conv = make_conversation(workspace, john)
    message_receive(conversation=open_conv, customer=john, content="hello")
    Customer.objects.filter(pk=john.pk).update(last_activity_at=at("2024-03-01T12:00:00"))
    make_conversation(workspace, sara, status="closed")
    # another workspace's customer who matches every search below
    make_customer(other_workspace, first_name="John", last_name="Doe", email="john@rival.com")
    return {"john": john.pk, "ali": ali.pk, "sara": sara.pk, "nobody": nobody.pk, "vip": vip.pk,
            "premium": premium.pk}


async def open_list(user):
    comm, connected, _ = await connect("/ws/customers/", staff_token(user))
    assert connected
    return comm


async def ask(comm, frame):
    await comm.send_json_to(frame)
    return await comm.receive_json_from(timeout=5)


def ids(frame):
    return sorted(c["id"] for c in frame["customers"])


async def test_get_customers_lists_the_workspace_page(staff, people):
    comm = await open_list(staff)
    frame = await ask(comm, {"type": "get_customers"})
    assert frame["type"] == "customers_list"
    assert ids(frame) == sorted([people["john"], people["ali"], people["sara"], people["nobody"]])
    assert frame["count"] == 4 and frame["filters"] == {} and frame["timestamp"].endswith("Z")
    assert frame["pagination"] == {"limit": 50, "offset": 0, "page": 1, "page_size": 50, "total": 4,
                                   "has_more": False, "count_capped": False,
                                   "next_cursor": None}
    john = next(c for c in frame["customers"] if c["id"] == people["john"])
    assert john["username"] == "johndoe" and john["source"] == "telegram"
    assert john["tags"] == [{"id": people["vip"], "name": "VIP", "color": "#ff0000"}]
    assert john["unread_count"] == 1 and john["conversations_count"] == 1
    assert set(john) == {"id", "first_name", "last_name", "username", "email", "phone", "source",
                         "profile_picture", "tags", "created_at", "updated_at", "last_activity_at",
                         "unread_count", "conversations_count"}
    assert john["created_at"] == "2024-01-10T08:00:00Z"
    # default order: most recent activity first, customers without activity last
    assert [c["id"] for c in frame["customers"]][:2] == [people["john"], people["ali"]]
    await comm.disconnect()


SEARCHES = [
    ("john", ["john"]),
    ("JOHN", ["john"]),
    ("john doe", ["john"]),
    ("doe john", ["john"]),  # every word, any order
    ("john smith", []),  # every word must match
    ("johndoe", ["john"]),  # username
    ("example.com", ["john"]),  # email
    ("علي", ["ali"]),  # Arabic yeh finds Persian yeh
    ("كريمي", ["ali"]),  # Arabic kaf finds Persian kaf
    ("علی كريمي", ["ali"]),
    ("09123", ["ali"]),  # ASCII digits find a phone stored with Persian digits
    ("۹۳۵۱", ["sara"]),  # Persian digits find an ASCII phone
    ("٩٣٥١١١", ["sara"]),  # Arabic-Indic digits too
    ("  sara   shop  ", ["sara"]),
    ("", ["john", "ali", "sara", "nobody"]),
]


@pytest.mark.parametrize("term, expected", SEARCHES)
async def test_search(staff, people, term, expected):
    comm = await open_list(staff)
    frame = await ask(comm, {"type": "filter_customers", "filters": {"search": term}})
    assert ids(frame) == sorted(people[name] for name in expected), term
    assert frame["count"] == len(expected) and frame["filters"] == {"search": term}
    await comm.disconnect()


async def test_legacy_search_customers(staff, people):
    comm = await open_list(staff)
    frame = await ask(comm, {"type": "search_customers", "search_term": "سارا sara"})
    assert ids(frame) == [] and frame["filters"] == {"search": "سارا sara"}
    frame = await ask(comm, {"type": "search_customers", "search_term": "Smith"})
    assert ids(frame) == [people["sara"]]
    frame = await ask(comm, {"type": "search_customers", "search_term": ""})
    assert frame["count"] == 4
    error = await ask(comm, {"type": "search_customers", "search_term": ["john"]})
    assert error["type"] == "error" and error["code"] == "invalid_input"
    await comm.disconnect()


FILTERS = [
    ({"has_email": "true"}, ["john", "sara"]),
    ({"has_email": True}, ["john", "sara"]),
    ({"has_email": "false"}, ["ali", "nobody"]),
    ({"has_email": "all"}, ["john", "ali", "sara", "nobody"]),
    ({"has_phone": "true"}, ["ali", "sara"]),
    ({"has_email": "false", "has_phone": "false"}, ["nobody"]),
    ({"source": "telegram"}, ["john"]),
    ({"source": "instagram"}, ["ali"]),
    ({"source": "unknown"}, ["nobody"]),
    ({"source": "all"}, ["john", "ali", "sara", "nobody"]),
    ({"tags": ["VIP"]}, ["john", "sara"]),
    ({"tags": ["Premium"]}, ["sara"]),
    ({"tags": "Premium,Nope"}, ["sara"]),
    ({"tags": ["Nope"]}, []),
    ({"has_unread": "true"}, ["john"]),
    ({"has_unread": False}, ["ali", "sara", "nobody"]),
    ({"conversation_status": "active"}, ["john"]),
    ({"conversation_status": "open"}, ["john"]),
    ({"conversation_status": "closed"}, ["sara"]),
    ({"conversation_status": "all"}, ["john", "ali", "sara", "nobody"]),
    ({"date_from": "2024-02-15"}, ["ali", "sara"]),  # inclusive from the start of the day
    ({"date_to": "2024-02-15"}, ["john", "ali", "nobody"]),  # inclusive to the end of the day
    ({"date_from": "2024-01-01", "date_to": "2024-02-14"}, ["john"]),
    ({"date_from": "2024-02-15T23:00:00Z"}, ["ali", "sara"]),
    ({"date_to": "2024-01-10T07:59:59Z"}, ["nobody"]),
    ({"last_activity_from": "2024-02-21"}, ["john"]),
    ({"last_activity_to": "2024-02-20"}, ["ali"]),
    ({"search": "a", "source": "web", "tags": ["VIP"]}, ["sara"]),
]


@pytest.mark.parametrize("filters, expected", FILTERS)
async def test_filters(staff, people, filters, expected):
    comm = await open_list(staff)
    frame = await ask(comm, {"type": "filter_customers", "filters": filters})
    assert frame["type"] == "customers_list", frame
    assert ids(frame) == sorted(people[name] for name in expected), filters
    assert frame["count"] == frame["pagination"]["total"] == len(expected)
    await comm.disconnect()


async def test_tag_ids(staff, people):
    comm = await open_list(staff)
    frame = await ask(comm, {"type": "filter_customers", "filters": {"tag_ids": [people["premium"]]}})
    assert ids(frame) == [people["sara"]]
    frame = await ask(comm, {"type": "filter_customers", "filters": {"tag_ids": f"{people['vip']},{people['premium']}"}})
    assert ids(frame) == sorted([people["john"], people["sara"]])
    await comm.disconnect()


async def test_order_by(staff, people):
    comm = await open_list(staff)
    frame = await ask(comm, {"type": "filter_customers", "filters": {"order_by": "first_name"}})
    assert [c["first_name"] for c in frame["customers"]] == ["Anon", "John", "Sara", "علی"]
    frame = await ask(comm, {"type": "filter_customers", "filters": {"order_by": "-created_at"}})
    assert [c["id"] for c in frame["customers"]] == [people[n] for n in ("sara", "ali", "john", "nobody")]
    frame = await ask(comm, {"type": "filter_customers", "filters": {"order_by": "created_at"}})
    assert [c["id"] for c in frame["customers"]] == [people[n] for n in ("nobody", "john", "ali", "sara")]
    frame = await ask(comm, {"type": "filter_customers", "filters": {"order_by": "-last_activity_at"}})
    assert [c["id"] for c in frame["customers"]][:2] == [people["john"], people["ali"]]  # nulls last
    await comm.disconnect()


async def test_pagination_limit_offset_and_page_size(staff, people):
    comm = await open_list(staff)
    order = {"order_by": "created_at"}
    frame = await ask(comm, {"type": "filter_customers", "filters": {**order, "limit": 3, "offset": 0}})
    assert [c["id"] for c in frame["customers"]] == [people[n] for n in ("nobody", "john", "ali")]
    assert frame["count"] == 4
    assert isinstance(frame["pagination"].pop("next_cursor"), str)
    assert frame["pagination"] == {"limit": 3, "offset": 0, "page": 1, "page_size": 3, "total": 4, "has_more": True, "count_capped": False}
    frame = await ask(comm, {"type": "filter_customers", "filters": {**order, "limit": 3, "offset": 3}})
    assert [c["id"] for c in frame["customers"]] == [people["sara"]] and frame["pagination"]["has_more"] is False
    frame = await ask(comm, {"type": "filter_customers", "filters": {**order, "page": 2, "page_size": 2}})
    assert [c["id"] for c in frame["customers"]] == [people["ali"], people["sara"]]
    assert frame["pagination"] == {"limit": 2, "offset": 2, "page": 2, "page_size": 2, "total": 4, "has_more": False, "count_capped": False, "next_cursor": None}
    frame = await ask(comm, {"type": "filter_customers", "filters": {**order, "page": "5", "page_size": "2"}})
    assert frame["customers"] == [] and frame["count"] == 4
    await comm.disconnect()


INVALID = [
    ({"source": "facebook"}, "source", "telegram, instagram, web, unknown, all"),
    ({"has_email": "maybe"}, "has_email", "true, false, all"),
    ({"has_unread": "yes"}, "has_unread", "true, false, all"),
    ({"conversation_status": "archived"}, "conversation_status", "open, pending, closed, active"),
    ({"tag_ids": ["vip"]}, "tag_ids", None),
    ({"date_from": "yesterday"}, "date_from", None),
    ({"last_activity_to": "2024-13-45"}, "last_activity_to", None),
    ({"order_by": "password"}, "order_by", "created_at, -created_at"),
    ({"limit": 0}, "limit", None),
    ({"limit": 101}, "limit", None),
    ({"page_size": 500}, "page_size", None),
    ({"offset": -1}, "offset", None),
    ({"page": "two"}, "page", None),
    ({"colour": "red"}, "colour", "search"),
    ({"search": {"nested": 1}}, "search", None),
]


@pytest.mark.parametrize("filters, field, allowed", INVALID)
async def test_invalid_filters_name_the_field_and_the_socket_keeps_working(staff, people, filters, field, allowed):
    comm = await open_list(staff)
    error = await ask(comm, {"type": "filter_customers", "filters": filters})
    assert error["type"] == "error" and error["code"] == "invalid_filter", error
    assert error["field"] == field and field in error["error"] and error["message"] == error["error"]
    if allowed:
        assert allowed in error["error"]
    frame = await ask(comm, {"type": "get_customers"})
    assert frame["count"] == 4
    await comm.disconnect()


async def test_filters_must_be_an_object(staff, people):
    comm = await open_list(staff)
    error = await ask(comm, {"type": "filter_customers", "filters": ["source", "telegram"]})
    assert error["code"] == "invalid_filter" and error["field"] == "filters"
    frame = await ask(comm, {"type": "get_customers", "filters": None})
    assert frame["count"] == 4
    await comm.disconnect()


async def test_refresh_reruns_the_last_good_filters(staff, workspace, people):
    comm = await open_list(staff)
    frame = await ask(comm, {"type": "refresh_customers"})  # nothing asked yet: everything
    assert frame["count"] == 4
    await ask(comm, {"type": "filter_customers", "filters": {"source": "telegram", "limit": 10}})
    error = await ask(comm, {"type": "filter_customers", "filters": {"source": "fax"}})
    assert error["code"] == "invalid_filter"
    await database_sync_to_async(make_customer)(workspace, first_name="Tom", source="telegram")
    frame = await ask(comm, {"type": "refresh_customers"})
    assert frame["filters"] == {"source": "telegram", "limit": 10}
    assert frame["count"] == 2 and all(c["source"] == "telegram" for c in frame["customers"])
    await comm.disconnect()


async def test_get_filter_options(staff, people):
    comm = await open_list(staff)
    frame = await ask(comm, {"type": "get_filter_options"})
    assert frame["type"] == "filter_options"
    options = frame["options"]
    assert options["sources"] == ["telegram", "instagram", "web", "unknown", "all"]
    assert options["tags"] == [{"id": people["premium"], "name": "Premium", "color": "#64748b", "count": 1},
                               {"id": people["vip"], "name": "VIP", "color": "#ff0000", "count": 2}]
    assert "-created_at" in options["order_by"] and "first_name" in options["order_by"]
    assert "active" in options["conversation_statuses"] and "open" in options["conversation_statuses"]
    await comm.disconnect()


async def test_other_workspace_sees_only_its_own(other_staff, people):
    comm = await open_list(other_staff)
    frame = await ask(comm, {"type": "get_customers"})
    assert frame["count"] == 1 and frame["customers"][0]["email"] == "john@rival.com"
    options = await ask(comm, {"type": "get_filter_options"})
    assert options["options"]["tags"] == []
    await comm.disconnect()


# --- pushed events ----------------------------------------------------------------------------
async def test_customer_created_and_updated_are_pushed(staff, other_staff, workspace, people):
    mine, rival = await open_list(staff), await open_list(other_staff)
    customer, created = await database_sync_to_async(customer_upsert_from_platform)(
        workspace=workspace, source="telegram", external_id="777", first_name="Neo", username="neo")
    assert created
    frame = await receive_until(mine, "customer_created")
    assert frame["customer"]["id"] == customer.pk and frame["customer"]["username"] == "neo"
    assert frame["customer"]["unread_count"] == 0

    @database_sync_to_async
    def tag_him():
        fresh = Customer.objects.get(pk=customer.pk)
        return customer_update(customer=fresh, data={"last_name": "Anderson", "tag_ids": [people["vip"]]})

    await tag_him()
    frame = await receive_until(mine, "customer_updated")
    assert frame["customer"]["last_name"] == "Anderson"
    assert frame["customer"]["tags"] == [{"id": people["vip"], "name": "VIP", "color": "#ff0000"}]
    assert await drain(mine) == []
    assert await drain(rival) == []
    await mine.disconnect(), await rival.disconnect()


async def test_customer_message_pushes_customer_updated_with_unread(staff, people):
    comm = await open_list(staff)

    @database_sync_to_async
    def write():
        conversation = Conversation.objects.get(customer_id=people["john"])
        return message_receive(conversation=conversation, customer=conversation.customer, content="again")

    await write()
    frame = await receive_until(comm, "customer_updated")
    assert frame["customer"]["id"] == people["john"] and frame["customer"]["unread_count"] == 2
    # message.created also reaches the workspace group; this socket does not render it
    assert await drain(comm) == []
    await comm.disconnect()


async def test_unknown_frame_type(staff, people):
    comm = await open_list(staff)
    error = await ask(comm, {"type": "get_conversations"})
    assert error["code"] == "unknown_type"
    await comm.disconnect()
