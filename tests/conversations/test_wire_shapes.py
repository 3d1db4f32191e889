"""Conversation rows and customers on the wire are built by plain functions (conversation_wire,
customer_wire: every message event carries a row, and a serializer per object costs more than
the queries); ConversationSerializer and CustomerSerializer delegate to them. Here the functions
must render exactly what DRF renders from the serializers' declared fields, key order
included, so the OpenAPI schema and every dialect stay the same shape."""
import pytest
from django.utils import timezone
from rest_framework import serializers

from conversations.models import Message
from conversations.selectors import conversation_for_wire
from conversations.serializers import ConversationSerializer, conversation_wire
from conversations.services import message_receive, message_send
from customers.models import Tag
from customers.selectors import customer_with_counts
from customers.serializers import CustomerSerializer, customer_wire
from tests.factories import make_conversation, make_customer

pytestmark = pytest.mark.django_db


def _drf(serializer_class, instance) -> dict:
    """What the serializer's declared fields render (DRF's own to_representation)."""
    return dict(serializers.ModelSerializer.to_representation(serializer_class(), instance))


def test_customers_render_as_their_serializer_fields_do(workspace):
    bare = make_customer(workspace, first_name="Ann", last_name="", username="", source="web")
    tagged = make_customer(workspace, first_name="Bo", last_name="Li", username="bo", email="bo@example.com",
                           phone="+1 555", profile_picture="/uploads/bo.jpg")
    tagged.tags.add(Tag.objects.create(workspace=workspace, name="VIP", color="#ff8800"),
                    Tag.objects.create(workspace=workspace, name="Asia", color="#123"))
    tagged.last_activity_at = timezone.now()
    tagged.save()
    make_conversation(workspace, tagged)
    for customer in (bare, tagged):
        row = customer_with_counts(customer.pk)
        assert customer_wire(row) == _drf(CustomerSerializer, row)
        assert list(customer_wire(row)) == list(_drf(CustomerSerializer, row))
        assert CustomerSerializer(row).data == customer_wire(row)


def test_conversation_rows_render_as_their_serializer_fields_do(workspace, staff, customer):
    empty = make_conversation(workspace, customer)
    busy = make_conversation(workspace, customer, title="", is_archived=True, assignee=staff, priority=3)
    message_receive(conversation=busy, customer=customer, content="Hi")
    message_send(conversation=busy, user=staff, content="Hello", role=Message.Role.MARKETING)
    customer.tags.add(Tag.objects.create(workspace=workspace, name="VIP"))
    for conversation in (empty, busy):
        row = conversation_for_wire(conversation.pk)
        assert conversation_wire(row) == _drf(ConversationSerializer, row)
        assert list(conversation_wire(row)) == list(_drf(ConversationSerializer, row))
    row = conversation_for_wire(busy.pk)
    assert row.assignee is not None and conversation_wire(row)["last_message"]["type"] == "marketing"
