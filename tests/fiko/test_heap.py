"""The server process settles its heap once the application is built (fiko/heap.py): start-up's
objects frozen out of full collections, full collections rarer, young ones unchanged. Checked in
a fresh interpreter, as a server starts (this test process has imported much more)."""
import json
import os
import subprocess
import sys
from pathlib import Path

from fiko import heap

ROOT = Path(__file__).resolve().parents[2]
PROBE = """
import gc, json, sys
before = set(sys.modules)
import fiko.asgi
print(json.dumps({"frozen": gc.get_freeze_count(), "threshold": gc.get_threshold(),
                  "imported": sorted(set(sys.modules) - before)}))
"""


def _server_start() -> dict:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "fiko.settings"}
    done = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_started_server_has_start_up_frozen_and_full_collections_rarer():
    started = _server_start()
    assert started["frozen"] > 10_000  # modules, classes, URL patterns: no longer walked by a full collection
    assert started["threshold"] == [700, 10, heap.FULL_AFTER]  # young collections as Python's defaults
    assert heap.FULL_AFTER == 100
    # What the first requests would import is imported (and frozen) at start-up: the views the URLs name.
    assert {"integrations.webhooks", "conversations.api", "customers.api", "chat.api"} <= set(started["imported"])
