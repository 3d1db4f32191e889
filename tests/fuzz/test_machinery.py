"""The fuzz suite's own checks can fail: a row snapshot sees a write, the log guard sees a
traceback, the JSON rule tells refused documents from accepted ones, and the encodings put
hostile values on the wire the way a client would. (A check that cannot fail is a defect.)"""
import json
import logging

import pytest

from customers.models import Tag

from . import hostile as H
from .rest_surface import operations
from .world import LogGuard, make_world, snapshot, snapshot_diff

pytestmark = pytest.mark.fuzz

PROBE_HTTP_CASES = 4238  # what the issue-8 probe sent (and found 209 5xx in)


@pytest.mark.django_db
def test_snapshot_sees_a_written_row_and_nothing_else():
    world = make_world()
    before = snapshot()
    assert snapshot_diff(before, snapshot()) == []
    Tag.objects.create(workspace=world.own.workspace, name="new", color="#000000")
    assert snapshot_diff(before, snapshot()) == ["customers_tag (2→3 rows)"]
    after_insert = snapshot()
    Tag.objects.filter(name="new").update(color="#111111")
    assert snapshot_diff(after_insert, snapshot()) == ["customers_tag"]


def test_log_guard_flags_tracebacks_and_errors_only():
    guard = LogGuard()
    logger = logging.getLogger("fuzz.selftest")
    logger.addHandler(guard)
    try:
        logger.warning("Bad Request: /api/tags/")
        try:
            raise ValueError("boom")
        except ValueError:
            logger.warning("handled", exc_info=True)
        logger.error("an error")
    finally:
        logger.removeHandler(guard)
    bad = guard.bad(guard.take())
    assert len(bad) == 2 and "ValueError: boom" in bad[0] and "an error" in bad[1]
    assert guard.take() == []


@pytest.mark.parametrize("value, depth, refused", [
    ("\ud800", 1, True), ("a\x00b", 1, True), ({"k": ["\x00"]}, 1, True), (H.nested(1000), 1, True),
    (H.lists_nested(31), 1, False), (H.lists_nested(32), 1, True), (H.lists_nested(32), 0, False),
    ("²", 1, False), (H.Raw("1e999"), 1, False), ("x" * 100_000, 1, False),
])
def test_invalid_json_rule(value, depth, refused):
    assert H.is_invalid_json(value, depth=depth) is refused


def test_wire_encodings_keep_hostile_characters():
    body = H.dumps({"a": "\ud800", "b": H.nested(2), "c": "\x00"})
    assert body == b'{"a": "\\ud800", "b": [[]], "c": "\\u0000"}'
    assert json.loads(body)["a"] == "\ud800"
    assert H.query_values("\ud800") == [b"\xed\xa0\x80"]
    assert H.query_values([1, "²"]) == [b"1", "²".encode()]
    assert H.path_segment("١") == "%D9%A1"


def test_spelled_ids_are_read_by_int_and_refused_by_the_rule():
    spelled = [H.spell(12, form) for form in ("arabic", "fullwidth", "plus", "space")]
    assert spelled == ["١٢", "１２", "+12", " 12"]
    assert all(int(text) == 12 and H.bad_id(text) for text in spelled)
    assert not H.bad_id("12") and not H.bad_id(12) and H.bad_id(str(H.BIG)) and H.bad_id(-1)


def test_the_suite_sends_more_http_cases_than_the_probe():
    """Explicit examples alone (every catalogue value on every REST slot) outnumber the probe's
    4,238 HTTP cases; generated values and the webhooks come on top."""
    explicit = sum(len(op.slots) * len(op.actors) for op in operations()) * len(H.CANONICAL)
    assert explicit >= PROBE_HTTP_CASES, explicit
