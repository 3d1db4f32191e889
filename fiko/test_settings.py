"""Settings for the test suite: the real settings, with the dev secret allowed."""
import os

os.environ.setdefault("FIKO_TESTING", "1")

from fiko.settings import *  # noqa: E402,F401,F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast hashing in tests only
