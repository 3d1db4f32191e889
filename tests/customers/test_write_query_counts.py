"""Customer and tag writes cost the same number of queries with 1 and with 10 related rows
(the customer's conversations, the tags assigned, the tags already in the workspace), and the
lists hear the new values: ``customer.updated`` and a ``conversation.updated`` for every row
that embeds the customer. Renaming a customer and renaming or deleting a tag are pinned the
same way in test_customer_services.py and test_tag_services.py.

Tags are set through the m2m manager, and each change of the links (a removal, an addition)
costs customers.tag_copies a constant few statements (PostgreSQL: the customer's row locked
before the links change; then one UPDATE of the customer's tag_ids and one of its
conversations' customer_tag_ids), pinned here by the UPDATEs of the copies."""
import pytest
from channels.db import database_sync_to_async
from django.db import connection
from django.test.utils import CaptureQueriesContext

from customers.models import Tag
from customers.services import customer_update
from customers.tag_services import tag_create
from fiko.realtime import workspace_group
from tests.factories import make_conversation, make_customer
from tests.query_counts import SIZES, assert_same_count, count_queries
from tests.sockets import connect, receive_until, staff_token

pytestmark = pytest.mark.django_db(transaction=True)


def _wire(tags) -> list[dict]:
    return sorted(({"id": t.pk, "name": t.name, "color": t.color} for t in tags), key=lambda t: t["id"])


def _by_id(tags: list[dict]) -> list[dict]:
    return sorted(tags, key=lambda t: t["id"])


COPIES = ["customers_customer", "conversations_conversation"]  # one change of links: both copies, once each


def _counted(write) -> tuple[int, list[str]]:
    """(queries of ``write()``, the tables whose tag-id copies it rewrote, one per UPDATE)."""
    with CaptureQueriesContext(connection) as captured:
        write()
    statements = [q["sql"] for q in captured.captured_queries]
    copies = [sql.split()[1].strip('"') for sql in statements
              if sql.startswith("UPDATE") and "tag_ids" in sql.split(" WHERE ")[0]]
    return len(statements), copies


def _customer_with_conversations(workspace, n: int, label: str):
    customer = make_customer(workspace, first_name=f"Customer {label}")
    return customer, {make_conversation(workspace, customer).pk for _ in range(n)}


def test_assigning_and_removing_tags_costs_the_same_for_1_and_10_tags_and_conversations(workspace, listen):
    listener = listen([workspace_group(workspace.pk)])
    assigned, removed = {}, {}
    for n in SIZES:
        customer, conversations = _customer_with_conversations(workspace, n, f"{n}")
        tags = [Tag.objects.create(workspace=workspace, name=f"Tier {n}.{i}") for i in range(n)]
        listener.drain()

        tag_ids = [t.pk for t in tags]
        assigned[n], copies = _counted(lambda: customer_update(customer=customer, data={"tag_ids": tag_ids}))
        assert copies == COPIES  # one addition
        events = listener.drain()
        assert [e["type"] for e in events] == ["customer.updated"] + ["conversation.updated"] * n
        assert _by_id(events[0]["customer"]["tags"]) == _wire(tags)
        assert {e["conversation_id"] for e in events[1:]} == conversations
        assert all(_by_id(e["conversation"]["customer"]["tags"]) == _wire(tags) for e in events[1:])

        removed[n], copies = _counted(lambda: customer_update(customer=customer, data={"tag_ids": []}))
        assert copies == COPIES  # one removal
        events = listener.drain()
        assert [e["type"] for e in events] == ["customer.updated"] + ["conversation.updated"] * n
        assert events[0]["customer"]["tags"] == []
        assert all(e["conversation"]["customer"]["tags"] == [] for e in events[1:])
    assert_same_count(assigned)
    assert_same_count(removed)


def test_editing_a_customer_with_tags_costs_the_same_for_1_and_10_of_each(workspace, listen):
    """Name, email, phone and tags in one PATCH, over a customer in 1 or 10 conversations who
    wears a tag that stays and 1 or 10 that are replaced by 1 or 10 others."""
    listener = listen([workspace_group(workspace.pk)])
    counts = {}
    for n in SIZES:
        customer, conversations = _customer_with_conversations(workspace, n, f"edit {n}")
        kept = Tag.objects.create(workspace=workspace, name=f"Kept {n}")
        worn = [Tag.objects.create(workspace=workspace, name=f"Worn {n}.{i}") for i in range(n)]
        customer.tags.add(kept, *worn)
        new = [Tag.objects.create(workspace=workspace, name=f"New {n}.{i}") for i in range(n)]
        listener.drain()
        data = {"first_name": f"Renamed {n}", "email": f"c{n}@example.com", "phone": "+98 912 000 0000",
                "tag_ids": [kept.pk] + [t.pk for t in new]}
        counts[n], copies = _counted(lambda: customer_update(customer=customer, data=data))
        assert copies == COPIES * 2  # the worn tags removed, the new ones added
        events = listener.drain()
        assert [e["type"] for e in events] == ["customer.updated"] + ["conversation.updated"] * n
        person = events[0]["customer"]
        assert (person["first_name"], person["email"], person["phone"]) == (f"Renamed {n}", f"c{n}@example.com",
                                                                           "+98 912 000 0000")
        assert _by_id(person["tags"]) == _wire([kept, *new])
        assert {e["conversation_id"] for e in events[1:]} == conversations
        assert all(e["conversation"]["customer"] == person for e in events[1:])
    assert_same_count(counts)


def test_creating_a_tag_costs_the_same_with_1_and_10_tags_in_the_workspace(staff, workspace, listen):
    """Nobody wears a new tag yet: no list changes, so nothing is published."""
    listener = listen([workspace_group(workspace.pk)])
    counts = {}
    for n in SIZES:
        for i in range(n):
            Tag.objects.create(workspace=workspace, name=f"Existing {n}.{i}")
        counts[n] = count_queries(lambda: tag_create(user=staff, name=f"Fresh {n}", color="#00aa00"))
        assert Tag.objects.filter(workspace=workspace, name=f"Fresh {n}", color="#00aa00").exists()
        assert listener.drain() == []
    assert_same_count(counts)


async def test_open_lists_show_tags_assigned_to_a_customer_without_a_refresh(staff, workspace):
    """What a user sees when a colleague tags a customer: /ws/customers/ pushes customer_updated
    and /ws/conversations/ pushes conversation_updated for each of the customer's rows, with the
    new tags; removing them pushes the rows without them."""

    @database_sync_to_async
    def setup():
        customer = make_customer(workspace, first_name="John")
        conversations = sorted(make_conversation(workspace, customer).pk for _ in range(2))
        return customer, conversations, Tag.objects.create(workspace=workspace, name="VIP", color="#ff0000")

    customer, conversation_ids, vip = await setup()
    conversations, ok1, _ = await connect("/ws/conversations/", staff_token(staff))
    customers, ok2, _ = await connect("/ws/customers/", staff_token(staff))
    assert ok1 and ok2
    for tag_ids, tags in (([vip.pk], [{"id": vip.pk, "name": "VIP", "color": "#ff0000"}]), ([], [])):
        await database_sync_to_async(customer_update)(customer=customer, data={"tag_ids": tag_ids})
        person = await receive_until(customers, "customer_updated")
        assert (person["customer"]["id"], person["customer"]["tags"]) == (customer.pk, tags)
        rows = [await receive_until(conversations, "conversation_updated") for _ in conversation_ids]
        assert sorted(row["conversation_id"] for row in rows) == conversation_ids
        assert all(row["conversation"]["customer"]["tags"] == tags for row in rows)
    await conversations.disconnect()
    await customers.disconnect()
