"""/healthz, /readyz and /metrics on a real uvicorn process (fiko/ops_endpoints.py): readiness
with the database and the channel layer's Redis, 503 once that Redis is gone; metrics only
from allowed addresses or with the token. The Redis stopped here is a private redis-server on a
free port, never the shared one."""
import asyncio
import json
import re
import shutil
import subprocess
import time
import urllib.error
import urllib.request
import uuid

import pytest
from django.db import connection

from tests.conftest import REQUIRE_SERVICES, require_service
from tests.live_servers import APPLICATION, Server, free_port, http_get, socket_close_code

pytestmark = pytest.mark.django_db(transaction=True)


class PrivateRedis:
    def __init__(self, workdir):
        binary = shutil.which("redis-server")
        if not binary:
            (pytest.fail if REQUIRE_SERVICES else pytest.skip)("redis-server is not installed")
        self.port = free_port()
        self.proc = subprocess.Popen([binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                                      "--appendonly", "no", "--dir", str(workdir)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 20
        import redis
        while True:
            try:
                redis.Redis(port=self.port, socket_timeout=1).ping()
                return
            except redis.RedisError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    self.stop()
                    pytest.fail("private redis-server did not start")
                time.sleep(0.1)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)


def test_readyz_turns_503_when_redis_stops_and_healthz_stays_up(tmp_path, django_db_setup):
    require_service("DATABASE_URL")
    if connection.vendor != "postgresql":
        (pytest.fail if REQUIRE_SERVICES else pytest.skip)("needs PostgreSQL")
    private = PrivateRedis(tmp_path)
    server = None
    try:
        server = Server("uvicorn", APPLICATION, tmp_path, name="uvicorn-readyz",
                        env={"REDIS_URL": f"redis://127.0.0.1:{private.port}/0", "READYZ_TIMEOUT_SECONDS": "3"})
        status, _, body = http_get(server.http_url("/readyz"))
        assert status == 200, body
        ready = json.loads(body)
        assert ready["status"] == "ready"
        assert ready["checks"]["database"]["ok"] and ready["checks"]["channel_layer"]["ok"]

        private.stop()
        deadline = time.monotonic() + 20
        while True:
            status, _, body = http_get(server.http_url("/readyz"))
            if status == 503 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert status == 503, body
        answer = json.loads(body)
        assert answer["status"] == "unavailable"
        assert answer["checks"]["database"]["ok"] is True
        layer = answer["checks"]["channel_layer"]
        assert layer["ok"] is False and layer["error"] and layer["latency_ms"] >= 0
        status, _, body = http_get(server.http_url("/healthz"))
        assert (status, json.loads(body)) == (200, {"status": "ok"})
        status, _, body = http_get(server.http_url("/readyz"))
        print("readyz with Redis stopped:", body.decode())
    finally:
        if server is not None:
            server.stop()
        private.stop()


def scrape_until(server, pattern: str) -> str:
    """/metrics once ``pattern`` shows in it (a disconnect is counted just after the close)."""
    deadline = time.monotonic() + 20
    while True:
        status, _, body = http_get(server.http_url("/metrics"))
        text = body.decode()
        if (status == 200 and re.search(pattern, text, re.M)) or time.monotonic() > deadline:
            return text
        time.sleep(0.1)


def test_close_codes_are_counted_as_sockets_end(tmp_path, django_db_setup):
    require_service("DATABASE_URL")
    server = Server("uvicorn", APPLICATION, tmp_path, name="uvicorn-closes")
    try:
        assert asyncio.run(socket_close_code(server.url("/ws/conversations/?token=not-a-token"))) == 1008
        assert asyncio.run(socket_close_code(server.url("/ws/nowhere/"))) == 4404
        text = scrape_until(server, r'^fiko_ws_closes_total\{code="1008"\} 1\.0$')
        assert re.search(r'^fiko_ws_closes_total\{code="1008"\} 1\.0$', text, re.M), text
        assert re.search(r'^fiko_ws_closes_total\{code="4404"\} 1\.0$', text, re.M), text
        assert re.search(r'^fiko_ws_error_frames_total\{code="forbidden"\} 1\.0$', text, re.M), text
    finally:
        server.stop()


def test_metrics_from_loopback_by_default_and_otherwise_only_with_the_token(tmp_path, django_db_setup):
    require_service("DATABASE_URL")
    token = uuid.uuid4().hex
    # nginx-like peer: the server trusts 127.0.0.1's X-Forwarded-For, so the request looks as if
    # it came from 203.0.113.9 through a proxy.
    server = Server("uvicorn", APPLICATION, tmp_path, name="uvicorn-metrics",
                    env={"TRUSTED_PROXIES": "127.0.0.1", "METRICS_TOKEN": token})
    try:
        status, headers, body = http_get(server.http_url("/metrics"))
        assert status == 200 and headers["Content-Type"].startswith("text/plain")
        assert b"fiko_outbox_pending" in body and b"fiko_ws_open_sockets" in body
        remote = {"X-Forwarded-For": "203.0.113.9"}
        status, _, body = http_get(server.http_url("/metrics"), remote)
        assert status == 403 and b"METRICS_TOKEN" in body
        status, _, _ = http_get(server.http_url("/metrics"), {**remote, "Authorization": "Bearer nope"})
        assert status == 403
        status, _, body = http_get(server.http_url("/metrics"), {**remote, "Authorization": f"Bearer {token}"})
        assert status == 200 and b"fiko_http_request_seconds" in body
        request = urllib.request.Request(server.http_url("/healthz"), method="POST", data=b"")
        try:
            urllib.request.urlopen(request, timeout=20)
            raise AssertionError("POST /healthz answered 2xx")
        except urllib.error.HTTPError as error:
            assert error.code == 405 and json.loads(error.read())["detail"]
    finally:
        server.stop()
