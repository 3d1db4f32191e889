"""The production proxy for real: nginx, with the repository's own configuration
(deploy/nginx/fiko.conf and fiko-locations.conf), in front of two uvicorn processes on this
test's PostgreSQL and Redis — what docker-compose.prod.yml runs, without a container daemon.

The generated nginx.conf is the repository's files with only what a test must change: the
upstream servers (the two processes' ports instead of ``web:8000``), the listen address (a free
port on 127.0.0.1), file paths in a temporary directory, and one response header naming the
upstream that answered (``X-Upstream``), so a test knows which process holds a socket.

The processes trust nginx (``TRUSTED_PROXIES=127.0.0.1``: nginx connects from there). Clients
connect from other loopback addresses (127.0.0.2, ...), so the app sees each client's own
address only through nginx's ``X-Forwarded-For``.

Every wait polls with a deadline; ids and texts are uuid4-unique.
"""
import asyncio
import json
import os
import re
import shutil
import subprocess
import time
import uuid
from pathlib import Path

import httpx
import pytest
import websockets
from django.db import connection

from tests.conftest import REQUIRE_SERVICES, require_service
from tests.factories import make_customer, make_user
from tests.live_servers import APPLICATION, Server, free_port
from tests.sockets import customer_token, staff_token

pytestmark = pytest.mark.django_db(transaction=True)

ROOT = Path(__file__).resolve().parents[2]
WAIT = 20.0
METRICS_TOKEN = "metrics-" + uuid.uuid4().hex
CLIENT, OTHER_CLIENT, METRICS_CLIENT = "127.0.0.2", "127.0.0.4", "127.0.0.3"


def nginx_binary() -> str:
    found = shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if os.path.exists(p)), None)
    if not found:
        message = "nginx is not installed (.ci/run installs Debian's nginx package)"
        pytest.fail(message) if REQUIRE_SERVICES else pytest.skip(message)
    return found


def nginx_conf(workdir: Path, listen_port: int, upstream_ports: list[int]) -> Path:
    """nginx.conf for this test, derived from the repository's deploy/nginx files."""
    site = (ROOT / "deploy/nginx/fiko.conf").read_text()
    locations = workdir / "fiko-locations.conf"
    shutil.copy(ROOT / "deploy/nginx/fiko-locations.conf", locations)
    upstream_line = re.search(r"^\s*server web:8000( [^;]*)?;$", site, re.M)
    assert upstream_line, "deploy/nginx/fiko.conf: the upstream `server web:8000 ...;` line moved"
    options = upstream_line.group(1) or ""
    site = site.replace(upstream_line.group(0),
                        "\n".join(f"    server 127.0.0.1:{port}{options};" for port in upstream_ports))
    assert "    listen 80;\n" in site and "    listen [::]:80;\n" in site
    site = site.replace("    listen 80;\n", f"    listen 127.0.0.1:{listen_port};\n").replace("    listen [::]:80;\n", "")
    assert "include /etc/nginx/fiko-locations.conf;" in site
    site = site.replace("include /etc/nginx/fiko-locations.conf;",
                        f"include {locations};\n    add_header X-Upstream $upstream_addr always;")
    for sub in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (workdir / sub).mkdir(exist_ok=True)
    conf = workdir / "nginx.conf"
    conf.write_text(f"""
{"user root root;" if os.geteuid() == 0 else ""}
daemon off;
worker_processes 1;
pid {workdir}/nginx.pid;
error_log {workdir}/error.log info;
events {{ worker_connections 512; }}
http {{
    access_log {workdir}/access.log;
    client_body_temp_path {workdir}/client_body;
    proxy_temp_path {workdir}/proxy;
    fastcgi_temp_path {workdir}/fastcgi;
    uwsgi_temp_path {workdir}/uwsgi;
    scgi_temp_path {workdir}/scgi;
{site}
}}
""")
    return conf


class Nginx:
    def __init__(self, workdir: Path, upstream_ports: list[int]):
        binary = nginx_binary()
        self.workdir, self.port = workdir, free_port()
        conf = nginx_conf(workdir, self.port, upstream_ports)
        base = [binary, "-p", str(workdir), "-e", str(workdir / "startup.log"), "-c", str(conf)]
        check = subprocess.run([*base, "-t"], capture_output=True, text=True, timeout=30)
        assert check.returncode == 0, f"nginx -t refused the generated config:\n{check.stderr}\n{conf.read_text()}"
        self.name, self._out = "nginx", open(workdir / "nginx.out", "wb")
        self.proc = subprocess.Popen(base, stdout=self._out, stderr=subprocess.STDOUT)
        Server._wait_for_port(self)  # the app servers' wait: listening, or fail with the log

    def log(self) -> str:
        parts = [(self.workdir / name) for name in ("nginx.out", "startup.log", "error.log")]
        return "\n".join(p.read_text(errors="replace")[-3000:] for p in parts if p.exists())

    def http(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def ws(self, path: str) -> str:
        return f"ws://127.0.0.1:{self.port}{path}"

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self._out.close()


@pytest.fixture(scope="module")
def stack(django_db_setup, tmp_path_factory):
    require_service("DATABASE_URL")
    require_service("REDIS_URL")
    if connection.vendor != "postgresql":
        (pytest.fail if REQUIRE_SERVICES else pytest.skip)(f"this test needs PostgreSQL, not {connection.vendor}")
    nginx_binary()
    workdir = tmp_path_factory.mktemp("nginx-stack")
    env = {"TRUSTED_PROXIES": "127.0.0.1", "LOG_FORMAT": "json", "METRICS_ALLOWED_IPS": METRICS_CLIENT,
           "METRICS_TOKEN": METRICS_TOKEN}
    servers, proxy = [], None
    try:
        for name in ("A", "B"):
            servers.append(Server("uvicorn", APPLICATION, workdir, env=env, name=f"uvicorn-{name}"))
        proxy = Nginx(workdir, [s.port for s in servers])
        yield proxy, servers
    finally:
        if proxy is not None:
            proxy.stop()
        for server in servers:
            server.stop()


def logs(stack) -> str:
    proxy, servers = stack
    return "\n".join([f"--- nginx ---\n{proxy.log()}"] + [f"--- {s.name} ---\n{s.log()[-3000:]}" for s in servers])


def client(source: str = CLIENT, **kwargs) -> httpx.Client:
    return httpx.Client(transport=httpx.HTTPTransport(local_address=source), timeout=WAIT, **kwargs)


def upstream_port(response_headers) -> int:
    return int(response_headers["X-Upstream"].rsplit(":", 1)[1])


async def open_socket(proxy: Nginx, path: str, source: str = CLIENT):
    return await websockets.connect(proxy.ws(path), open_timeout=WAIT, close_timeout=WAIT,
                                    local_addr=(source, 0))


async def first_frame(ws) -> dict:
    return json.loads(await asyncio.wait_for(ws.recv(), WAIT))


async def closed_with(ws) -> int:
    """Read until the server closes; its close code."""
    try:
        while True:
            await asyncio.wait_for(ws.recv(), WAIT)
    except websockets.ConnectionClosed:
        return ws.close_code


# --- REST ---------------------------------------------------------------------------------
def test_rest_login_through_nginx(stack, staff):
    proxy, _ = stack
    with client() as http:
        response = http.post(proxy.http("/api/v1/auth/login"), json={"username": "alice", "password": "pw-12345"})
    assert response.status_code == 200, response.text
    assert response.json()["access_token"]
    assert re.fullmatch(r"[0-9a-f]{32}", response.headers["X-Request-ID"]), "nginx's $request_id reaches the app"


def test_the_throttle_sees_the_forwarded_client_address_not_nginx(stack, staff):
    proxy, _ = stack
    wrong = {"password": "wrong-password"}
    with client(CLIENT) as guesser, client(OTHER_CLIENT) as colleague:
        for _ in range(5):  # five accounts, one address: the address's counter fills
            username = f"nobody-{uuid.uuid4().hex[:8]}"
            assert guesser.post(proxy.http("/api/v1/auth/login"), json={"username": username, **wrong}).status_code == 401
        blocked = guesser.post(proxy.http("/api/v1/auth/login"), json={"username": "alice", "password": "pw-12345"})
        assert blocked.status_code == 429, blocked.text
        # Everyone reaches the app from nginx's 127.0.0.1; a throttle keyed on that would block
        # this one too. And a client cannot borrow another address by writing the header itself.
        spoofing = {"X-Forwarded-For": CLIENT}
        allowed = colleague.post(proxy.http("/api/v1/auth/login"), json={"username": "alice", "password": "pw-12345"},
                                 headers=spoofing)
        assert allowed.status_code == 200, f"{allowed.status_code} {allowed.text}\n{logs(stack)}"
    # The app's access log names the client, not nginx.
    _, servers = stack
    deadline = time.monotonic() + WAIT
    while not any(f'"client":"{OTHER_CLIENT}:0"' in s.log() for s in servers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert any(f'"client":"{OTHER_CLIENT}:0"' in s.log() for s in servers), logs(stack)


def test_an_oversize_upload_is_refused_by_nginx_before_the_app(stack, staff, settings):
    from chat.uploads import MULTIPART_OVERHEAD

    proxy, servers = stack
    limit = settings.UPLOAD_MAX_BYTES + MULTIPART_OVERHEAD
    marker = uuid.uuid4().hex
    with client() as http:
        response = http.post(proxy.http(f"/api/v1/chat/upload?probe={marker}"), content=b"x" * (limit + 1),
                             headers={"Content-Type": "multipart/form-data; boundary=b",
                                      "Authorization": f"Bearer {staff_token(staff)}"})
        assert response.status_code == 413
        assert "nginx" in response.text and "application/json" not in response.headers.get("content-type", "")
        # The same path with a small body reaches the app, which answers in JSON.
        small = http.post(proxy.http(f"/api/v1/chat/upload?probe={marker}"), content=b"x",
                          headers={"Content-Type": "multipart/form-data; boundary=b"})
    assert small.status_code in (400, 401) and small.headers["content-type"].startswith("application/json")
    assert sum(marker in s.log() for s in servers) == 1, "only the small upload reached an app process"


# --- sockets ------------------------------------------------------------------------------
async def test_every_socket_route_upgrades_through_nginx(stack, staff, workspace, conversation):
    proxy, _ = stack
    web_customer = await asyncio.to_thread(make_customer, workspace, source="web", first_name="Wendy")
    staff_jwt, customer_jwt = staff_token(staff), customer_token(web_customer)
    routes = [("/ws/customers/", staff_jwt), ("/ws/conversations/", staff_jwt),
              (f"/ws/chat/{conversation.pk}/", staff_jwt), ("/api/v1/chat/ws/chat/user", staff_jwt),
              ("/api/v1/chat/ws/chat/customer", customer_jwt)]
    for path, token in routes:
        ws = await open_socket(proxy, f"{path}?token={token}")
        try:
            await ws.send(json.dumps({"type": "ping"}))  # list sockets say nothing before a frame
            seen = await frames_until(ws, "pong")
            assert not [f for f in seen if f.get("type") == "error"], f"{path}: {seen}"
        finally:
            await ws.close()


async def frames_until(ws, frame_type: str) -> list[dict]:
    """Frames read up to and including the first of ``frame_type`` (within WAIT seconds)."""
    loop = asyncio.get_running_loop()
    deadline, seen = loop.time() + WAIT, []
    while not seen or seen[-1].get("type") != frame_type:
        seen.append(json.loads(await asyncio.wait_for(ws.recv(), max(deadline - loop.time(), 0.01))))
    return seen


async def first_frame_of(ws, frame_type: str) -> dict:
    return (await frames_until(ws, frame_type))[-1]


async def test_close_codes_arrive_through_nginx(stack, staff):
    proxy, _ = stack
    cases = [("/ws/conversations/?token=not-a-token", 1008), ("/api/v1/chat/ws/chat/user", 1008),
             (f"/ws/chat/999999999/?token={staff_token(staff)}", 4404), ("/ws/nothing-here/", 4404)]
    for path, code in cases:
        ws = await open_socket(proxy, path)
        error = await first_frame(ws)
        assert error["type"] == "error", (path, error)
        assert await closed_with(ws) == code, path


async def test_an_event_published_on_one_process_reaches_a_socket_on_the_other(stack, staff, conversation):
    proxy, servers = stack
    token = staff_token(staff)
    held: dict[int, object] = {}
    opened = []
    try:
        for _ in range(8):  # nginx balances handshakes round robin: soon one socket per process
            ws = await open_socket(proxy, f"/ws/chat/{conversation.pk}/?token={token}")
            opened.append(ws)
            await first_frame_of(ws, "recent_messages")  # joined its conversation's group
            held.setdefault(upstream_port(ws.response.headers), ws)
            if len(held) == 2:
                break
        assert set(held) == {s.port for s in servers}, f"sockets only on {sorted(held)}"
        text = f"through nginx {uuid.uuid4().hex}"

        def post():
            with client() as http:
                return http.post(proxy.http(f"/api/conversations/{conversation.pk}/messages/"),
                                 json={"content": text, "client_message_id": uuid.uuid4().hex},
                                 headers={"Authorization": f"Bearer {token}"})

        response = await asyncio.to_thread(post)
        assert response.status_code == 201, response.text
        writer = upstream_port(response.headers)
        other = next(port for port in held if port != writer)
        frame = await first_frame_of(held[other], "chat_message")
        while frame["message"]["content"] != text:
            frame = await first_frame_of(held[other], "chat_message")
        assert frame["message"]["id"] == response.json()["id"]
    finally:
        for ws in opened:
            await ws.close()


# --- probes and metrics ---------------------------------------------------------------------
def test_readyz_and_healthz_through_nginx(stack):
    proxy, servers = stack
    with client() as http:
        ready = http.get(proxy.http("/readyz"))
        alive = http.get(proxy.http("/healthz"))
    assert ready.status_code == 200, ready.text
    checks = ready.json()["checks"]
    assert checks["database"]["ok"] and checks["channel_layer"]["ok"] and checks["channel_layer"]["backend"] == "redis"
    assert checks["database"]["latency_ms"] >= 0
    assert alive.status_code == 200 and alive.json() == {"status": "ok"}
    assert not any('"/readyz"' in s.log() or '"/healthz"' in s.log() for s in servers), "probes are not logged"


async def test_metrics_through_nginx_after_traffic(stack, staff, conversation):
    proxy, servers = stack
    token = staff_token(staff)
    sockets = [await open_socket(proxy, f"/ws/chat/{conversation.pk}/?token={token}") for _ in range(2)]
    try:
        for ws in sockets:
            await first_frame_of(ws, "recent_messages")
            await ws.send(json.dumps({"type": "ping"}))
            await first_frame_of(ws, "pong")
            await ws.send(json.dumps({"type": "no_such_frame"}))
            await first_frame_of(ws, "error")

        def scrape(source, headers=None):
            with client(source) as http:
                return http.get(proxy.http("/metrics"), headers=headers or {})

        refused = await asyncio.to_thread(scrape, CLIENT)
        assert refused.status_code == 403 and "METRICS_TOKEN" in refused.json()["detail"]
        wrong = await asyncio.to_thread(scrape, CLIENT, {"Authorization": "Bearer wrong"})
        assert wrong.status_code == 403
        by_token = await asyncio.to_thread(scrape, CLIENT, {"Authorization": f"Bearer {METRICS_TOKEN}"})
        listed = await asyncio.to_thread(scrape, METRICS_CLIENT)
    finally:
        for ws in sockets:
            await ws.close()
    for response in (by_token, listed):
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("text/plain")
        text = response.text
        # Both sockets of this test were open (one process or both): each process shows its own.
        assert re.search(r'^fiko_ws_open_sockets\{dialect="Chat",route="\^ws/chat/', text, re.M), text[:2000]
        assert re.search(r'^fiko_ws_frames_out_total\{type="pong"\} [1-9]', text, re.M)
        assert re.search(r'^fiko_ws_frames_in_total\{type="unknown"\} [1-9]', text, re.M)
        assert re.search(r'^fiko_ws_error_frames_total\{code="unknown_type"\} [1-9]', text, re.M)
        assert re.search(r"^fiko_outbox_pending \d", text, re.M)
        assert "fiko_http_request_seconds_bucket" in text
