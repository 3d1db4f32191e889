"""Production logs (fiko/log_json.py, fiko/log_context.py): one JSON object per line with
time, level, logger and the request / socket / workspace id where known; tokens redacted;
successful probes not logged; plain text in development."""
import asyncio
import json
import logging
import os
import subprocess
import sys
import time
import uuid

import pytest

from fiko import log_context
from fiko.log_json import JsonFormatter
from fiko.log_redaction import RedactSecretsFilter
from tests.live_servers import APPLICATION, Server, http_get, socket_close_code

SECRET = "tok-" + uuid.uuid4().hex


def record(msg, *args, name="fiko.test", exc_info=None):
    return logging.LogRecord(name, logging.WARNING, __file__, 1, msg, args, exc_info)


def test_a_line_is_one_json_object_with_the_context():
    tokens = [log_context.request_id.set("req-12345678"), log_context.socket_id.set("socket.abc"),
              log_context.workspace_id.set(7)]
    try:
        line = JsonFormatter().format(record("hello %s", "world"))
    finally:
        for var, token in zip((log_context.request_id, log_context.socket_id, log_context.workspace_id), tokens):
            var.reset(token)
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["message"] == "hello world" and entry["level"] == "WARNING" and entry["logger"] == "fiko.test"
    assert entry["time"].endswith("+00:00") and "T" in entry["time"]
    assert (entry["request_id"], entry["socket_id"], entry["workspace_id"]) == ("req-12345678", "socket.abc", 7)
    assert "request_id" not in json.loads(JsonFormatter().format(record("outside any request")))


def test_tokens_are_redacted_in_the_message_and_the_traceback():
    try:
        raise ValueError(f"GET /ws/chat/1/?token={SECRET}")
    except ValueError:
        failing = record("socket %s failed", f"/ws/?token={SECRET}", exc_info=sys.exc_info())
    RedactSecretsFilter().filter(failing)
    line = JsonFormatter().format(failing)
    assert SECRET not in line
    entry = json.loads(line)
    assert "token=[redacted]" in entry["message"] and "token=[redacted]" in entry["exception"]


def test_development_logs_stay_plain_text():
    code = "from django.conf import settings; print(settings.LOG_FORMAT)"
    env = {k: v for k, v in os.environ.items() if k != "LOG_FORMAT"}
    for debug, expected in (("true", "text"), ("false", "json")):
        out = subprocess.run([sys.executable, "-c", f"import django; django.setup(); {code}"], capture_output=True,
                             text=True, timeout=60, env={**env, "DEBUG": debug, "SECRET_KEY": "x" * 50,
                                                         "DJANGO_SETTINGS_MODULE": "fiko.settings"})
        assert out.stdout.strip() == expected, out.stderr


@pytest.mark.django_db(transaction=True)
def test_a_production_server_writes_json_lines(tmp_path, django_db_setup):
    server = Server("uvicorn", APPLICATION, tmp_path, name="uvicorn-json", env={"LOG_FORMAT": "json"})
    try:
        assert http_get(server.http_url("/healthz"))[0] == 200
        status, headers, _ = http_get(server.http_url(f"/no-such-page/?token={SECRET}"))
        assert status == 404
        request_id = headers["X-Request-ID"]
        assert asyncio.run(socket_close_code(server.url(f"/ws/conversations/?token={SECRET}"))) == 1008
        deadline = time.monotonic() + 20
        while True:
            entries = [json.loads(line) for line in server.log().splitlines() if line.startswith("{")]
            wanted = [e for e in entries if e.get("request_id") == request_id and e["logger"] == "django.request"]
            if (wanted and any("/ws/conversations/" in e["message"] for e in entries)) or time.monotonic() > deadline:
                break
            time.sleep(0.1)
    finally:
        server.stop()
    text = server.log()
    lines = [line for line in text.splitlines() if line.strip()]
    assert lines and all(line.startswith("{") for line in lines), text[:3000]
    for entry in map(json.loads, lines):
        assert {"time", "level", "logger", "message"} <= set(entry), entry
    assert wanted, f"no django.request line with request_id {request_id}:\n{text[:3000]}"
    access = [e for e in entries if e["logger"] == "uvicorn.access"]
    assert any(e["status"] == 404 and e["path"].startswith("/no-such-page/") for e in access), access
    assert SECRET not in text
    assert "/healthz" not in text, "a successful probe is not logged"
