"""Fixtures of the isolation matrix: the two workspaces (tests/isolation/world.py) and the
summary line with the case counts at the end of the run."""
import logging

import pytest

from tests.chat.chat_socket_helpers import fresh_presence  # noqa: F401  (autouse: empty presence registry)
from tests.isolation import report
from tests.isolation.world import build_world


@pytest.fixture
def world(workspace, other_workspace, staff, other_staff, customer, conversation):
    return build_world(a=workspace, b=other_workspace, a_owner=staff, b_owner=other_staff, john=customer,
                       john_conversation=conversation)


@pytest.fixture(autouse=True)
def _quiet_refusals():
    """Hundreds of 4xx answers are the expected outcome here: Django's per-request warning
    for each would bury the report. Server errors (logged at ERROR) still show."""
    logger = logging.getLogger("django.request")
    level = logger.level
    logger.setLevel(logging.ERROR)
    yield
    logger.setLevel(level)


def pytest_terminal_summary(terminalreporter):
    if report.COUNTS:
        terminalreporter.write_sep("-", "isolation matrix")
        for area in sorted(report.COUNTS):
            terminalreporter.write_line(report.COUNTS[area])
