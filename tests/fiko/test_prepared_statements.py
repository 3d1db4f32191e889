"""On PostgreSQL a connection prepares the statements it runs often (server-side binding,
``DB_PREPARE_THRESHOLD``): the store of a message, run again and again on one connection, is
parsed and planned once. ``DB_PREPARE_THRESHOLD=0`` turns preparing off (PgBouncer in
transaction mode before 1.21)."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection

from conversations.services import message_send

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.django_db


def _prepared_statements() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        return [row[0] for row in cursor.fetchall()]


def test_the_store_of_a_message_is_prepared_once_it_repeats(conversation, staff):
    if connection.vendor != "postgresql":
        pytest.skip("prepared statements are PostgreSQL's")
    message_send(conversation=conversation, user=staff, content="first")
    assert not any("INSERT INTO \"conversations_message\"" in s for s in _prepared_statements())
    for n in range(6):
        message_send(conversation=conversation, user=staff, content=f"again {n}")
    inserts = [s for s in _prepared_statements() if "INSERT INTO \"conversations_message\"" in s]
    assert len(inserts) == 1  # one statement, executed with new values each time
    assert conversation.messages.count() == 7


def _database_options(threshold: str | None) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "DB_PREPARE_THRESHOLD"}
    env.update({"DJANGO_SETTINGS_MODULE": "fiko.settings", "DATABASE_URL": "postgres://u@127.0.0.1:5432/x",
                "SECRET_KEY": "x" * 50})
    if threshold is not None:
        env["DB_PREPARE_THRESHOLD"] = threshold
    code = ("import json; from django.conf import settings; o = settings.DATABASES['default']['OPTIONS'];"
            "print(json.dumps({k: o.get(k) for k in ('server_side_binding', 'prepare_threshold')}))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_the_threshold_is_configurable_and_zero_turns_preparing_off():
    assert _database_options(None) == {"server_side_binding": True, "prepare_threshold": 5}
    assert _database_options("2") == {"server_side_binding": True, "prepare_threshold": 2}
    assert _database_options("0") == {"server_side_binding": True, "prepare_threshold": None}
