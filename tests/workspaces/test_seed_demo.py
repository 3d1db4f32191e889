"""seed_demo: the demo workspace make run serves, written through the real services."""
from io import StringIO

import pytest
from django.apps import apps
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db.models import Max

from conversations.models import Conversation, Message, ReadMarker
from customers.models import Customer, CustomerAccount
from workspaces.models import Membership, Workspace

pytestmark = pytest.mark.django_db

SEEDED_APPS = ("auth", "workspaces", "customers", "conversations", "integrations")


def row_counts() -> dict:
    return {
        model._meta.label: model.objects.count()
        for app in SEEDED_APPS for model in apps.get_app_config(app).get_models()
    }


def seed() -> str:
    out = StringIO()
    call_command("seed_demo", stdout=out)
    return out.getvalue()


def test_seed_twice_creates_nothing_new_and_demo_can_log_in():
    first = seed()
    counts = row_counts()
    second = seed()

    assert "created" in first and "already seeded" in second
    assert row_counts() == counts
    assert counts["customers.Customer"] >= 8 and counts["conversations.Message"] >= 16
    demo = get_user_model().objects.get(username="demo")
    assert demo.check_password("demo")
    workspace = Workspace.objects.get(slug="demo")
    assert Membership.objects.get(workspace=workspace, user=demo).role == "owner"
    assert Membership.objects.filter(workspace=workspace, role="agent").exists()


def test_seed_restores_a_changed_demo_password():
    seed()
    demo = get_user_model().objects.get(username="demo")
    demo.set_password("something else")
    demo.save()
    seed()
    demo.refresh_from_db()
    assert demo.check_password("demo")


def test_seed_covers_sources_states_and_languages():
    seed()
    workspace = Workspace.objects.get(slug="demo")
    customers = Customer.objects.filter(workspace=workspace)
    conversations = Conversation.objects.filter(workspace=workspace)

    assert set(customers.values_list("source", flat=True)) == {"telegram", "instagram", "web"}
    names = {customer.display_name for customer in customers}
    assert {"علی رضایی", "سارا کریمی", "John Smith"} <= names
    assert customers.exclude(username="").exists() and customers.exclude(email="").exists()
    assert customers.exclude(phone="").exists() and customers.filter(tags__name="VIP").exists()
    assert set(conversations.values_list("status", flat=True)) == {"open", "pending", "closed"}
    assert conversations.filter(is_archived=True).count() == 1
    assert conversations.exclude(assignee=None).exists()
    assert len(set(conversations.values_list("priority", flat=True))) >= 3
    senders = set(Message.objects.filter(conversation__workspace=workspace).values_list("sender_type", flat=True))
    assert senders == {"customer", "user"}
    # web customers can log in to the web chat; the password is stored hashed
    account = CustomerAccount.objects.get(customer__workspace=workspace, email="david.brown@example.com")
    assert account.check_password("customer") and "customer" not in account.password
    # seeded history is delivered: nothing waits in the outbound queue
    assert not Message.objects.filter(conversation__workspace=workspace, delivery_status="pending").exists()


def test_seeded_conversations_have_gapless_seq_and_consistent_counters():
    seed()
    for conversation in Conversation.objects.filter(workspace__slug="demo"):
        messages = list(conversation.messages.order_by("seq"))
        assert [m.seq for m in messages] == list(range(1, len(messages) + 1)), conversation.title
        assert conversation.last_seq == len(messages)
        assert conversation.last_message_id == messages[-1].pk

        markers = ReadMarker.objects.filter(conversation=conversation)
        staff_seq = markers.filter(reader_type="user").aggregate(seq=Max("last_read_seq"))["seq"] or 0
        customer_seq = markers.filter(reader_type="customer").aggregate(seq=Max("last_read_seq"))["seq"] or 0
        unread = [m for m in messages if m.sender_type == "customer" and m.seq > staff_seq]
        customer_unread = [m for m in messages if m.sender_type == "user" and m.seq > customer_seq]
        assert conversation.unread_count == len(unread), conversation.title
        assert conversation.customer_unread_count == len(customer_unread), conversation.title
        times = [m.created_at for m in messages]
        assert times == sorted(times) and conversation.last_message_at == times[-1]


def test_some_demo_conversations_are_unread_and_some_read():
    seed()
    conversations = Conversation.objects.filter(workspace__slug="demo")
    assert conversations.filter(unread_count__gt=0).exists()
    assert conversations.filter(unread_count=0).exists()


def test_print_demo_token_prints_a_working_staff_token():
    from fiko.tokens import STAFF, principal_from_access_token

    seed()
    out = StringIO()
    call_command("print_demo_token", "--token-only", stdout=out)
    principal = principal_from_access_token(out.getvalue().strip())
    assert principal.kind == STAFF and principal.user.username == "demo"

    out = StringIO()
    call_command("print_demo_token", "--base-url", "http://127.0.0.1:8010", stdout=out)
    text = out.getvalue()
    assert "demo / demo" in text and "http://127.0.0.1:8010/api/auth/token/" in text
    assert "export TOKEN=ey" in text


def test_print_demo_token_without_seed_is_a_clear_error():
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="seed_demo"):
        call_command("print_demo_token", stdout=StringIO())
