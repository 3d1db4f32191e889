"""Customer and Tag on the wire (SPEC.md, "Objects on the wire")."""
from rest_framework import serializers

from fiko.api_fields import IdField
from fiko.timefmt import iso

from .models import Customer, Tag


class TagSerializer(serializers.ModelSerializer):
    class Meta:
        model = Tag
        fields = ["id", "name", "color"]

    def validate_name(self, value):
        value = value.strip()
        if not value:
            raise serializers.ValidationError("Tag name cannot be empty.")
        return value

    def validate_color(self, value):
        import re

        if not re.fullmatch(r"#[0-9a-fA-F]{3}([0-9a-fA-F]{3})?", value):
            raise serializers.ValidationError("Color must be a hex color like #ff8800.")
        return value


def wire_text(value):
    """A text column on the wire, as DRF's CharField renders it (None stays None)."""
    return None if value is None else str(value)


def tag_wire(tag) -> dict:
    return {"id": tag.id, "name": tag.name, "color": tag.color}


def customer_wire(customer) -> dict:
    """The one definition of a customer on the wire, built without a serializer per object
    (events render a customer per message); CustomerSerializer delegates here and its declared
    fields describe the shape for the OpenAPI schema (a test keeps them equal). Reads
    ``unread_total``/``conversations_total`` annotated by customers.selectors and the
    customer's prefetched tags."""
    return {
        "id": customer.id,
        "first_name": wire_text(customer.first_name),
        "last_name": wire_text(customer.last_name),
        "username": wire_text(customer.username),
        "email": wire_text(customer.email),
        "phone": wire_text(customer.phone),
        "source": wire_text(customer.source),
        "profile_picture": wire_text(customer.profile_picture),
        "tags": [tag_wire(tag) for tag in customer.tags.all()],
        "created_at": iso(customer.created_at),
        "updated_at": iso(customer.updated_at),
        "last_activity_at": iso(customer.last_activity_at),
        "unread_count": int(getattr(customer, "unread_total", 0) or 0),
        "conversations_count": int(getattr(customer, "conversations_total", 0) or 0),
    }


class CustomerSerializer(serializers.ModelSerializer):
    """Reads ``unread_total``/``conversations_total`` annotated by customers.selectors; the
    shape is ``customer_wire``'s."""

    tags = TagSerializer(many=True, read_only=True)
    unread_count = serializers.SerializerMethodField()
    conversations_count = serializers.SerializerMethodField()

    class Meta:
        model = Customer
        fields = [
            "id", "first_name", "last_name", "username", "email", "phone", "source", "profile_picture",
            "tags", "created_at", "updated_at", "last_activity_at", "unread_count", "conversations_count",
        ]
        read_only_fields = fields

    def get_unread_count(self, customer) -> int:
        return int(getattr(customer, "unread_total", 0) or 0)

    def get_conversations_count(self, customer) -> int:
        return int(getattr(customer, "conversations_total", 0) or 0)

    def to_representation(self, customer):
        return customer_wire(customer)


class CustomerBriefSerializer(serializers.ModelSerializer):
    """The customer inside a message."""

    class Meta:
        model = Customer
        fields = ["id", "first_name", "last_name", "username", "source"]
        read_only_fields = fields


class CustomerUpdateSerializer(serializers.Serializer):
    """PATCH /api/customers/{id}/ input."""

    first_name = serializers.CharField(max_length=150, required=False, allow_blank=True)
    last_name = serializers.CharField(max_length=150, required=False, allow_blank=True)
    email = serializers.EmailField(required=False, allow_blank=True)
    phone = serializers.RegexField(r"^\+?[0-9 ()-]{3,32}$", required=False, allow_blank=True,
                                   error_messages={"invalid": "Phone may hold digits, spaces, ()- and a leading +."})
    tag_ids = serializers.ListField(child=IdField(), required=False, max_length=100)
