"""The development settings file `make run` writes (``.env.dev``, gitignored), read by manage.py.

`make run` records the settings of the server it started (DEBUG, PUBLIC_BASE_URL, the platform
simulator's URLs, DATABASE_URL/REDIS_URL/MEDIA_ROOT when set) so that a command typed in a second
terminal (``.venv/bin/python manage.py platform_sim --say hi``, ``seed_demo``, ``shell``) talks to
the same server, database and simulator, on whatever PORT/SIM_PORT it runs. Variables set in the
environment win over the file. Plain ``NAME=value`` lines; ``#`` starts a comment line.

Not read by the servers themselves (Daphne, uvicorn: production reads only its environment),
nor under any settings module but ``fiko.settings``: the file holds values for those settings,
and the test suite runs on ``fiko.test_settings``, so a test never reads it. ``FIKO_ENV_FILE``
names another file. Not ``.env``: Docker Compose reads that one for its own variables, and
would point its containers at this machine's simulator.
"""
import os
import re
from collections.abc import MutableMapping
from pathlib import Path

DEV_ENV_FILE = Path(__file__).resolve().parent.parent / ".env.dev"
SETTINGS_MODULE = "fiko.settings"  # the settings the file is for
_LINE = re.compile(r"([A-Z_][A-Z0-9_]*)=(.*)")


def parse(text: str) -> dict[str, str]:
    values = {}
    for line in text.splitlines():
        match = _LINE.fullmatch(line.strip())
        if match:
            values[match[1]] = match[2]
    return values


def load(environ: MutableMapping[str, str] = os.environ) -> dict[str, str]:
    """Put the file's variables that ``environ`` does not set into it; return what was taken
    from the file."""
    if environ.get("DJANGO_SETTINGS_MODULE", SETTINGS_MODULE) != SETTINGS_MODULE:
        return {}
    path = Path(environ.get("FIKO_ENV_FILE") or DEV_ENV_FILE)
    try:
        text = path.read_text(encoding="utf-8")
    except (FileNotFoundError, NotADirectoryError):
        return {}
    taken = {name: value for name, value in parse(text).items() if name not in environ}
    environ.update(taken)
    return taken
