"""The second terminal of `make run`: `make run` writes .env.dev, and manage.py (and the make
targets the banner prints) read it, so commands typed there work as printed, on any PORT and
SIM_PORT, with nothing else set. Run as real processes against a real server and simulator."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

from conversations.models import Message
from fiko import dev_env
from integrations.models import Channel
from fiko.tokens import principal_from_access_token
from tests.factories import make_user, make_workspace
from tests.live_servers import APPLICATION, Server, database_url
from workspaces.models import Workspace

VENV = Path(sys.prefix)
NOT_FROM_THE_SHELL = ("DEBUG", "SECRET_KEY", "DATABASE_URL", "REDIS_URL", "PUBLIC_BASE_URL",
                      "TELEGRAM_API_BASE", "INSTAGRAM_GRAPH_API_BASE", "SQLITE_TEST_NAME", "MEDIA_ROOT",
                      "DJANGO_SETTINGS_MODULE", "FIKO_ENV_FILE")


def second_terminal(env_file: Path) -> dict:
    """A fresh shell's environment: none of Fiko's variables; the file `make run` wrote."""
    env = {k: v for k, v in os.environ.items() if k not in NOT_FROM_THE_SHELL and not k.startswith("MAKE")}
    env["FIKO_ENV_FILE"] = str(env_file)
    return env


def write_env_file(path: Path, **values) -> Path:
    lines = ["# Written by `make run` (scripts/run_dev.sh)", *(f"{k}={v}" for k, v in values.items())]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def manage(env: dict, *args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "manage.py", *args], cwd=settings.BASE_DIR, env=env,
                          capture_output=True, text=True, timeout=120)


def make(env: dict, *args, stdin: str | None = None) -> subprocess.CompletedProcess:
    # -o: the venv is this one, already installed (never reinstall from a test).
    return subprocess.run(["make", "-s", f"VENV={VENV}", "-o", str(VENV / ".installed-requirements"), *args],
                          input=stdin, cwd=settings.BASE_DIR, env=env, capture_output=True, text=True, timeout=120)


def test_the_file_fills_in_what_the_environment_does_not_set(tmp_path):
    path = write_env_file(tmp_path / "env", DEBUG="true", PUBLIC_BASE_URL="http://127.0.0.1:8300",
                          TELEGRAM_API_BASE="http://127.0.0.1:8391")
    environ = {"FIKO_ENV_FILE": str(path), "PUBLIC_BASE_URL": "http://example.test"}
    taken = dev_env.load(environ)
    assert taken == {"DEBUG": "true", "TELEGRAM_API_BASE": "http://127.0.0.1:8391"}
    assert environ["PUBLIC_BASE_URL"] == "http://example.test"  # the environment wins
    assert environ["DEBUG"] == "true"
    assert dev_env.parse("# c\n\nA_1=x=y\nlower=no\n B = no\nEMPTY=\n") == {"A_1": "x=y", "EMPTY": ""}
    assert dev_env.load({"FIKO_ENV_FILE": str(tmp_path / "missing")}) == {}


def test_tests_never_read_the_file(tmp_path):
    environ = {"FIKO_ENV_FILE": str(write_env_file(tmp_path / "env", DEBUG="true")),
               "DJANGO_SETTINGS_MODULE": "fiko.test_settings"}
    assert dev_env.load(environ) == {} and "DEBUG" not in environ
    # This very process runs on the test settings (pytest.ini), as its subprocesses do.
    assert os.environ["DJANGO_SETTINGS_MODULE"] == "fiko.test_settings"


@pytest.mark.django_db(transaction=True)
def test_manage_py_commands_work_with_only_the_env_file(tmp_path):
    env_file = write_env_file(tmp_path / "env", DEBUG="true", DATABASE_URL=database_url())
    env = second_terminal(env_file)

    result = manage(env, "create_workspace", "second-terminal", "--owner", "olivia", "--password", "pw-123456")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(Workspace.objects.get(slug="second-terminal").pk)

    # The same command without the file is what a newcomer used to get.
    env["FIKO_ENV_FILE"] = str(tmp_path / "missing")
    result = manage(env, "create_workspace", "another", "--owner", "olivia", "--password", "pw-123456")
    assert result.returncode != 0 and "SECRET_KEY must be set when DEBUG is off" in result.stderr
    assert not Workspace.objects.filter(slug="another").exists()


@pytest.fixture
def server_on_another_port(django_db_setup, platform_sim, tmp_path):
    """`make run PORT=... SIM_PORT=...`: a server and a simulator on ports that are not the
    defaults, and the file it would write."""
    server = Server("uvicorn", APPLICATION, tmp_path, env={
        "TELEGRAM_API_BASE": platform_sim.telegram_api_base, "INSTAGRAM_GRAPH_API_BASE": platform_sim.graph_api_base})
    env_file = write_env_file(
        tmp_path / "env", DEBUG="true", PUBLIC_BASE_URL=f"http://127.0.0.1:{server.port}",
        TELEGRAM_API_BASE=platform_sim.telegram_api_base, INSTAGRAM_GRAPH_API_BASE=platform_sim.graph_api_base,
        DATABASE_URL=database_url())
    yield server, env_file
    server.stop()


@pytest.mark.django_db(transaction=True)
def test_the_readme_say_command_reaches_a_server_on_another_port(server_on_another_port, platform_sim):
    server, env_file = server_on_another_port
    make_workspace("demo")
    result = manage(second_terminal(env_file), "platform_sim", "--say", "hello", "--from", "alice")
    assert result.returncode == 0, result.stderr + result.stdout
    channel = Channel.objects.get(platform="telegram")
    # Its webhook, registered at the simulator, is on the server's port.
    assert platform_sim.webhooks["7000000001"]["url"] == \
        f"http://127.0.0.1:{server.port}/integrations/telegram/{channel.pk}/webhook/"
    assert f"telegram channel {channel.pk}: 200" in result.stdout
    message = Message.objects.get()
    assert message.content == "hello" and message.conversation.customer.username == "alice"


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed (.ci/run installs it)")
def test_the_banner_make_targets_work_in_a_second_terminal(server_on_another_port, platform_sim):
    server, env_file = server_on_another_port
    workspace = make_workspace("demo")
    env = second_terminal(env_file)

    said = make({**env, "TEXT": 'it\'s "quoted" <b>', "FROM": "bob"}, "say")
    assert said.returncode == 0, said.stderr + said.stdout
    assert Message.objects.get().content == 'it\'s "quoted" <b>'

    usage = make(env, "say")
    assert usage.returncode != 0 and 'usage: make say TEXT="hello"' in usage.stderr

    shell = make(env, "shell", stdin="from conversations.models import Message; print('count', Message.objects.count())\n")
    assert shell.returncode == 0 and "count 1" in shell.stdout, shell.stderr

    make_user("demo", workspace=workspace, role="owner")
    token = make(env, "token")
    assert token.returncode == 0, token.stderr
    assert "Fiko is starting" not in token.stdout  # nothing starts
    export = token.stdout.strip().splitlines()[-1]
    assert export.startswith("export TOKEN=")
    assert principal_from_access_token(export.removeprefix("export TOKEN=")).user.username == "demo"


def test_ws_demo_finds_the_server_make_run_started(tmp_path):
    env = second_terminal(write_env_file(tmp_path / "env", DEBUG="true", PUBLIC_BASE_URL="http://127.0.0.1:8300"))
    shown = subprocess.run([sys.executable, "scripts/ws_demo.py", "--help"], cwd=settings.BASE_DIR, env=env,
                           capture_output=True, text=True, timeout=60)
    assert shown.returncode == 0 and "(default: http://127.0.0.1:8300)" in shown.stdout
    env["FIKO_ENV_FILE"] = str(tmp_path / "missing")
    shown = subprocess.run([sys.executable, "scripts/ws_demo.py", "--help"], cwd=settings.BASE_DIR, env=env,
                           capture_output=True, text=True, timeout=60)
    assert "(default: http://127.0.0.1:8000)" in shown.stdout
