"""The banner `make run` prints (print_demo_token --starting) and `make token` (--export)."""
from io import StringIO

import pytest
from django.core.management import call_command

from fiko.tokens import principal_from_access_token
from tests.factories import make_user, make_workspace

pytestmark = pytest.mark.django_db


@pytest.fixture
def demo_user():
    return make_user("demo", workspace=make_workspace("demo"), role="owner")


def output(*args) -> str:
    out = StringIO()
    call_command("print_demo_token", *args, stdout=out)
    return out.getvalue()


def test_banner_under_debug_names_the_console_the_logins_the_origins_and_the_second_terminal(demo_user, settings):
    settings.DEBUG = True
    settings.ALLOWED_ORIGINS = []
    settings.TELEGRAM_API_BASE = "http://127.0.0.1:8391"
    text = output("--starting", "--base-url", "http://127.0.0.1:8300")
    assert "Fiko is starting on http://127.0.0.1:8300" in text
    assert "http://127.0.0.1:8300/inbox/   (log in as demo / demo)" in text
    assert "david.brown@example.com / customer" in text
    assert "any http://localhost:<port> or\n http://127.0.0.1:<port> origin" in text
    assert "make run ALLOWED_ORIGINS=" in text
    assert "curl -s http://127.0.0.1:8391/_sim/sent" in text  # the simulator's own port
    assert 'make say TEXT="Hello!" FROM=alice' in text
    assert "scripts/ws_demo.py --base http://127.0.0.1:8300" in text
    assert "ws://127.0.0.1:8300/ws/conversations/?token=$TOKEN" in text


def test_banner_without_debug_or_simulator_says_neither(demo_user, settings):
    settings.DEBUG = False
    settings.ALLOWED_ORIGINS = ["https://ui.example.test"]
    settings.TELEGRAM_API_BASE = "https://api.telegram.org"
    settings.PUBLIC_BASE_URL = "http://127.0.0.1:8010"
    text = output()
    assert "Fiko on http://127.0.0.1:8010 (`make run` serves it)" in text  # the default: PUBLIC_BASE_URL
    assert "starting" not in text
    assert "localhost:<port>" not in text and "_sim/sent" not in text
    assert "ALLOWED_ORIGINS: https://ui.example.test" in text


def test_export_is_one_line_to_paste(demo_user):
    lines = output("--export").strip().splitlines()
    assert lines[0].startswith("# staff JWT for demo") and len(lines) == 2
    assert principal_from_access_token(lines[1].removeprefix("export TOKEN=")).user == demo_user
