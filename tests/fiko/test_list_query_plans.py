"""PostgreSQL reads the lists and searches through their indexes (issue 12): EXPLAIN of every
query that builds a list frame has no sequential scan of customers, conversations or messages.

How this stays a fair proof on a load small enough for CI: ``seed_scale`` writes a few thousand
realistic rows (6,000 customers, 2,000 conversations, 16,000 messages) and ANALYZEs them, and the
planner then chooses freely: no ``enable_seqscan`` or other planner settings are touched. At this
size a sequential scan is already cheap, so the planner only picks an index when the query is
shaped for one (literal workspace id, an ORDER BY that an index matches exactly, including NULL
placement, a trigram-indexable search, a LIMIT): the way a change that breaks that shape (a
membership subquery, NULLS LAST against a plain DESC index, a search the trigram index cannot
serve) shows up as a Seq Scan here, as it does at a million rows. The queries are the ones the
frames really run (captured), explained with the same parameters.
"""
import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from conversations.consumers import conversations_list_frame
from customers.consumers import customers_list_frame
from workspaces.models import Membership, Workspace

pytestmark = pytest.mark.django_db

BIG_TABLES = {"customers_customer", "conversations_conversation", "conversations_message"}


@pytest.fixture
def scale(db):
    if connection.vendor != "postgresql":
        from tests.conftest import require_service

        require_service("DATABASE_URL")  # fails under REQUIRE_SERVICES=1, skips otherwise
        pytest.skip(f"query plans are PostgreSQL's; this database is {connection.vendor}")
    call_command("create_workspace", "plans", owner="plans-owner", password="Pl4ns-owner-pass!", stdout=StringIO())
    call_command("seed_scale", workspace="plans", customers=6000, conversations=2000, messages=16000,
                 stdout=StringIO())
    workspace = Workspace.objects.get(slug="plans")
    return workspace, Membership.objects.get(workspace=workspace, role="owner").user


def _scans(node, found):
    if node.get("Node Type") == "Seq Scan":
        found.append(node.get("Relation Name"))
    for child in node.get("Plans", []):
        _scans(child, found)
    return found


def _seq_scans_of_big_tables(frame_fn, **kwargs) -> dict:
    with CaptureQueriesContext(connection) as ctx:
        frame_fn(**kwargs)
    bad = {}
    with connection.cursor() as cursor:
        for query in ctx.captured_queries:
            cursor.execute("EXPLAIN (FORMAT JSON) " + query["sql"])
            plan = cursor.fetchone()[0]
            plan = json.loads(plan) if isinstance(plan, str) else plan
            tables = set(_scans(plan[0]["Plan"], [])) & BIG_TABLES
            if tables:
                bad[query["sql"][:300]] = sorted(tables)
    return bad


CUSTOMER_FILTERS = [
    {},
    {"search": "kazemi"},
    {"search": "کاظمی"},
    {"search": "كاظمي"},  # Arabic letters: the same trigram index, through the normalized column
    {"search": "0912"},
    {"page": 40, "page_size": 50},
    {"order_by": "first_name"},
    {"order_by": "-last_activity_at"},
    {"has_unread": "true"},
]
CONVERSATION_FILTERS = [
    {},
    {"unread_only": True},
    {"search": "warranty-claim"},  # rare: the exact id set from the trigram indexes
    {"search": "kazemi"},
    {"search": "zzqxw"},  # matches nothing
    {"page": 20, "page_size": 50},
    {"order_by": "-priority"},
    {"order_by": "created_at"},
]


def test_lists_and_searches_read_through_indexes(scale):
    """One load, every filter (a load per filter would cost CI minutes)."""
    workspace, owner = scale
    ids = [workspace.pk]
    bad = {}
    for filters in CUSTOMER_FILTERS:
        found = _seq_scans_of_big_tables(customers_list_frame, user=owner, filters=filters, workspace_ids=ids)
        bad.update({f"customers {filters}: {sql}": tables for sql, tables in found.items()})
    for filters in CONVERSATION_FILTERS:
        found = _seq_scans_of_big_tables(conversations_list_frame, user=owner, filters=filters, workspace_ids=ids)
        bad.update({f"conversations {filters}: {sql}": tables for sql, tables in found.items()})
    assert bad == {}

    # ... and these were real answers: the load has what the filters look for.
    assert customers_list_frame(user=owner, filters={"search": "كاظمي"}, workspace_ids=ids)["count"] > 0
    assert customers_list_frame(user=owner, filters={"has_unread": "true"}, workspace_ids=ids)["count"] > 0
    assert conversations_list_frame(user=owner, filters={"unread_only": True}, workspace_ids=ids)["count"] > 0
    assert conversations_list_frame(user=owner, filters={"search": "kazemi"}, workspace_ids=ids)["count"] > 0
    assert conversations_list_frame(user=owner, filters={"search": "warranty-claim"},
                                    workspace_ids=ids)["count"] == 1
    assert conversations_list_frame(user=owner, filters={"search": "zzqxw"}, workspace_ids=ids)["count"] == 0
