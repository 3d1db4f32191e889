"""Search and list speed at scale (issue 12): every list and search against its target.

Loads one workspace ``scale`` (1,000,000 customers, 300,000 conversations, 3,000,000 messages by
default) with ``create_workspace`` + ``seed_scale`` into its own database, once: a later run
reuses it when the counts match. Then times, through the project's own code, each operation of
the issue's table: ``customers_list_frame`` / ``conversations_list_frame`` as the sockets call
them (with the socket's workspace ids), the REST lists, and the two socket round trips
(``filter_customers``, ``get_conversations``) against a real server (uvicorn). Prints p50/p95,
the number of queries, "SQL ms" (PostgreSQL's own Execution Time of the operation's queries,
summed, by EXPLAIN ANALYZE: the database's cost, which the machine's load does not blur) and the
target of each, and EXPLAIN (ANALYZE, BUFFERS) of the slowest query of every operation over its
target (or whose SQL alone takes over half of it). Deep pages are timed twice: by OFFSET
(``page 200``, ``search 'ali' page 50``) and by cursor (``... by cursor``: the page reached by
following ``next_cursor`` from the first page, which is walked once, outside the timing).

    make bench-search                                   # full size (the first load takes a while)
    BENCH_SEARCH_SCALE=0.01 make bench-search           # 10k / 3k / 30k, a quick look

| variable | default | meaning |
|---|---|---|
| BENCH_SEARCH_DATABASE_URL | postgres://postgres@127.0.0.1:5432/fiko_scale | created if missing, migrated |
| BENCH_SEARCH_SCALE | 1 | multiplies 1M customers / 300k conversations / 3M messages |
| BENCH_SEARCH_REPEAT | 15 | timed runs per operation (after 2 warm-up runs) |
| BENCH_SEARCH_ONLY | unset | run only operations whose name contains this text |
"""
import asyncio
import json
import os
import secrets
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DATABASE_URL = os.environ.get("BENCH_SEARCH_DATABASE_URL") or "postgres://postgres@127.0.0.1:5432/fiko_scale"
SCALE = float(os.environ.get("BENCH_SEARCH_SCALE") or 1)
REPEAT = int(os.environ.get("BENCH_SEARCH_REPEAT") or 15)
ONLY = os.environ.get("BENCH_SEARCH_ONLY") or ""
SIZES = {"customers": int(1_000_000 * SCALE), "conversations": int(300_000 * SCALE), "messages": int(3_000_000 * SCALE)}
SLUG = "scale"
SECRET_KEY = secrets.token_urlsafe(48)
SERVER_ENV = {"DJANGO_SETTINGS_MODULE": "fiko.settings", "DEBUG": "false", "SECRET_KEY": SECRET_KEY,
              "ALLOWED_HOSTS": "127.0.0.1,localhost,testserver", "DATABASE_URL": DATABASE_URL,
              "ACCESS_TOKEN_MINUTES": "600", "LOG_LEVEL": "WARNING"}
CUSTOMER_TARGET, CONVERSATION_TARGET, MESSAGE_SEARCH_TARGET = 50, 30, 150

# (name, list, filters, target ms): customers = seed 001's cheat sheet and examples, conversations =
# seed 000's filters, searches in English and Persian (with Arabic letters and Persian digits).
CUSTOMER_OPS = [
    ("default page", {}),
    ("search name 'john'", {"search": "john"}),
    ("search Persian name 'کاظمی'", {"search": "کاظمی"}),
    ("search Arabic-letter 'علي'", {"search": "علي"}),
    ("search two words 'john smith'", {"search": "john smith"}),
    ("search username 'hasti_sadeghi'", {"search": "hasti_sadeghi"}),
    ("search email 'gmail.com'", {"search": "gmail.com"}),
    ("search phone digits '9120001234'", {"search": "9120001234"}),
    ("search Persian digits '۰۹۱۲۰۰۰۰۱۲'", {"search": "۰۹۱۲۰۰۰۰۱۲"}),
    ("search no match 'zzqxw'", {"search": "zzqxw"}),
    ("has_email=true", {"has_email": "true"}),
    ("has_email=false", {"has_email": "false"}),
    ("has_phone=true", {"has_phone": "true"}),
    ("has_phone=false", {"has_phone": "false"}),
    ("has_unread=true", {"has_unread": "true"}),
    ("has_unread=false", {"has_unread": "false"}),
    ("source=telegram", {"source": "telegram"}),
    ("source=unknown", {"source": "unknown"}),
    ("tags=[VIP, Premium]", {"tags": ["VIP", "Premium"]}),
    ("tag_ids=[VIP]", "tag_ids"),
    ("conversation_status=active", {"conversation_status": "active"}),
    ("conversation_status=closed", {"conversation_status": "closed"}),
    ("date_from/date_to", "dates"),
    ("last_activity_from/to", "activity"),
    ("order_by=-created_at", {"order_by": "-created_at"}),
    ("order_by=created_at", {"order_by": "created_at"}),
    ("order_by=-updated_at", {"order_by": "-updated_at"}),
    ("order_by=first_name", {"order_by": "first_name"}),
    ("order_by=last_name", {"order_by": "last_name"}),
    ("order_by=username", {"order_by": "username"}),
    ("order_by=-last_activity_at", {"order_by": "-last_activity_at"}),
    ("order_by=last_activity_at", {"order_by": "last_activity_at"}),
    ("seed 001: VIP with email", {"tags": ["VIP"], "has_email": "true"}),
    ("seed 001: telegram needing response", {"source": "telegram", "has_unread": "true"}),
    ("seed 001: no contact info", {"has_email": "false", "has_phone": "false"}),
    ("seed 001: recent active", "recent"),
    ("seed 000: john doe, telegram, tags", {"search": "john doe", "source": "telegram", "tags": ["vip", "support"],
                                            "date_from": "2024-01-01", "order_by": "-updated_at", "limit": 50,
                                            "offset": 0}),
    ("page 200", {"page": 200, "page_size": 50}),
    ("page 2000", {"page": 2000, "page_size": 50}),
    ("search 'ali' page 50", {"search": "ali", "page": 50, "page_size": 50}),
]
# (name, list, filters, page, target, the same page by OFFSET): the page reached by following
# next_cursor from the first page (outside the timing), printed after its OFFSET row.
CURSOR_OPS = [
    ("customers: search 'ali' 50th page by cursor", "customers", {"search": "ali", "page_size": 50}, 50,
     CUSTOMER_TARGET, "customers: search 'ali' page 50"),
    ("conversations: page 200 by cursor", "conversations", {"page_size": 50}, 200, CONVERSATION_TARGET,
     "conversations: page 200"),
]
CONVERSATION_OPS = [
    ("default page", {}, CONVERSATION_TARGET),
    ("unread_only", {"unread_only": True}, CONVERSATION_TARGET),
    ("status=open + priority=high", {"status": "open", "priority": "high"}, CONVERSATION_TARGET),
    ("status=closed", {"status": "closed"}, CONVERSATION_TARGET),
    ("source=telegram", {"source": "telegram"}, CONVERSATION_TARGET),
    ("tags=[VIP]", {"tags": ["VIP"]}, CONVERSATION_TARGET),
    ("assignee=me", {"assignee": "me"}, CONVERSATION_TARGET),
    ("is_archived=true", {"is_archived": True}, CONVERSATION_TARGET),
    ("seed 000: telegram high unread urgent", {"status": "open", "source": "telegram", "priority": "high",
                                               "unread_only": True, "tags": ["urgent"]}, CONVERSATION_TARGET),
    ("order_by=-priority", {"order_by": "-priority"}, CONVERSATION_TARGET),
    ("order_by=-unread_count", {"order_by": "-unread_count"}, CONVERSATION_TARGET),
    ("order_by=created_at", {"order_by": "created_at"}, CONVERSATION_TARGET),
    ("order_by=-updated_at", {"order_by": "-updated_at"}, CONVERSATION_TARGET),
    ("order_by=status", {"order_by": "status"}, CONVERSATION_TARGET),
    ("order_by=last_message_at", {"order_by": "last_message_at"}, CONVERSATION_TARGET),
    ("page 200", {"page": 200, "page_size": 50}, CONVERSATION_TARGET),
    ("search 'refund' (messages)", {"search": "refund"}, MESSAGE_SEARCH_TARGET),
    ("search 'قیمت' (messages)", {"search": "قیمت"}, MESSAGE_SEARCH_TARGET),
    ("search 'قيمت' (Arabic yeh)", {"search": "قيمت"}, MESSAGE_SEARCH_TARGET),
    ("search 'refund' + status=open", {"search": "refund", "status": "open"}, MESSAGE_SEARCH_TARGET),
    ("search customer 'kazemi'", {"search": "kazemi"}, MESSAGE_SEARCH_TARGET),
    ("search rare 'warranty-claim'", {"search": "warranty-claim"}, MESSAGE_SEARCH_TARGET),
    ("search no match 'zzqxw'", {"search": "zzqxw"}, MESSAGE_SEARCH_TARGET),
    ("seed 000: search 'support' + filters", {"search": "support", "status": "open", "source": "telegram",
                                              "priority": "high", "unread_only": True, "tags": ["urgent"]},
     MESSAGE_SEARCH_TARGET),
]


def ensure_database() -> None:
    import psycopg

    parts = urlsplit(DATABASE_URL)
    name = parts.path.lstrip("/")
    maintenance = urlunsplit(parts._replace(scheme="postgresql", path="/postgres"))
    with psycopg.connect(maintenance, autocommit=True, connect_timeout=10) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is None:
            conn.execute(f'CREATE DATABASE "{name}"')


def ensure_data():
    """The scale workspace, loaded once: reused when its counts match."""
    from django.core.management import call_command
    from django.db import connection

    from conversations.models import Conversation, Message
    from customers.models import Customer
    from workspaces.models import Membership, Workspace

    call_command("migrate", "--noinput", verbosity=0)
    workspace = Workspace.objects.filter(slug=SLUG).first()
    if workspace is not None:
        have = {"customers": Customer.objects.filter(workspace=workspace).count(),
                "conversations": Conversation.objects.filter(workspace=workspace).count(),
                "messages": Message.objects.filter(conversation__workspace=workspace).count()}
        if have == SIZES:
            print(f"bench-search: reusing workspace '{SLUG}' ({have})", flush=True)
            return workspace, Membership.objects.get(workspace=workspace, role="owner").user
        print(f"bench-search: workspace '{SLUG}' has {have}, want {SIZES}: reloading", flush=True)
        workspace.delete()
    call_command("create_workspace", SLUG, owner="scale-owner", password=secrets.token_urlsafe(16),
                 stdout=open(os.devnull, "w"))
    call_command("seed_scale", workspace=SLUG, **SIZES)
    with connection.cursor() as cursor:  # visibility map for index-only scans, fresh statistics
        for table in ("customers_customer", "customers_customer_tags", "conversations_conversation",
                      "conversations_message", "conversations_readmarker"):
            cursor.execute(f"VACUUM ANALYZE {table}")
    workspace = Workspace.objects.get(slug=SLUG)
    return workspace, Membership.objects.get(workspace=workspace, role="owner").user


def percentile(values, q):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def measure(fn):
    """(p50 ms, p95 ms, queries, slowest run's queries) over REPEAT runs after 2 warm-ups."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for _ in range(2):
        fn()
    times, slowest, slowest_queries, count = [], -1.0, [], 0
    for _ in range(REPEAT):
        with CaptureQueriesContext(connection) as ctx:
            started = time.perf_counter()
            fn()
            elapsed = (time.perf_counter() - started) * 1000
        times.append(elapsed)
        count = len(ctx.captured_queries)
        if elapsed > slowest:
            slowest, slowest_queries = elapsed, list(ctx.captured_queries)
    return percentile(times, 0.5), percentile(times, 0.95), count, slowest_queries


def sql_ms(queries) -> tuple[float, dict]:
    """PostgreSQL's own Execution Time (EXPLAIN ANALYZE) of every query of one run, summed,
    and the slowest query ({"sql", "ms"}): what the database costs, whatever the machine's load."""
    from django.db import connection

    total, slowest = 0.0, {"sql": "", "ms": -1.0}
    with connection.cursor() as cursor:
        for query in queries:
            if not query["sql"].lstrip().upper().startswith("SELECT"):
                continue
            cursor.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + query["sql"])
            plan = cursor.fetchone()[0]
            ms = float((plan if isinstance(plan, list) else json.loads(plan))[0]["Execution Time"])
            total += ms
            if ms > slowest["ms"]:
                slowest = {"sql": query["sql"], "ms": ms}
    return total, slowest


def explain(query: str) -> str:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + query)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    return f"    {query[:600]}\n" + "\n".join("    " + line for line in plan.splitlines())


def cursor_page(list_frame, filters: dict, page: int):
    """A call that fetches page ``page`` of a list by cursor: the first call follows
    ``next_cursor`` from the first page (``page - 1`` fetches; measure's warm-up, untimed), each
    call then fetches that page."""
    reached = {}

    def fetch():
        if "filters" not in reached:
            current = dict(filters)
            for _ in range(page - 1):
                cursor = list_frame(filters=current)["pagination"]["next_cursor"]
                if cursor is None:
                    raise RuntimeError(f"bench-search: the list {filters} has fewer than {page} pages")
                current = {**filters, "cursor": cursor}
            reached["filters"] = current
        return list_frame(filters=reached["filters"])

    return fetch


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def socket_round_trips(owner) -> list[tuple]:
    """filter_customers and get_conversations over real sockets (uvicorn, one process)."""
    import orjson
    from websockets.asyncio.client import connect

    from fiko.tokens import staff_tokens_for

    token = staff_tokens_for(owner)["access"]
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    env.update(SERVER_ENV)
    env.pop("REDIS_URL", None)  # list round trips need no channel layer across processes
    server = subprocess.Popen([str(ROOT / ".venv" / "bin" / "uvicorn"), "--host", "127.0.0.1", "--port", str(port),
                               "--log-level", "warning", "--no-access-log", "fiko.asgi:application"],
                              cwd=ROOT, env=env)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError("bench-search: the server did not start")
                time.sleep(0.2)

        async def trips(path, frame, answer):
            times = []
            async with connect(f"ws://127.0.0.1:{port}{path}?token={token}", max_size=None) as ws:
                for i in range(REPEAT + 2):
                    started = time.perf_counter()
                    await ws.send(orjson.dumps(frame).decode())
                    while True:
                        reply = orjson.loads(await ws.recv())
                        if reply.get("type") == answer:
                            break
                        if reply.get("type") == "error":
                            raise RuntimeError(f"bench-search: {reply}")
                    if i >= 2:
                        times.append((time.perf_counter() - started) * 1000)
            return times

        rows = []
        for name, path, frame, answer, target in (
                ("socket filter_customers {}", "/ws/customers/", {"type": "filter_customers", "filters": {}},
                 "customers_list", CUSTOMER_TARGET),
                ("socket get_conversations", "/ws/conversations/", {"type": "get_conversations"},
                 "conversations_list", CONVERSATION_TARGET)):
            times = asyncio.run(trips(path, frame, answer))
            rows.append((name, percentile(times, 0.5), percentile(times, 0.95), None, target, None))
        return rows
    finally:
        server.terminate()
        server.wait(timeout=30)


def main() -> None:
    ensure_database()
    os.environ.update(SERVER_ENV)
    import django

    django.setup()
    from rest_framework.test import APIClient

    from conversations.consumers import conversations_list_frame
    from customers.consumers import customers_list_frame
    from customers.models import Tag

    started = time.monotonic()
    workspace, owner = ensure_data()
    print(f"bench-search: data ready in {time.monotonic() - started:.0f}s", flush=True)
    ids = [workspace.pk]
    vip = Tag.objects.filter(workspace=workspace, name="VIP").values_list("id", flat=True).first()
    named = {"tag_ids": {"tag_ids": [vip]}, "dates": {"date_from": "2026-03-01", "date_to": "2026-03-31"},
             "activity": {"last_activity_from": "2026-11-01", "last_activity_to": "2026-11-15"},
             "recent": {"last_activity_from": "2026-11-01", "conversation_status": "active",
                        "order_by": "-updated_at"}}
    api = APIClient()
    api.force_authenticate(owner)

    ops = []
    for name, filters in CUSTOMER_OPS:
        filters = named.get(filters, filters) if isinstance(filters, str) else filters
        ops.append((f"customers: {name}", lambda f=filters: customers_list_frame(user=owner, filters=f,
                                                                                  workspace_ids=ids), CUSTOMER_TARGET))
    for name, filters, target in CONVERSATION_OPS:
        ops.append((f"conversations: {name}",
                    lambda f=filters: conversations_list_frame(user=owner, filters=f, workspace_ids=ids), target))
    frames = {"customers": customers_list_frame, "conversations": conversations_list_frame}
    for name, which, filters, page, target, by_offset in CURSOR_OPS:
        fetch = cursor_page(lambda filters, fn=frames[which]: fn(user=owner, filters=filters, workspace_ids=ids),
                            filters, page)
        ops.insert(next(i for i, op in enumerate(ops) if op[0] == by_offset) + 1, (name, fetch, target))
    ops += [
        ("REST /api/customers/?search=john", lambda: api.get("/api/customers/?search=john"), CUSTOMER_TARGET),
        ("REST /api/customers/?page=200", lambda: api.get("/api/customers/?page=200"), CUSTOMER_TARGET),
        ("REST /api/conversations/", lambda: api.get("/api/conversations/"), CONVERSATION_TARGET),
        ("REST /api/conversations/?search=refund", lambda: api.get("/api/conversations/?search=refund"),
         MESSAGE_SEARCH_TARGET),
    ]
    rows, plans = [], []
    for name, fn, target in ops:
        if ONLY and ONLY not in name:
            continue
        p50, p95, count, queries = measure(fn)
        total, slowest = sql_ms(queries)
        rows.append((name, p50, p95, count, target, total))
        print(f"  {name:<58} p50 {p50:8.1f} ms  p95 {p95:8.1f} ms  {count} queries  SQL {total:8.1f} ms  "
              f"target {target} ms{'' if p95 <= target else '  OVER'}", flush=True)
        if p95 > target or total > target / 2:
            plans.append((name, explain(slowest["sql"])))
    if not ONLY or "socket" in ONLY:
        for row in socket_round_trips(owner):
            rows.append(row)
            print(f"  {row[0]:<58} p50 {row[1]:8.1f} ms  p95 {row[2]:8.1f} ms  target {row[4]} ms"
                  f"{'' if row[2] <= row[4] else '  OVER'}", flush=True)

    load = " / ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"\n## bench/search.py: {SIZES['customers']:,} customers, {SIZES['conversations']:,} conversations, "
          f"{SIZES['messages']:,} messages; {REPEAT} runs each; {os.cpu_count()} cores, load average "
          f"{load} at the end (a shared machine: wall times include waiting for a core)\n")
    print("| operation | p50 ms | p95 ms | queries | SQL ms | target ms | |")
    print("|---|---:|---:|---:|---:|---:|---|")
    for name, p50, p95, count, target, total in rows:
        print(f"| {name} | {p50:.1f} | {p95:.1f} | {'' if count is None else count} | "
              f"{'' if total is None else f'{total:.1f}'} | {target} | {'ok' if p95 <= target else '**over**'} |")
    over = sum(1 for row in rows if row[2] > row[4])
    print(f"\n{len(rows) - over} of {len(rows)} under target.")
    for name, plan in plans:
        print(f"\n### EXPLAIN: {name}\n{plan}")


if __name__ == "__main__":
    main()
