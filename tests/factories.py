"""Plain factory functions for test data."""
from django.contrib.auth import get_user_model

from conversations.models import Conversation
from customers.models import Customer
from workspaces.models import Membership, Workspace


def make_workspace(slug: str) -> Workspace:
    return Workspace.objects.create(name=slug.title(), slug=slug)


def make_user(username: str, *, workspace=None, role="agent", password="pw-12345"):
    user = get_user_model().objects.create_user(username=username, password=password, email=f"{username}@example.com")
    if workspace is not None:
        Membership.objects.create(workspace=workspace, user=user, role=role)
    return user


_counter = {"n": 0}


def make_customer(workspace, *, source="telegram", external_id=None, **fields) -> Customer:
    _counter["n"] += 1
    if external_id is None:
        external_id = "" if source == "web" else f"ext-{_counter['n']}"
    return Customer.objects.create(workspace=workspace, source=source, external_id=external_id, **fields)


def make_conversation(workspace, customer, **fields) -> Conversation:
    fields.setdefault("source", customer.source)
    fields.setdefault("title", f"{customer.source} - {customer.display_name}")
    return Conversation.objects.create(workspace=workspace, customer=customer, **fields)
