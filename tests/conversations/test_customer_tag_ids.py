"""The conversation list's tags filter reads the conversation's copy of its customer's tag ids
(Conversation.customer_tag_ids, GIN-indexed on PostgreSQL): filled when the conversation is
opened, rewritten when the customer's tags change and when a tag is deleted; a renamed tag
keeps its id, so the new name finds the conversations at once and the old one no longer does,
on every database."""
import pytest

from conversations.consumers import conversations_list_frame
from conversations.models import Conversation
from conversations.services import conversation_create
from customers.models import Tag
from customers.services import customer_update
from customers.tag_services import tag_delete, tag_update
from tests.factories import make_customer

pytestmark = pytest.mark.django_db


def _found(staff, *names):
    frame = conversations_list_frame(user=staff, filters={"tags": list(names)})
    return sorted(row["id"] for row in frame["conversations"])


@pytest.fixture
def tags(workspace):
    return {name: Tag.objects.create(workspace=workspace, name=name) for name in ("VIP", "Premium", "Late")}


def test_a_conversation_opened_for_a_tagged_customer_is_found_by_its_tags(staff, workspace, tags):
    customer = make_customer(workspace, first_name="Reza")
    customer_update(customer=customer, data={"tag_ids": [tags["VIP"].pk, tags["Premium"].pk]})
    conversation = conversation_create(workspace=workspace, customer=customer, title="Order")
    assert Conversation.objects.get(pk=conversation.pk).customer_tag_ids == sorted([tags["VIP"].pk,
                                                                                   tags["Premium"].pk])
    assert _found(staff, "VIP") == [conversation.pk] == _found(staff, "Premium") == _found(staff, "Late", "VIP")
    assert _found(staff, "Late") == []


def test_tags_added_and_removed_on_the_customer_move_its_conversations_at_once(staff, workspace, tags):
    customer, other = make_customer(workspace, first_name="Sara"), make_customer(workspace, first_name="Omid")
    first = conversation_create(workspace=workspace, customer=customer, title="One")
    second = conversation_create(workspace=workspace, customer=customer, title="Two")
    bystander = conversation_create(workspace=workspace, customer=other, title="Other")
    assert _found(staff, "VIP") == []
    customer_update(customer=customer, data={"tag_ids": [tags["VIP"].pk]})
    assert _found(staff, "VIP") == sorted([first.pk, second.pk])
    customer_update(customer=other, data={"tag_ids": [tags["VIP"].pk, tags["Late"].pk]})
    assert _found(staff, "VIP") == sorted([first.pk, second.pk, bystander.pk])
    customer_update(customer=customer, data={"tag_ids": [tags["Premium"].pk]})  # VIP off, Premium on
    assert _found(staff, "VIP") == [bystander.pk] == _found(staff, "Late")
    assert _found(staff, "Premium") == sorted([first.pk, second.pk])
    customer_update(customer=customer, data={"tag_ids": []})
    assert _found(staff, "Premium") == []
    assert _found(staff, "VIP", "Premium", "Late") == [bystander.pk]


def test_a_deleted_tag_leaves_the_conversations_and_the_other_tags_stay(staff, workspace, tags):
    customer, other = make_customer(workspace, first_name="Sara"), make_customer(workspace, first_name="Omid")
    both = conversation_create(workspace=workspace, customer=customer, title="Both")
    only = conversation_create(workspace=workspace, customer=other, title="Only VIP")
    customer_update(customer=customer, data={"tag_ids": [tags["VIP"].pk, tags["Premium"].pk]})
    customer_update(customer=other, data={"tag_ids": [tags["VIP"].pk]})
    tag_delete(tag=tags["VIP"])
    assert _found(staff, "VIP") == []
    assert _found(staff, "Premium") == [both.pk]
    assert Conversation.objects.get(pk=both.pk).customer_tag_ids == [tags["Premium"].pk]
    assert Conversation.objects.get(pk=only.pk).customer_tag_ids == []
    Tag.objects.create(workspace=workspace, name="VIP")  # a new tag of the old name wears nobody
    assert _found(staff, "VIP") == []


def test_a_renamed_tag_finds_its_conversations_by_the_new_name_only(staff, workspace, tags):
    customer = make_customer(workspace, first_name="Sara")
    conversation = conversation_create(workspace=workspace, customer=customer, title="One")
    customer_update(customer=customer, data={"tag_ids": [tags["VIP"].pk]})
    tag_update(tag=tags["VIP"], data={"name": "Gold"})
    assert _found(staff, "Gold") == [conversation.pk]
    assert _found(staff, "VIP") == []
