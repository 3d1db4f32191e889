"""Query counts of a write, for the tests that pin them: a write costs the same number of SQL
queries with 1 and with 10 related rows (DESIGN.md, "Learned from": Saleor's 1-and-10 tests).
Every query is counted, the events built after the commit included (the tests that use this
run with ``transaction=True``, so ``on_commit`` work runs inside the count)."""
from django.db import connection
from django.test.utils import CaptureQueriesContext

SIZES = (1, 10)  # related rows: a write must cost the same at both


def count_queries(write) -> int:
    """How many queries ``write()`` sends."""
    with CaptureQueriesContext(connection) as captured:
        write()
    return len(captured.captured_queries)


def assert_same_count(counts: dict) -> None:
    """``counts``: {number of related rows: queries}; all equal."""
    assert len(set(counts.values())) == 1, f"queries by number of related rows: {counts}"
