"""create_workspace SLUG --owner USERNAME --password PASSWORD, run as a real process."""
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

import pytest
from django.contrib.auth import get_user_model
from django.db import connection

from tests.factories import make_user
from workspaces.models import Membership, Workspace

pytestmark = pytest.mark.django_db(transaction=True)

PROJECT = Path(__file__).resolve().parents[2]


def database_url() -> str:
    """The test database, for a child process."""
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    auth = quote(db["USER"] or "") + (f":{quote(db['PASSWORD'])}" if db.get("PASSWORD") else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def manage(*args) -> subprocess.CompletedProcess:
    env = {**os.environ, "DATABASE_URL": database_url(), "DJANGO_SETTINGS_MODULE": "fiko.test_settings"}
    return subprocess.run([sys.executable, "manage.py", *args], cwd=PROJECT, env=env,
                          capture_output=True, text=True, timeout=60)


def test_creates_workspace_and_owner_and_prints_the_id():
    result = manage("create_workspace", "acme-shop", "--owner", "olivia", "--password", "s3cret-pw")

    assert result.returncode == 0, result.stderr
    workspace = Workspace.objects.get(slug="acme-shop")
    assert result.stdout.strip() == str(workspace.pk)
    user = get_user_model().objects.get(username="olivia")
    assert user.check_password("s3cret-pw")
    assert Membership.objects.get(workspace=workspace, user=user).role == "owner"


def test_existing_user_becomes_owner_and_gets_the_new_password():
    user = make_user("bob", password="old-password")

    result = manage("create_workspace", "bobs", "--owner", "bob", "--password", "new-password")

    assert result.returncode == 0, result.stderr
    user.refresh_from_db()
    assert user.check_password("new-password")
    assert Membership.objects.get(workspace__slug="bobs", user=user).role == "owner"


def test_duplicate_slug_is_an_error_and_changes_nothing():
    first = manage("create_workspace", "acme", "--owner", "olivia", "--password", "pw-1")
    assert first.returncode == 0, first.stderr

    second = manage("create_workspace", "acme", "--owner", "peter", "--password", "pw-2")

    assert second.returncode == 1
    assert "already exists" in second.stderr and second.stdout == ""
    assert Workspace.objects.filter(slug="acme").count() == 1
    assert not get_user_model().objects.filter(username="peter").exists()  # rolled back with the failure


@pytest.mark.parametrize("slug", ["Acme", "acme shop", "acme-", "acme--shop", "ac/me", "a" * 65])
def test_bad_slug_is_an_error(slug):
    result = manage("create_workspace", slug, "--owner", "olivia", "--password", "pw")

    assert result.returncode == 1
    assert "Invalid workspace slug" in result.stderr
    assert not Workspace.objects.exists() and not get_user_model().objects.exists()


def test_new_owner_needs_a_password():
    result = manage("create_workspace", "acme", "--owner", "nobody")

    assert result.returncode == 1 and "password" in result.stderr
    assert not Workspace.objects.exists()
