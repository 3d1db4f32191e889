"""Prompt delivery inside a server process: when message_send commits a pending message, a
background thread in this process wakes up and sends it at once (so the agent sees
``external_send_result`` within moments, and its ``message.updated`` reaches this process's
sockets even on the in-memory channel layer). It keeps going until nothing is pending, then sleeps
until the next kick: no polling while idle.

It is a convenience, not the guarantee: rows left behind by a crash or a restart are picked up by
``manage.py run_delivery_worker``, which polls. Both claim rows the same way, so they never send
one row twice. Enabled by FIKO_DELIVERY_IN_PROCESS (off in the test suite unless a test turns it on).
"""
import logging
import threading

from django.conf import settings
from django.db import connections
from django.utils import timezone

from .outbox import outbox_next_due_at, outbox_run_once

log = logging.getLogger("integrations.delivery")
IDLE_RECHECK_SECONDS = 60


class DeliveryThread:
    def __init__(self):
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.idle = threading.Event()  # set while waiting with nothing due (tests wait on it)

    def kick(self) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._stopping.clear()
                self._thread = threading.Thread(target=self._run, name="fiko-delivery", daemon=True)
                self._thread.start()
        self.idle.clear()
        self._wake.set()

    def stop(self, timeout: float = 10) -> None:
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._stopping.set()
            self._wake.set()
            thread.join(timeout)

    def _wait_seconds(self) -> float | None:
        due = outbox_next_due_at()
        if due is None:
            return None  # nothing pending: sleep until kicked
        return min(max((due - timezone.now()).total_seconds(), 0.05), IDLE_RECHECK_SECONDS)

    def _run(self) -> None:
        while not self._stopping.is_set():
            self._wake.clear()
            wait = IDLE_RECHECK_SECONDS
            try:
                outbox_run_once()
                wait = self._wait_seconds()
            except Exception:
                log.exception("in-process delivery pass failed")
            finally:
                connections.close_all()  # this thread's connections only
            if wait is None:
                self.idle.set()
            self._wake.wait(wait)
        connections.close_all()


delivery_thread = DeliveryThread()


def on_message_pending(sender, message_id, **kwargs) -> None:
    """conversations.services.message_pending_delivery receiver (connected in apps.py)."""
    if settings.FIKO_DELIVERY_IN_PROCESS:
        delivery_thread.kick()
