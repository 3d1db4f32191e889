"""Customer.has_unread: true exactly when one of the customer's conversations has unread customer
messages (unread_count > 0). A customer's message sets it, whatever brought it in (a platform
webhook, the customer's socket); staff reading clears it only when no other conversation of the
customer is left unread; an unread conversation cannot be deleted (the admin refuses). The list's has_unread filter reads it, over REST and the customers socket alike, and answers
what the conversations say (the EXISTS the filter used to run). On PostgreSQL the count of
has_unread=true reads its partial index."""
import importlib
import json
import threading
import time
from io import StringIO
from types import SimpleNamespace

import pytest
from channels.db import database_sync_to_async
from django.apps import apps
from django.core.management import call_command
from django.db import connection, transaction
from django.db.models import Exists, OuterRef
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from rest_framework.test import APIClient

from conversations.models import Conversation, Message
from conversations.services import conversation_mark_read, message_receive, message_send
from customers.consumers import customers_list_frame
from customers.models import Customer
from tests.chat.chat_socket_helpers import fresh_presence, open_chat  # noqa: F401  (autouse)
from tests.factories import make_conversation, make_customer
from tests.integrations.conftest import load_fixture, post_telegram, telegram_channel, tg_conversation  # noqa: F401
from tests.sockets import connect, customer_token, receive_until, staff_token
from workspaces.models import Membership, Workspace

pytestmark = pytest.mark.django_db(transaction=True)


def flag(customer) -> bool:
    return Customer.objects.get(pk=customer.pk).has_unread


def unread_truth(workspace) -> set[int]:
    """The customers of ``workspace`` with an unread conversation, asked of the conversations."""
    unread = Exists(Conversation.objects.filter(customer=OuterRef("pk"), unread_count__gt=0))
    return set(Customer.objects.filter(unread, workspace=workspace).values_list("pk", flat=True))


def rest_ids(user, query: str) -> set[int]:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {staff_token(user)}")
    response = client.get(f"/api/customers/?page_size=100&{query}")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["count"] == len(body["results"])
    return {row["id"] for row in body["results"]}


async def socket_ids(user, filters: dict) -> set[int]:
    comm, connected, _ = await connect("/ws/customers/", await database_sync_to_async(staff_token)(user))
    assert connected
    await comm.send_json_to({"type": "filter_customers", "filters": {"page_size": 100, **filters}})
    frame = await receive_until(comm, "customers_list", timeout=5)
    await comm.disconnect()
    assert frame["count"] == len(frame["customers"])
    return {row["id"] for row in frame["customers"]}


# --- kept by the services ----------------------------------------------------------------------
def test_a_telegram_message_sets_the_flag(staff, telegram_channel, tg_conversation):
    customer = tg_conversation.customer
    assert not flag(customer) and rest_ids(staff, "has_unread=true") == set()
    assert post_telegram(telegram_channel, load_fixture("telegram", "text.json")).json() == {
        "ok": True, "result": "stored"}
    assert flag(customer)
    assert rest_ids(staff, "has_unread=true") == {customer.pk}
    assert rest_ids(staff, "source=telegram&has_unread=true") == {customer.pk}
    assert rest_ids(staff, "has_unread=false") == set()


async def test_a_message_from_the_customers_socket_sets_the_flag(staff, customer, conversation):
    assert not await database_sync_to_async(flag)(customer)
    client, connected, _ = await connect("/api/v1/chat/ws/chat/customer", customer_token(customer))
    assert connected
    assert (await client.receive_json_from(timeout=5))["type"] == "connected"
    await client.send_json_to({"type": "join_chat", "chat_id": conversation.pk})
    await receive_until(client, "joined")
    await client.send_json_to({"type": "send_message", "chat_id": conversation.pk, "content": "anyone there?"})
    sent = (await receive_until(client, "message"))["message"]
    assert sent["sender_type"] == "customer"
    await client.disconnect()
    assert await database_sync_to_async(flag)(customer)
    assert await socket_ids(staff, {"has_unread": "true"}) == {customer.pk}
    assert await socket_ids(staff, {"has_unread": "false"}) == set()


def test_staff_messages_leave_the_flag_alone(staff, customer, conversation):
    message_send(conversation=conversation, user=staff, content="hello from the shop")
    assert not flag(customer)
    message_receive(conversation=conversation, customer=customer, content="hi")
    message_send(conversation=conversation, user=staff, content="how can we help?")  # answering is not reading
    assert flag(customer)


async def test_staff_reading_clears_the_flag_only_when_no_conversation_is_left_unread(staff, workspace, customer):
    first = await database_sync_to_async(make_conversation)(workspace, customer)
    second = await database_sync_to_async(make_conversation)(workspace, customer)
    receive = database_sync_to_async(message_receive)
    await receive(conversation=first, customer=customer, content="about my order")
    early, _ = await receive(conversation=second, customer=customer, content="and a refund")
    await receive(conversation=second, customer=customer, content="please")
    read = database_sync_to_async(conversation_mark_read)
    check = database_sync_to_async(flag)
    assert await check(customer)

    await read(conversation=first, reader_type="user", reader_id=staff.pk)
    assert await check(customer), "the second conversation is still unread"
    await read(conversation=second, reader_type="user", reader_id=staff.pk, up_to_message_id=early.pk)
    assert await check(customer), "one message of the second conversation is still unread"
    await read(conversation=second, reader_type="customer", reader_id=customer.pk)
    assert await check(customer), "the customer reading is not staff reading"
    assert await socket_ids(staff, {"has_unread": "true"}) == {customer.pk}

    chat, _ = await open_chat(staff, second.pk)  # staff reads the rest through /ws/chat/
    await chat.send_json_to({"type": "mark_read"})
    await receive_until(chat, "messages_read")
    await chat.disconnect()
    assert not await check(customer)
    assert await socket_ids(staff, {"has_unread": "true"}) == set()
    assert await socket_ids(staff, {"has_unread": "false"}) == {customer.pk}

    await receive(conversation=first, customer=customer, content="one more thing")
    assert await check(customer)


def test_staff_reading_while_the_customer_writes_elsewhere_keeps_the_flag(staff, workspace, customer):
    """PostgreSQL, two transactions: the customer's message in conversation B is stored (its
    customer row written) but not yet committed while staff reads conversation A, their last
    unread one. The read waits for the customer's row before it looks at the conversations, so it
    sees B's new unread message: the flag stays true. (Read without that lock, the refresh would
    wait on the row and then decide from a snapshot taken before B's commit: false.)"""
    if connection.vendor != "postgresql":
        from tests.conftest import require_service

        require_service("DATABASE_URL")  # fails under REQUIRE_SERVICES=1, skips otherwise
        pytest.skip("row locks between concurrent transactions are PostgreSQL's")
    first, second = make_conversation(workspace, customer), make_conversation(workspace, customer)
    message_receive(conversation=first, customer=customer, content="about my order")
    stored, release, errors = threading.Event(), threading.Event(), []

    def in_thread(work):
        def run():
            try:
                work()
            except Exception as exc:  # noqa: BLE001  (reported by the test below)
                errors.append(exc)
            finally:
                connection.close()
        return threading.Thread(target=run)

    def customer_writes():
        with transaction.atomic():
            message_receive(conversation=second, customer=customer, content="and another thing")
            stored.set()
            assert release.wait(10), "never released"

    def staff_reads():
        conversation_mark_read(conversation=first, reader_type="user", reader_id=staff.pk)

    writer = in_thread(customer_writes)
    writer.start()
    assert stored.wait(10)
    reader = in_thread(staff_reads)
    reader.start()
    deadline = time.monotonic() + 10
    with connection.cursor() as cursor:  # wait until the read waits for the customer's row
        while True:
            cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                           "AND wait_event_type = 'Lock'")
            if cursor.fetchone()[0] or time.monotonic() > deadline:
                break
    release.set()
    writer.join(10), reader.join(10)
    assert errors == []
    assert Conversation.objects.get(pk=first.pk).unread_count == 0
    assert Conversation.objects.get(pk=second.pk).unread_count == 1
    assert flag(customer)


def test_an_unread_conversation_cannot_be_deleted_in_the_admin(admin_client, customer, conversation):
    """Nothing else changes unread_count or removes an unread conversation: a conversation with
    messages cannot be deleted in the admin (its messages are read-only), so no deletion leaves a
    customer flagged for conversations that are gone."""
    message_receive(conversation=conversation, customer=customer, content="hello")
    response = admin_client.post(reverse("admin:conversations_conversation_delete", args=[conversation.pk]),
                                 {"post": "yes"})
    assert response.status_code == 403
    assert Conversation.objects.filter(pk=conversation.pk, unread_count=1).exists() and flag(customer)


# --- the filter answers what the conversations say ------------------------------------------------
@pytest.fixture
def mixed(workspace, other_workspace, staff):
    """Customers in every state: no conversation, read, unread, one of two unread, partly read,
    read by the customer only; on Telegram and elsewhere; and another workspace's unread one."""
    def customer_with(name, source, *threads):
        customer = make_customer(workspace, first_name=name, source=source,
                                 external_id="" if source == "web" else None)
        for thread in threads:
            conversation = make_conversation(workspace, customer)
            messages = [message_receive(conversation=conversation, customer=customer, content=f"{name} {i}")[0]
                        for i in range(2)]
            if thread == "read":
                conversation_mark_read(conversation=conversation, reader_type="user", reader_id=staff.pk)
            elif thread == "partly read":
                conversation_mark_read(conversation=conversation, reader_type="user", reader_id=staff.pk,
                                       up_to_message_id=messages[0].pk)
            elif thread == "customer read":
                message_send(conversation=conversation, user=staff, content="answer")
                conversation_mark_read(conversation=conversation, reader_type="customer", reader_id=customer.pk)
        return customer

    customer_with("Quiet", "telegram")
    customer_with("Read", "telegram", "read")
    customer_with("Waiting", "telegram", "unread")
    customer_with("Half", "telegram", "read", "unread")
    customer_with("Partly", "instagram", "partly read")
    customer_with("Answered", "web", "customer read")
    customer_with("AllRead", "instagram", "read", "read")
    rival = make_customer(other_workspace, first_name="Rival")
    message_receive(conversation=make_conversation(other_workspace, rival), customer=rival, content="hi")
    return workspace


async def test_the_filter_equals_the_conversations_truth_over_rest_and_the_socket(staff, mixed):
    workspace = mixed
    everyone = await database_sync_to_async(
        lambda: set(Customer.objects.filter(workspace=workspace).values_list("pk", flat=True)))()
    unread = await database_sync_to_async(unread_truth)(workspace)
    telegram = await database_sync_to_async(
        lambda: set(Customer.objects.filter(workspace=workspace, source="telegram").values_list("pk", flat=True)))()
    flagged = await database_sync_to_async(
        lambda: set(Customer.objects.filter(workspace=workspace, has_unread=True).values_list("pk", flat=True)))()
    assert flagged == unread and len(unread) == 4 and len(everyone - unread) == 3

    cases = [
        ({"has_unread": "true"}, unread),
        ({"has_unread": True}, unread),
        ({"has_unread": "false"}, everyone - unread),
        ({"has_unread": False}, everyone - unread),
        ({"has_unread": "all"}, everyone),
        ({"source": "telegram", "has_unread": "true"}, unread & telegram),  # seed 001: needing response
        ({"source": "telegram", "has_unread": "false"}, telegram - unread),
    ]
    for filters, expected in cases:
        assert await socket_ids(staff, filters) == expected, filters
        query = "&".join(f"{key}={str(value).lower()}" for key, value in filters.items())
        assert await database_sync_to_async(rest_ids)(staff, query) == expected, query


def test_the_migration_fills_the_flag_from_the_conversations(mixed):
    workspace = mixed
    migration = importlib.import_module("customers.migrations.0008_customer_has_unread")
    Customer.objects.update(has_unread=False)  # as the new column starts
    migration.fill(apps, SimpleNamespace(connection=connection))
    assert set(Customer.objects.filter(workspace=workspace, has_unread=True).values_list("pk", flat=True)) == \
        unread_truth(workspace)


# --- PostgreSQL reads the flag through its partial index ------------------------------------------
def _plan_nodes(node, found):
    found.append((node.get("Node Type"), node.get("Relation Name"), node.get("Index Name")))
    for child in node.get("Plans", []):
        _plan_nodes(child, found)
    return found


def _explained(sql: str) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (FORMAT JSON) " + sql)
        plan = cursor.fetchone()[0]
    plan = json.loads(plan) if isinstance(plan, str) else plan
    return _plan_nodes(plan[0]["Plan"], [])


def test_postgresql_counts_has_unread_through_the_partial_index():
    """A load where a few hundred of 20,000 customers have an unread conversation, vacuumed and
    analyzed as autovacuum leaves a table (no planner setting touched): the capped count of
    has_unread=true, with and without a source, is a range of customer_ws_unread_source, and the
    page is read from one of the has_unread partial indexes; neither scans the customer table."""
    if connection.vendor != "postgresql":
        from tests.conftest import require_service

        require_service("DATABASE_URL")  # fails under REQUIRE_SERVICES=1, skips otherwise
        pytest.skip(f"query plans are PostgreSQL's; this database is {connection.vendor}")
    call_command("create_workspace", "unread-plans", owner="unread-owner", password="Unr3ad-owner-pass!",
                 stdout=StringIO())
    call_command("seed_scale", workspace="unread-plans", customers=20_000, conversations=8_000, messages=16_000,
                 stdout=StringIO())
    with connection.cursor() as cursor:
        cursor.execute("VACUUM (ANALYZE) customers_customer")
    workspace = Workspace.objects.get(slug="unread-plans")
    owner = Membership.objects.get(workspace=workspace, role="owner").user
    assert set(Customer.objects.filter(workspace=workspace, has_unread=True).values_list("pk", flat=True)) == \
        unread_truth(workspace)

    partial = {"customer_ws_unread_source", "customer_ws_unread_activity"}
    for filters in ({"source": "telegram", "has_unread": "true"}, {"has_unread": "true"}):
        with CaptureQueriesContext(connection) as ctx:
            frame = customers_list_frame(user=owner, filters=filters, workspace_ids=[workspace.pk])
        assert frame["pagination"]["has_more"], "the page is full, so the count runs"
        expected = Customer.objects.filter(workspace=workspace, has_unread=True, **(
            {"source": filters["source"]} if "source" in filters else {})).count()
        assert frame["count"] == expected
        count = [q["sql"] for q in ctx.captured_queries if q["sql"].startswith("SELECT COUNT(")]
        page = [q["sql"] for q in ctx.captured_queries if " ORDER BY " in q["sql"] and " LIMIT " in q["sql"]]
        assert len(count) == 1 and page, [q["sql"][:120] for q in ctx.captured_queries]
        nodes = _explained(count[0])
        assert not [n for n in nodes if n[0] == "Seq Scan" and n[1] == "customers_customer"], nodes
        assert "customer_ws_unread_source" in {n[2] for n in nodes}, nodes
        nodes = _explained(page[0])
        assert not [n for n in nodes if n[0] == "Seq Scan" and n[1] == "customers_customer"], nodes
        assert partial & {n[2] for n in nodes}, nodes


def test_a_full_save_of_an_older_instance_keeps_the_flag(staff, customer, conversation):
    """An instance read before the customer's message, saved whole afterwards (an edit in a
    form, a script), writes what it changed and never its stale has_unread."""
    older = Customer.objects.get(pk=customer.pk)
    assert older.has_unread is False
    message_receive(conversation=conversation, customer=customer, content="still there?")
    older.first_name = "Renamed"
    older.save()
    fresh = Customer.objects.get(pk=customer.pk)
    assert fresh.first_name == "Renamed"
    assert fresh.has_unread is True
    assert rest_ids(staff, "has_unread=true") == {customer.pk}
