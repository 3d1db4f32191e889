"""Real server subprocesses (Daphne, uvicorn) serving an ASGI app against this test's database
and Redis: what tests/fiko/test_close_codes.py, tests/fiko/test_many_processes.py and
tests/conversations/test_ws_demo_script.py drive with real clients.

The database must be one the subprocess can see: PostgreSQL (pytest-django's test database)
or an SQLite file, and the rows a test writes must be committed
(``pytest.mark.django_db(transaction=True)``).
"""
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

BIN = Path(sys.executable).parent
SERVER_COMMANDS = {
    "daphne": lambda app, port: [str(BIN / "daphne"), "-b", "127.0.0.1", "-p", str(port), app],
    # --no-proxy-headers as in production: Fiko itself decides whose X-Forwarded-For counts
    # (TRUSTED_PROXIES, fiko/proxy.py).
    "uvicorn": lambda app, port: [str(BIN / "uvicorn"), app, "--host", "127.0.0.1", "--port", str(port),
                                  "--lifespan", "off", "--access-log", "--log-level", "info",
                                  "--no-proxy-headers"],
}
APPLICATION = "fiko.asgi:application"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _listens_on(pid: int, port: int) -> bool:
    """Whether process ``pid`` (or one of its children) holds the socket listening on ``port``
    (Linux: /proc). Where /proc cannot tell, any listener counts."""
    try:
        inodes = set()
        for table in ("/proc/net/tcp", "/proc/net/tcp6"):
            with open(table) as rows:
                for row in list(rows)[1:]:
                    fields = row.split()
                    if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:  # LISTEN
                        inodes.add(f"socket:[{fields[9]}]")
        pids, owned = [pid], set()
        while pids:
            current = pids.pop()
            for fd in os.listdir(f"/proc/{current}/fd"):
                try:
                    owned.add(os.readlink(f"/proc/{current}/fd/{fd}"))
                except OSError:
                    continue
            for task in os.listdir(f"/proc/{current}/task"):
                with open(f"/proc/{current}/task/{task}/children") as children:
                    pids.extend(int(child) for child in children.read().split())
    except (OSError, ValueError, IndexError):
        return True
    return bool(inodes & owned)


def database_url() -> str:
    """The database this test run uses (pytest-django's test database), as a DATABASE_URL."""
    db = connection.settings_dict
    if db["ENGINE"] == "django.db.backends.sqlite3":
        return f"sqlite:///{db['NAME']}"  # a file (SQLITE_TEST_NAME), never :memory:
    auth = db["USER"] + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"



def server_env(**extra: str) -> dict:
    """This process's environment, pointed at the test database and this run's Redis (if any),
    plus ``extra`` (e.g. ``FIKO_CHAT_TYPING="true"``)."""
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "SQLITE_TEST_NAME"}}
    env.update(DATABASE_URL=database_url(), DJANGO_SETTINGS_MODULE="fiko.test_settings", PYTHONUNBUFFERED="1")
    if settings.REDIS_URL:
        env["REDIS_URL"] = settings.REDIS_URL
    env.update(extra)
    return env


class Server:
    """A server subprocess on a free port, ready (its port accepts connections) when the
    constructor returns; output goes to a file (a pipe could fill up and stall it)."""

    def __init__(self, kind: str, app: str, log_dir: Path, *, env: dict | None = None, name: str = ""):
        self.kind, self.name = kind, name or kind
        for attempt in range(3):  # a port taken between free_port() and the server's bind: another one
            self.port = free_port()
            self.log_path = log_dir / f"{self.name}-{self.port}.log"
            self._log = open(self.log_path, "wb")
            self.proc = subprocess.Popen(SERVER_COMMANDS[kind](app, self.port), cwd=settings.BASE_DIR,
                                         env=server_env(**(env or {})), stdout=self._log, stderr=subprocess.STDOUT)
            if self._wait_for_port(last_attempt=attempt == 2):
                return

    def _wait_for_port(self, timeout: float = 30, *, last_attempt: bool = True) -> bool:
        """True once this server's own process listens on its port. A port that answers for
        another process (one that took it first: another server of this run or of a suite
        running beside it) does not count; when the server then exits because its address is in
        use, False (the caller tries another port) unless ``last_attempt``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.stop()
                if not last_attempt and "address already in use" in self.log().lower():
                    return False
                pytest.fail(f"{self.name} exited with {self.proc.returncode}:\n{self.log()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                if _listens_on(self.proc.pid, self.port):
                    return True
            except OSError:
                pass
            time.sleep(0.1)
        self.stop()
        pytest.fail(f"{self.name} did not listen on {self.port} within {timeout}s:\n{self.log()}")

    def url(self, path: str) -> str:
        return f"ws://127.0.0.1:{self.port}{path}"

    def http_url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self._log.close()


def http_get(url: str, headers: dict | None = None) -> tuple[int, object, bytes]:
    """(status, headers, body) of a GET, error statuses included."""
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=20) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


async def socket_close_code(url: str) -> int:
    """Open a socket, read until the server closes it; the close code the client received."""
    import asyncio

    import websockets

    async with websockets.connect(url, open_timeout=20, close_timeout=20) as ws:
        try:
            while True:
                await asyncio.wait_for(ws.recv(), 20)
        except websockets.ConnectionClosed:
            return ws.close_code
