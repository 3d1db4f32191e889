"""Browser tests: Playwright (Python) driving Debian's Chromium (/usr/bin/chromium, installed by
`.ci/run` with apt-get; never a downloaded browser) against a real Daphne process on this run's
PostgreSQL and Redis. Without Chromium or the services they skip, except under
REQUIRE_SERVICES=1 (CI), where that is a failure.

Screenshots go to artifacts/browser/ (gitignored), one per test and step.

Playwright's sync API runs an event loop in this thread while a browser is open, and Django's ORM
refuses to run under one: the rows a test needs are written before the browser starts (the
fixtures below), and what happens afterwards is driven the way a person would, over HTTP
(the simulator's `--say` command, the browser).
"""
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.conf import settings

from tests.conftest import REQUIRE_SERVICES, require_service
from tests.live_servers import APPLICATION, Server, server_env

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(settings.BASE_DIR) / "artifacts" / "browser"
LOCAL_HOSTS = {"127.0.0.1", "localhost", "[::1]", "::1"}
DEFAULT_WAIT_MS = 15_000


@pytest.fixture
def services():
    """PostgreSQL and Redis, as every multi-process test needs (the server is another process)."""
    require_service("DATABASE_URL")
    require_service("REDIS_URL")


@pytest.fixture
def chromium_path(services):
    if not CHROMIUM.is_file():
        if REQUIRE_SERVICES:
            pytest.fail(f"{CHROMIUM} is missing (REQUIRE_SERVICES=1): .ci/run installs the Debian package chromium")
        pytest.skip(f"{CHROMIUM} not installed (apt-get install chromium)")
    return str(CHROMIUM)


@pytest.fixture
def server(services, platform_sim, django_db_setup, tmp_path):
    """Daphne serving the test database, delivering replies to the platform simulator."""
    live = Server("daphne", APPLICATION, tmp_path, env={
        "FIKO_DELIVERY_IN_PROCESS": "true",
        "TELEGRAM_API_BASE": platform_sim.telegram_api_base,
        "INSTAGRAM_GRAPH_API_BASE": platform_sim.graph_api_base,
    })
    try:
        yield live
    finally:
        live.stop()


@pytest.fixture
def say(server, platform_sim):
    """A customer writes on Telegram: `manage.py platform_sim --say TEXT --from NAME`, run as the
    command line runs it, posting to the server's webhook like Telegram would."""

    def run(text: str, sender: str):
        env = server_env(PUBLIC_BASE_URL=server.http_url("").rstrip("/"))
        result = subprocess.run(
            [sys.executable, "manage.py", "platform_sim", "--say", text, "--from", sender,
             "--sim-url", platform_sim.base_url],
            cwd=settings.BASE_DIR, env=env, capture_output=True, text=True, timeout=60)
        assert result.returncode == 0 and ": 200 " in result.stdout, result.stdout + result.stderr
        return result.stdout

    return run


class Browser:
    """One Chromium page, recording dialogs and page errors, saving screenshots as artifacts."""

    def __init__(self, page, name: str):
        self.page, self.name = page, re.sub(r"[^A-Za-z0-9_.-]+", "_", name)
        self.dialogs, self.errors = [], []
        page.on("dialog", self._dialog)
        page.on("pageerror", lambda error: self.errors.append(str(error)))
        page.set_default_timeout(DEFAULT_WAIT_MS)

    def _dialog(self, dialog):
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def screenshot(self, step: str) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{self.name}-{step}.png"
        self.page.screenshot(path=str(path))
        return path


@pytest.fixture
def browser(chromium_path, request):
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=DEFAULT_WAIT_MS)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=chromium_path, headless=True, args=["--no-sandbox"])
        context = chromium.new_context(viewport={"width": 1280, "height": 800})
        try:
            yield Browser(context.new_page(), request.node.name)
        finally:
            context.close()
            chromium.close()


def is_local(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("data", "blob", "about") or (parts.hostname or "") in LOCAL_HOSTS
