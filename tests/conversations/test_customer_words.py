"""A conversation search finds the conversation by its customer's name, email, username or
phone through the conversation's own copy of them (Conversation.customer_words): filled when
the conversation is opened, rewritten when the customer is renamed (staff edit or platform
profile), so the new name finds it and the old one no longer does, on every database."""
import pytest

from conversations.consumers import conversations_list_frame
from conversations.models import Conversation
from conversations.services import conversation_create
from customers.services import customer_update, customer_upsert_from_platform

pytestmark = pytest.mark.django_db


def _found(staff, term):
    return [row["id"] for row in conversations_list_frame(user=staff, filters={"search": term})["conversations"]]


def test_a_new_conversation_is_found_by_its_customer(staff, workspace):
    customer, _ = customer_upsert_from_platform(workspace=workspace, source="telegram", external_id="1",
                                                first_name="Reza", last_name="Kazemi", username="rkz")
    conversation = conversation_create(workspace=workspace, customer=customer, title="Order")
    assert Conversation.objects.get(pk=conversation.pk).customer_words == customer.search_text
    assert _found(staff, "kazemi") == [conversation.pk] == _found(staff, "RKZ")


def test_a_staff_rename_moves_the_conversation_to_the_new_name(staff, workspace):
    customer, _ = customer_upsert_from_platform(workspace=workspace, source="telegram", external_id="2",
                                                first_name="Sara", last_name="Nikzad")
    first = conversation_create(workspace=workspace, customer=customer, title="One")
    second = conversation_create(workspace=workspace, customer=customer, title="Two")
    customer_update(customer=customer, data={"last_name": "Kazemi", "email": "sara@example.com"})
    assert sorted(_found(staff, "kazemi")) == sorted([first.pk, second.pk]) == sorted(_found(staff, "sara@example"))
    assert _found(staff, "nikzad") == []


def test_a_platform_rename_moves_the_conversation_to_the_new_name(staff, workspace):
    customer, _ = customer_upsert_from_platform(workspace=workspace, source="telegram", external_id="3",
                                                username="old_handle")
    conversation = conversation_create(workspace=workspace, customer=customer, title="Support")  # not the name
    customer_upsert_from_platform(workspace=workspace, source="telegram", external_id="3", username="new_handle",
                                  first_name="كاظم")  # Arabic kaf: stored normalized, found by either letter
    assert _found(staff, "new_handle") == [conversation.pk] == _found(staff, "کاظم") == _found(staff, "كاظم")
    assert _found(staff, "old_handle") == []
