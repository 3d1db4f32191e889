"""The server process's heap and Python's cyclic garbage collector.

A full collection (generation 2) stops the whole process, event loop and database threads,
while it walks every tracked object. Measured with gc callbacks in the bench's W1L (1,000 chat
sockets, 500 deliveries/s; bench/RESULTS.md): 5 full collections per run of 60-177 ms each,
about 260,000 tracked objects, of which about 150,000 are what start-up made (modules, classes,
URL patterns, compiled queries) and never become garbage. Every delivery in flight during such a
pause waits for it: the latency p99 was the pauses.

``settle()``, once the application is built:

- imports what the first requests would import (every URLconf and the views they name), so
  start-up's objects exist now;
- collects once, then freezes them (``gc.freeze()``): full collections no longer walk them;
- makes full collections rarer: one after ``FULL_AFTER`` collections of the middle generation
  instead of Python's 10. Young collections (generation 0, ~0.3 ms) are unchanged, so short-lived
  cycles are still reclaimed at once; what survives to the old generation waits longer.
"""
import gc

FULL_AFTER = 100  # gc's third threshold: middle-generation collections per full one (Python's default 10)


def settle() -> None:
    from django.urls import get_resolver

    _import_views(get_resolver().url_patterns)
    gc.collect()
    gc.freeze()
    young, middle, _ = gc.get_threshold()
    gc.set_threshold(young, middle, FULL_AFTER)


def _import_views(patterns) -> None:
    for pattern in patterns:
        if hasattr(pattern, "url_patterns"):  # an include(): importing its module imports its views
            _import_views(pattern.url_patterns)
