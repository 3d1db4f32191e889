"""Settings for the test suite (pytest.ini; the live servers tests start get them too): the
real settings of fiko/settings.py, with what the tests choose differently. The production
settings hold no test switch; every test-only choice is here.

- A secret key, so a test runs with DEBUG off like production: the development one (what
  fiko/settings.py takes under DEBUG without SECRET_KEY), so a token that `make token` prints
  in a second terminal verifies here as on the server `make run` started. Set in the
  environment before fiko.settings reads it (it refuses to start without one when DEBUG is
  off), so the servers a test starts (tests/live_servers.py) inherit it and accept the tokens
  the test minted.
- Any host, and static files straight from the apps' folders (no collectstatic).
- No in-process delivery thread: a test that wants it turns it on (FIKO_DELIVERY_IN_PROCESS).
- Plain text logs unless LOG_FORMAT says otherwise; cookies over plain HTTP (the test client).
- Fast password hashing.
"""
import os

os.environ.setdefault("SECRET_KEY", "dev-only-insecure-secret-key-do-not-use-in-production-000000")

from fiko.settings import *  # noqa: E402,F401,F403
from fiko.settings import STORAGES, env_bool, env_list, logging_settings  # noqa: E402

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS") or ["*"]

STORAGES = {**STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}
STATIC_FROM_FINDERS = WHITENOISE_USE_FINDERS = WHITENOISE_AUTOREFRESH = True

FIKO_DELIVERY_IN_PROCESS = env_bool("FIKO_DELIVERY_IN_PROCESS", False)

LOG_FORMAT = os.environ.get("LOG_FORMAT") or "text"
LOGGING = logging_settings(LOG_FORMAT)

SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = False

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast hashing in tests only
