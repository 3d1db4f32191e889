"""Renaming, recolouring or deleting a tag: every customer wearing it is republished
(``customer.updated``) and so is every conversation row that embeds one of them
(``conversation.updated``), in a constant number of queries however many; the lists a user
has open show the new tag without a refresh."""
import pytest
from channels.db import database_sync_to_async

from customers.models import Tag
from customers.tag_services import tag_delete, tag_update
from fiko.realtime import workspace_group
from tests.factories import make_conversation, make_customer
from tests.query_counts import SIZES, assert_same_count, count_queries
from tests.sockets import connect, receive_until, staff_token

pytestmark = pytest.mark.django_db(transaction=True)


def _wearers(workspace, tag, n, *, conversations_each=2):
    """``n`` customers wearing ``tag`` (and a second tag that stays), with their conversations."""
    keep = Tag.objects.get_or_create(workspace=workspace, name="Keep", defaults={"color": "#000000"})[0]
    customers, conversations = set(), set()
    for i in range(n):
        customer = make_customer(workspace, first_name=f"{tag.name} wearer {i}")
        customer.tags.add(tag, keep)
        customers.add(customer.pk)
        conversations |= {make_conversation(workspace, customer).pk for _ in range(conversations_each)}
    return customers, conversations, keep


def _split(events):
    customers = {e["customer"]["id"]: e for e in events if e["type"] == "customer.updated"}
    rows = {e["conversation_id"]: e for e in events if e["type"] == "conversation.updated"}
    assert len(customers) + len(rows) == len(events), [e["type"] for e in events]
    return customers, rows


def test_tag_rename_republishes_customers_and_conversation_rows_in_constant_queries(workspace, listen):
    bystander = make_customer(workspace, first_name="Untagged")
    make_conversation(workspace, bystander)
    listener = listen([workspace_group(workspace.pk)])
    counts = {}
    for n in SIZES:
        tag = Tag.objects.create(workspace=workspace, name=f"Tier{n}", color="#ff0000")
        customers, conversations, keep = _wearers(workspace, tag, n)
        counts[n] = count_queries(lambda: tag_update(tag=tag, data={"name": f"Gold{n}", "color": "#00ff00"}))
        customer_events, rows = _split(listener.drain())
        assert set(customer_events) == customers and set(rows) == conversations  # the bystander is not
        expected_tags = sorted([{"id": tag.pk, "name": f"Gold{n}", "color": "#00ff00"},
                                {"id": keep.pk, "name": "Keep", "color": "#000000"}], key=lambda t: t["id"])
        assert all(sorted(e["customer"]["tags"], key=lambda t: t["id"]) == expected_tags
                   for e in customer_events.values())
        assert all(sorted(e["conversation"]["customer"]["tags"], key=lambda t: t["id"]) == expected_tags
                   for e in rows.values())
    assert_same_count(counts)


def test_tag_delete_republishes_customers_and_conversation_rows_in_constant_queries(workspace, listen):
    listener = listen([workspace_group(workspace.pk)])
    counts = {}
    for n in SIZES:
        tag = Tag.objects.create(workspace=workspace, name=f"Doomed{n}")
        customers, conversations, keep = _wearers(workspace, tag, n)
        counts[n] = count_queries(lambda: tag_delete(tag=tag))
        customer_events, rows = _split(listener.drain())
        assert set(customer_events) == customers and set(rows) == conversations
        kept = [{"id": keep.pk, "name": "Keep", "color": "#000000"}]
        assert all(e["customer"]["tags"] == kept for e in customer_events.values())
        assert all(e["conversation"]["customer"]["tags"] == kept for e in rows.values())
    assert_same_count(counts)


def test_a_tag_nobody_wears_publishes_nothing(workspace, listen):
    tag = Tag.objects.create(workspace=workspace, name="Lonely")
    make_conversation(workspace, make_customer(workspace, first_name="Untagged"))
    listener = listen([workspace_group(workspace.pk)])
    tag_update(tag=tag, data={"name": "Still lonely"})
    tag_delete(tag=tag)
    assert listener.drain() == []


def test_a_tag_change_stays_in_its_workspace(workspace, other_workspace, listen):
    tag = Tag.objects.create(workspace=workspace, name="VIP")
    customers, conversations, _ = _wearers(workspace, tag, 1)
    rival_tag = Tag.objects.create(workspace=other_workspace, name="VIP")
    _wearers(other_workspace, rival_tag, 1)
    rival = listen([workspace_group(other_workspace.pk)])
    tag_update(tag=tag, data={"name": "Gold"})
    assert rival.drain() == []


async def test_open_lists_show_a_renamed_tag_without_a_refresh(staff, workspace):
    """What a user sees: /ws/conversations/ pushes conversation_updated with the renamed tag on
    the row's customer, /ws/customers/ pushes customer_updated with it."""

    @database_sync_to_async
    def setup():
        tag = Tag.objects.create(workspace=workspace, name="VIP", color="#ff0000")
        customer = make_customer(workspace, first_name="John")
        customer.tags.add(tag)
        return tag, customer.pk, make_conversation(workspace, customer).pk

    tag, customer_id, conversation_id = await setup()
    conversations, ok1, _ = await connect("/ws/conversations/", staff_token(staff))
    customers, ok2, _ = await connect("/ws/customers/", staff_token(staff))
    assert ok1 and ok2
    await database_sync_to_async(tag_update)(tag=tag, data={"name": "Gold"})
    row = await receive_until(conversations, "conversation_updated")
    assert row["conversation_id"] == conversation_id
    assert row["conversation"]["customer"]["tags"] == [{"id": tag.pk, "name": "Gold", "color": "#ff0000"}]
    person = await receive_until(customers, "customer_updated")
    assert person["customer"]["id"] == customer_id
    assert person["customer"]["tags"] == [{"id": tag.pk, "name": "Gold", "color": "#ff0000"}]

    await database_sync_to_async(tag_delete)(tag=tag)
    row = await receive_until(conversations, "conversation_updated")
    assert (row["conversation_id"], row["conversation"]["customer"]["tags"]) == (conversation_id, [])
    person = await receive_until(customers, "customer_updated")
    assert (person["customer"]["id"], person["customer"]["tags"]) == (customer_id, [])
    await conversations.disconnect()
    await customers.disconnect()
