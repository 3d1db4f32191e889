import threading

import pytest
from django.db import connection

from customers.models import Customer
from customers.services import customer_update, customer_upsert_from_platform
from fiko.errors import FikoError
from fiko.realtime import workspace_group
from tests.factories import make_conversation, make_customer, make_workspace
from tests.query_counts import assert_same_count, count_queries


@pytest.mark.django_db(transaction=True)
def test_upsert_creates_then_updates_and_publishes(workspace, listen):
    listener = listen([workspace_group(workspace.pk)])
    customer, created = customer_upsert_from_platform(
        workspace=workspace, source="telegram", external_id="42", first_name="علي", username="ali"
    )
    assert created and customer.search_text == "علی ali"  # Arabic yeh stored normalized for search
    same, created_again = customer_upsert_from_platform(
        workspace=workspace, source="telegram", external_id="42", first_name="علي", username="ali"
    )
    assert not created_again and same.pk == customer.pk
    customer_upsert_from_platform(workspace=workspace, source="telegram", external_id="42", username="ali_new")
    assert Customer.objects.get(pk=customer.pk).username == "ali_new"
    events = listener.drain()
    assert [e["type"] for e in events] == ["customer.created", "customer.updated"]  # unchanged upsert: silent
    assert events[1]["customer"]["username"] == "ali_new"


@pytest.mark.django_db(transaction=True)
def test_a_platform_rename_reaches_the_conversation_rows_too(workspace, listen):
    """A conversation row embeds its customer: when the platform tells us a new name, the
    conversation lists get the row with it, not only the customers list."""
    customer, _ = customer_upsert_from_platform(workspace=workspace, source="telegram", external_id="9", username="old")
    conversation = make_conversation(workspace, customer)
    listener = listen([workspace_group(workspace.pk)])
    customer_upsert_from_platform(workspace=workspace, source="telegram", external_id="9", username="new")
    customer_event, row = listener.drain()
    assert customer_event["type"] == "customer.updated" and customer_event["customer"]["username"] == "new"
    assert row["type"] == "conversation.updated" and row["conversation_id"] == conversation.pk
    assert row["conversation"]["customer"]["username"] == "new"


@pytest.mark.django_db(transaction=True)
def test_upsert_is_per_workspace(workspace):
    other = make_workspace("other")
    a, _ = customer_upsert_from_platform(workspace=workspace, source="telegram", external_id="7")
    b, _ = customer_upsert_from_platform(workspace=other, source="telegram", external_id="7")
    assert a.pk != b.pk


@pytest.mark.django_db(transaction=True)
def test_concurrent_upserts_create_one_customer(workspace):
    errors = []

    def worker():
        try:
            customer_upsert_from_platform(workspace=workspace, source="instagram", external_id="igsid-1", first_name="Sara")
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(8)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert errors == []
    assert Customer.objects.filter(external_id="igsid-1").count() == 1


@pytest.mark.django_db(transaction=True)
def test_customer_update_checks_tags_of_same_workspace(workspace, other_workspace, customer, listen):
    from customers.models import Tag

    vip = Tag.objects.create(workspace=workspace, name="VIP")
    foreign = Tag.objects.create(workspace=other_workspace, name="VIP")
    listener = listen([workspace_group(workspace.pk)])
    with pytest.raises(FikoError):
        customer_update(customer=customer, data={"first_name": "Changed", "tag_ids": [vip.pk, foreign.pk]})
    customer.refresh_from_db()
    assert customer.first_name == "John" and customer.tags.count() == 0  # nothing changed
    updated = customer_update(customer=customer, data={"phone": "+98 912 000 0000", "tag_ids": [vip.pk]})
    assert [t.name for t in updated.tags.all()] == ["VIP"]
    events = listener.drain()
    assert [e["type"] for e in events] == ["customer.updated"]
    assert events[0]["customer"]["tags"] == [{"id": vip.pk, "name": "VIP", "color": vip.color}]


@pytest.mark.django_db(transaction=True)
def test_renaming_a_customer_updates_the_conversation_lists(workspace, customer, conversation, listen):
    listener = listen([workspace_group(workspace.pk)])
    customer_update(customer=customer, data={"first_name": "Johnny"})
    events = listener.drain()
    assert [e["type"] for e in events] == ["customer.updated", "conversation.updated"]
    assert events[1]["conversation"]["customer"]["first_name"] == "Johnny"
    # a second drain on the same listener works (its own event loop)
    customer_update(customer=customer, data={"last_name": "B"})
    assert [e["type"] for e in listener.drain()] == ["customer.updated", "conversation.updated"]


def _rename_with_queries(customer, first_name):
    return count_queries(lambda: customer_update(customer=customer, data={"first_name": first_name}))


@pytest.mark.django_db(transaction=True)
def test_customer_update_republishes_every_conversation_in_a_constant_number_of_queries(workspace, listen):
    """1, 10 or 50 conversations: the same number of queries, and every row on the list shows
    the new name (before: 11 queries for 1 conversation, 38 for 10)."""
    from customers.models import Tag

    vip = Tag.objects.create(workspace=workspace, name="VIP")
    counts, listener = {}, listen([workspace_group(workspace.pk)])
    for n in (1, 10, 50):
        customer = make_customer(workspace, first_name=f"Owner of {n}")
        customer.tags.add(vip)
        conversations = {make_conversation(workspace, customer).pk for _ in range(n)}
        counts[n] = _rename_with_queries(customer, f"Renamed {n}")
        events = listener.drain()
        assert [e["type"] for e in events] == ["customer.updated"] + ["conversation.updated"] * n
        assert events[0]["customer"]["first_name"] == f"Renamed {n}"
        assert events[0]["customer"]["conversations_count"] == n
        rows = events[1:]
        assert {e["conversation_id"] for e in rows} == conversations
        assert all(e["conversation"]["id"] == e["conversation_id"] for e in rows)
        assert all(e["conversation"]["customer"]["first_name"] == f"Renamed {n}" for e in rows)
        assert all(e["conversation"]["customer"]["tags"] == [{"id": vip.pk, "name": "VIP", "color": vip.color}]
                   for e in rows)
    assert_same_count(counts)


@pytest.mark.django_db(transaction=True)
def test_customer_update_republishes_only_this_customers_conversations(workspace, customer, conversation, listen):
    someone_else = make_customer(workspace, first_name="Other")
    make_conversation(workspace, someone_else)
    listener = listen([workspace_group(workspace.pk)])
    customer_update(customer=customer, data={"last_name": "Smith"})
    events = listener.drain()
    assert [(e["type"], e.get("conversation_id")) for e in events] == [
        ("customer.updated", None), ("conversation.updated", conversation.pk)]
    assert events[0]["customer"]["id"] == customer.pk
