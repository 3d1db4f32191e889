"""The fuzz suite's settings, fixtures and case counts.

Profiles (Hypothesis): ``fuzz`` (the default here; CI) runs every catalogue value of
``hostile.py`` on every slot as explicit examples plus a few generated values per slot,
derandomized, so a run is repeatable and bounded. ``deep`` generates many more values per slot
with a random seed, for long local runs:

    pytest tests/fuzz --hypothesis-profile=deep

(the option must name the ``tests/fuzz`` directory, so that this file registers the profile
before Hypothesis loads it). ``FUZZ_PROFILE=deep`` does the same for ``make test``.

At the end of the session the number of cases each part sent is printed, with the number of
5xx answers among them.
"""
import logging
import os

import pytest
from hypothesis import HealthCheck, Phase, settings


from .world import STATS, LogGuard, make_world

settings.register_profile(
    "fuzz", max_examples=2, deadline=None, database=None, derandomize=True, print_blob=False,
    report_multiple_bugs=True, suppress_health_check=list(HealthCheck),
    phases=(Phase.explicit, Phase.generate, Phase.shrink),
)
settings.register_profile(
    "deep", max_examples=300, deadline=None, database=None, derandomize=False, print_blob=True,
    report_multiple_bugs=True, suppress_health_check=list(HealthCheck),
)


def fuzz_settings(scale: float = 1.0) -> settings:
    """The settings of a fuzz test: ``deep`` when chosen (``--hypothesis-profile=deep`` or
    ``FUZZ_PROFILE=deep``), else ``fuzz``, whatever profile the rest of the suite runs under.
    ``max_examples`` is per slot: ``scale`` is the number of slots a test covers."""
    name = os.environ.get("FUZZ_PROFILE") or settings.get_current_profile_name()
    base = settings.get_profile("deep" if name == "deep" else "fuzz")
    return settings(base, max_examples=max(1, int(base.max_examples * scale)))


@pytest.fixture
def log_guard():
    """Every WARNING-or-above record of the test; the checks call ``take()`` after each case."""
    guard = LogGuard()
    root = logging.getLogger()
    root.addHandler(guard)
    yield guard
    root.removeHandler(guard)


@pytest.fixture
def world(db, platform_sim):
    return make_world()


def pytest_terminal_summary(terminalreporter):
    if not STATS:
        return
    http = STATS["rest"] + STATS["webhook"]
    terminalreporter.section("fuzz cases")
    terminalreporter.write_line(
        f"fuzz: {http} HTTP cases (REST {STATS['rest']}, webhooks {STATS['webhook']}), "
        f"{STATS['frames']} socket frames on {STATS['sockets']} sockets; "
        f"5xx answers: {STATS['5xx']}, server_error frames: {STATS['server_error']}; "
        f"cases breaking an invariant: {STATS['violations']}")
