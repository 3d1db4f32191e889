"""/ws/conversations/ through the real ASGI application: every inbound type, seed 000's
filters (v1 status names, priority by number, assignee me/none), invalid filters and the
pushed events (new_customer_message, conversation_created, conversation_updated)."""
from datetime import datetime, timezone

import pytest
from channels.db import database_sync_to_async

from conversations.models import Conversation, Priority
from conversations.services import (conversation_create, conversation_mark_read, conversation_update,
                                    message_receive, message_send)
from customers.models import Tag
from customers.services import customer_update
from tests.factories import make_conversation, make_customer
from tests.sockets import connect, drain, receive_until, staff_token

pytestmark = pytest.mark.django_db(transaction=True)

def at(day: str) -> datetime:
    return datetime.fromisoformat(day).replace(tzinfo=timezone.utc)


@pytest.fixture
def inbox(workspace, other_workspace, staff, bob):
    urgent = Tag.objects.create(workspace=workspace, name="urgent")
    john = make_customer(workspace, first_name="John", last_name="Doe", username="johndoe", source="telegram")
    ali = make_customer(workspace, first_name="علی", last_name="رضایی", source="instagram")
    sara = make_customer(workspace, first_name="Sara", email="sara@shop.io", source="web", external_id="")
    john.tags.add(urgent)
    support = make_conversation(workspace, john, title="Refund request", priority=Priority.HIGH, assignee=staff)
    message_receive(conversation=support, customer=john, content="My order #77 never arrived")
    persian = make_conversation(workspace, ali, status="pending", priority=Priority.LOW)
    message_receive(conversation=persian, customer=ali, content="سلام، قيمت اين كالا چند است؟")
    message_send(conversation=persian, user=bob, content="Hello")
    conversation_mark_read(conversation=persian, reader_type="user", reader_id=bob.pk)
    closed = make_conversation(workspace, sara, status="closed", priority=Priority.URGENT, assignee=bob,
                               is_archived=True)
    Conversation.objects.filter(pk=support.pk).update(created_at=at("2024-01-10T08:00:00"))
    Conversation.objects.filter(pk=persian.pk).update(created_at=at("2024-02-15T12:00:00"))
    Conversation.objects.filter(pk=closed.pk).update(created_at=at("2024-03-01T00:00:00"))
    rival = make_customer(other_workspace, first_name="John", last_name="Doe")
    make_conversation(other_workspace, rival, title="Refund request")
    return {"support": support.pk, "persian": persian.pk, "closed": closed.pk, "john": john.pk}


async def open_list(user):
    comm, connected, _ = await connect("/ws/conversations/", staff_token(user))
    assert connected
    return comm


async def ask(comm, frame):
    await comm.send_json_to(frame)
    return await comm.receive_json_from(timeout=5)


def ids(frame):
    return sorted(c["id"] for c in frame["conversations"])


async def test_get_conversations(staff, inbox):
    comm = await open_list(staff)
    frame = await ask(comm, {"type": "get_conversations"})
    assert frame["type"] == "conversations_list"
    assert frame["count"] == 3 and frame["filters"] == {} and frame["timestamp"].endswith("Z")
    assert frame["pagination"] == {"limit": 50, "offset": 0, "page": 1, "page_size": 50, "total": 3,
                                   "has_more": False, "count_capped": False,
                                   "next_cursor": None}
    # newest message first; no message yet: last
    assert [c["id"] for c in frame["conversations"]] == [inbox["persian"], inbox["support"], inbox["closed"]]
    support = next(c for c in frame["conversations"] if c["id"] == inbox["support"])
    assert set(support) == {"id", "title", "source", "status", "priority", "assignee", "customer", "unread_count",
                            "last_message", "is_archived", "created_at", "updated_at"}
    assert (support["title"], support["status"], support["priority"]) == ("Refund request", "open", "high")
    assert support["assignee"] == {"id": staff.pk, "username": "alice"}
    assert support["customer"]["username"] == "johndoe" and support["customer"]["tags"][0]["name"] == "urgent"
    assert support["unread_count"] == 1
    assert support["last_message"]["content"] == "My order #77 never arrived"
    assert support["last_message"]["type"] == "customer" and support["last_message"]["message_type"] == "text"
    persian = next(c for c in frame["conversations"] if c["id"] == inbox["persian"])
    assert persian["unread_count"] == 0 and persian["last_message"]["type"] == "support"
    await comm.disconnect()


FILTERS = [
    ({"search": "refund"}, ["support"]),  # title
    ({"search": "REFUND request"}, ["support"]),
    ({"search": "johndoe"}, ["support"]),  # customer username
    ({"search": "never arrived"}, ["support"]),  # message content, every word
    ({"search": "never Sara"}, []),
    ({"search": "sara@shop"}, ["closed"]),  # customer email
    ({"search": "علي"}, ["persian"]),  # Arabic yeh finds the Persian customer name
    ({"search": "قيمت"}, ["persian"]),  # message content as written
    ({"search": "قیمت كالا"}, ["persian"]),  # Persian yeh / Arabic kaf find content stored with the other
    ({"search": "#۷۷"}, ["support"]),  # Persian digits find "#77" in a message
    ({"search": "ORDER #77"}, ["support"]),
    ({"search": "a.b"}, []),  # regex characters are literal
    ({"status": "open"}, ["support"]),
    ({"status": "active"}, ["support"]),
    ({"status": "support_active"}, ["support"]),
    ({"status": "marketing_active"}, ["support"]),
    ({"status": "pending"}, ["persian"]),
    ({"status": "closed"}, ["closed"]),
    ({"status": "all"}, ["support", "persian", "closed"]),
    ({"source": "telegram"}, ["support"]),
    ({"source": "web"}, ["closed"]),
    ({"priority": "high"}, ["support"]),
    ({"priority": 2}, ["support"]),
    ({"priority": "3"}, ["closed"]),
    ({"priority": "LOW"}, ["persian"]),
    ({"unread_only": True}, ["support"]),
    ({"unread_only": "true"}, ["support"]),
    ({"unread_only": False}, ["support", "persian", "closed"]),
    ({"tags": ["urgent"]}, ["support"]),
    ({"tags": "nothing"}, []),
    ({"assignee": "me"}, ["support"]),
    ({"assignee": "none"}, ["persian"]),
    ({"is_archived": True}, ["closed"]),
    ({"is_archived": "false"}, ["support", "persian"]),
    ({"date_from": "2024-02-15"}, ["persian", "closed"]),
    ({"date_to": "2024-02-15"}, ["support", "persian"]),
    ({"date_from": "2024-02-01", "date_to": "2024-02-29"}, ["persian"]),
    ({"status": "open", "unread_only": True, "priority": "high", "assignee": "me"}, ["support"]),
]


@pytest.mark.parametrize("filters, expected", FILTERS)
async def test_filters(staff, inbox, filters, expected):
    comm = await open_list(staff)
    frame = await ask(comm, {"type": "filter_conversations", "filters": filters})
    assert frame["type"] == "conversations_list", frame
    assert ids(frame) == sorted(inbox[name] for name in expected), filters
    assert frame["count"] == frame["pagination"]["total"] == len(expected)
    assert frame["filters"] == filters
    await comm.disconnect()


async def test_assignee_by_id_and_me_is_per_user(staff, bob, inbox):
    comm = await open_list(bob)
    frame = await ask(comm, {"type": "filter_conversations", "filters": {"assignee": "me"}})
    assert ids(frame) == [inbox["closed"]]
    frame = await ask(comm, {"type": "filter_conversations", "filters": {"assignee": str(staff.pk)}})
    assert ids(frame) == [inbox["support"]]
    await comm.disconnect()


async def test_order_and_pagination(staff, inbox):
    comm = await open_list(staff)
    frame = await ask(comm, {"type": "filter_conversations", "filters": {"order_by": "-priority"}})
    assert [c["id"] for c in frame["conversations"]] == [inbox["closed"], inbox["support"], inbox["persian"]]
    frame = await ask(comm, {"type": "filter_conversations", "filters": {"order_by": "created_at", "limit": 2}})
    assert [c["id"] for c in frame["conversations"]] == [inbox["support"], inbox["persian"]]
    assert frame["count"] == 3 and frame["pagination"]["has_more"] is True
    frame = await ask(comm, {"type": "filter_conversations",
                             "filters": {"order_by": "created_at", "limit": 2, "offset": 2}})
    assert [c["id"] for c in frame["conversations"]] == [inbox["closed"]]
    frame = await ask(comm, {"type": "filter_conversations",
                             "filters": {"order_by": "-unread_count", "page": 1, "page_size": 1}})
    assert [c["id"] for c in frame["conversations"]] == [inbox["support"]]
    assert isinstance(frame["pagination"].pop("next_cursor"), str)
    assert frame["pagination"] == {"limit": 1, "offset": 0, "page": 1, "page_size": 1, "total": 3, "has_more": True, "count_capped": False}
    await comm.disconnect()


INVALID = [
    ({"status": "archived"}, "status", "open, pending, closed, active, support_active, marketing_active, all"),
    ({"priority": "critical"}, "priority", "low, medium, high, urgent, 0, 1, 2, 3"),
    ({"priority": 7}, "priority", None),
    ({"source": "whatsapp"}, "source", "telegram, instagram, web, unknown, all"),
    ({"assignee": "bob"}, "assignee", "me, none"),
    ({"unread_only": "perhaps"}, "unread_only", "true, false, all"),
    ({"is_archived": 3}, "is_archived", None),
    ({"date_from": "01/02/2024"}, "date_from", None),
    ({"order_by": "customer__email"}, "order_by", "last_message_at"),
    ({"page_size": 1000}, "page_size", None),
    ({"limit": "ten"}, "limit", None),
    ({"tag": "urgent"}, "tag", "tags"),
]


@pytest.mark.parametrize("filters, field, allowed", INVALID)
async def test_invalid_filters(staff, inbox, filters, field, allowed):
    comm = await open_list(staff)
    error = await ask(comm, {"type": "filter_conversations", "filters": filters})
    assert error["type"] == "error" and error["code"] == "invalid_filter", error
    assert error["field"] == field and field in error["error"] and error["message"] == error["error"]
    if allowed:
        assert allowed in error["error"]
    assert (await ask(comm, {"type": "get_conversations"}))["count"] == 3
    await comm.disconnect()


async def test_refresh_and_filter_options(staff, bob, inbox):
    comm = await open_list(staff)
    assert (await ask(comm, {"type": "refresh_conversations"}))["count"] == 3
    await ask(comm, {"type": "filter_conversations", "filters": {"status": "active"}})
    assert (await ask(comm, {"type": "filter_conversations", "filters": "open"}))["code"] == "invalid_filter"
    frame = await ask(comm, {"type": "refresh_conversations"})
    assert frame["filters"] == {"status": "active"} and ids(frame) == [inbox["support"]]

    frame = await ask(comm, {"type": "get_conversation_filter_options"})
    assert frame["type"] == "filter_options"
    options = frame["options"]
    assert {"open", "pending", "closed", "active"} <= set(options["statuses"])
    assert options["priorities"] == ["low", "medium", "high", "urgent"]
    assert options["assignees"] == [{"id": staff.pk, "username": "alice"}, {"id": bob.pk, "username": "bob"}]
    assert [t["name"] for t in options["tags"]] == ["urgent"] and options["tags"][0]["count"] == 1
    assert "-last_message_at" in options["order_by"]
    await comm.disconnect()


async def test_other_workspace_lists_only_its_own(other_staff, inbox):
    comm = await open_list(other_staff)
    frame = await ask(comm, {"type": "filter_conversations", "filters": {"search": "refund"}})
    assert frame["count"] == 1 and frame["conversations"][0]["id"] not in inbox.values()
    options = await ask(comm, {"type": "get_conversation_filter_options"})
    assert [a["username"] for a in options["options"]["assignees"]] == ["mallory"]
    await comm.disconnect()


# --- pushed events ----------------------------------------------------------------------------
async def test_customer_message_is_new_customer_message(staff, other_staff, inbox):
    mine, rival = await open_list(staff), await open_list(other_staff)

    @database_sync_to_async
    def write():
        conversation = Conversation.objects.get(pk=inbox["support"])
        return message_receive(conversation=conversation, customer=conversation.customer, content="Any news?")[0]

    message = await write()
    frame = await receive_until(mine, "new_customer_message")
    assert frame["conversation_id"] == inbox["support"] and frame["message"]["id"] == message.pk
    assert frame["message"]["content"] == "Any news?" and frame["message"]["type"] == "customer"
    assert frame["conversation"]["unread_count"] == 2 and frame["conversation"]["last_message"]["id"] == message.pk
    assert frame["timestamp"].endswith("Z")
    assert await drain(mine) == []  # customer.updated also reached the group: not rendered here
    assert await drain(rival) == []
    await mine.disconnect(), await rival.disconnect()


async def test_staff_message_is_conversation_updated(staff, inbox):
    comm = await open_list(staff)

    @database_sync_to_async
    def reply():
        return message_send(conversation=Conversation.objects.get(pk=inbox["support"]), user=staff, content="On it")[0]

    message = await reply()
    frame = await receive_until(comm, "conversation_updated")
    assert frame["conversation_id"] == inbox["support"]
    assert frame["conversation"]["last_message"] == {
        "id": message.pk, "content": "On it", "type": "support", "message_type": "text",
        "created_at": frame["conversation"]["last_message"]["created_at"]}
    assert await drain(comm) == []
    await comm.disconnect()


async def test_conversation_created_and_updated(staff, bob, workspace, inbox):
    comm = await open_list(staff)

    @database_sync_to_async
    def open_new():
        customer = make_customer(workspace, first_name="Neo", source="web", external_id="")
        return conversation_create(workspace=workspace, customer=customer)

    conversation = await open_new()
    frame = await receive_until(comm, "conversation_created")
    assert frame["conversation"]["id"] == conversation.pk and frame["conversation"]["title"] == "web - Neo"
    assert frame["conversation"]["status"] == "open" and frame["conversation"]["last_message"] is None

    @database_sync_to_async
    def triage():
        return conversation_update(conversation=Conversation.objects.get(pk=conversation.pk),
                                   data={"status": "pending", "priority": Priority.URGENT, "assignee": bob.pk})

    await triage()
    frame = await receive_until(comm, "conversation_updated")
    assert frame["conversation_id"] == conversation.pk
    assert (frame["conversation"]["status"], frame["conversation"]["priority"]) == ("pending", "urgent")
    assert frame["conversation"]["assignee"] == {"id": bob.pk, "username": "bob"}
    await comm.disconnect()


async def test_mark_read_drops_unread_to_zero(staff, inbox):
    comm = await open_list(staff)
    await ask(comm, {"type": "get_conversations"})

    @database_sync_to_async
    def read():
        conversation = Conversation.objects.get(pk=inbox["support"])
        conversation_mark_read(conversation=conversation, reader_type="user", reader_id=staff.pk)

    await read()
    frame = await receive_until(comm, "conversation_updated")
    assert frame["conversation_id"] == inbox["support"] and frame["conversation"]["unread_count"] == 0
    frame = await ask(comm, {"type": "filter_conversations", "filters": {"unread_only": True}})
    assert frame["count"] == 0
    await comm.disconnect()


async def test_customer_edit_updates_the_conversations_that_show_the_customer(staff, inbox):
    comm = await open_list(staff)

    @database_sync_to_async
    def rename():
        from customers.models import Customer

        customer_update(customer=Customer.objects.get(pk=inbox["john"]), data={"first_name": "Johnny"})

    await rename()
    frames = await drain(comm)  # the rows embed the customer: each of john's conversations is updated
    assert frames and {f["type"] for f in frames} == {"conversation_updated"}
    assert all(f["conversation"]["customer"]["first_name"] == "Johnny" for f in frames)
    assert inbox["support"] in {f["conversation_id"] for f in frames}
    frame = await ask(comm, {"type": "refresh_conversations"})
    support = next(c for c in frame["conversations"] if c["id"] == inbox["support"])
    assert support["customer"]["first_name"] == "Johnny"
    await comm.disconnect()


async def test_unknown_type_and_bad_json(staff, inbox):
    comm = await open_list(staff)
    assert (await ask(comm, {"type": "get_customers"}))["code"] == "unknown_type"
    await comm.send_to(text_data="[1, 2")
    assert (await comm.receive_json_from())["error"] == "Invalid JSON format"
    await comm.disconnect()
