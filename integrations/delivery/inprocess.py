"""Prompt delivery inside a server process: when message_send commits a pending message, this
process sends it at once (the agent sees ``external_send_result`` within moments, and the
``message.updated`` reaches this process's sockets even on the in-memory channel layer). It keeps
going until nothing is pending, sleeps until the next row is due (retries), and waits for the next
kick when idle: no polling while idle.

Where it runs: on the server's own event loop (the loop of the ASGI app; the kick comes from a
thread running under sync_to_async, which knows it). The database work runs in executor threads
and the HTTP and channel-layer calls hop back onto that loop, so group sends wake the sockets
properly. Outside a server loop (a plain thread calling message_send), a background thread does
the same.

It is a convenience, not the guarantee: rows left behind by a crash or a restart are picked up by
``manage.py run_delivery_worker``, which polls. Both claim rows the same way, so they never send
one row twice. Enabled by FIKO_DELIVERY_IN_PROCESS (default on; off in the test suite unless a test
turns it on), in server processes only (``serving()``).
"""
import asyncio
import logging
import os
import sys
import threading

from asgiref.sync import SyncToAsync, sync_to_async
from django.conf import settings
from django.db import connections
from django.utils import timezone

from .outbox import outbox_next_due_at, outbox_run_once

log = logging.getLogger("integrations.delivery")
IDLE_RECHECK_SECONDS = 60


def delivery_pass() -> float | None:
    """Deliver what is due; return how long to sleep (None: nothing pending, wait for a kick).
    Runs in one thread from start to end and closes that thread's connections."""
    try:
        outbox_run_once()
        due = outbox_next_due_at()
        if due is None:
            return None
        return min(max((due - timezone.now()).total_seconds(), 0.05), IDLE_RECHECK_SECONDS)
    except Exception:
        log.exception("in-process delivery pass failed")
        return IDLE_RECHECK_SECONDS
    finally:
        connections.close_all()  # this thread's connections only


def _server_loop():
    """The event loop of the ASGI server, when called from a thread running under sync_to_async."""
    loop = getattr(SyncToAsync.threadlocal, "main_event_loop", None)
    if loop is None or loop.is_closed() or not loop.is_running():
        return None
    if getattr(SyncToAsync.threadlocal, "main_event_loop_pid", None) != os.getpid():
        return None
    return loop


class LoopDelivery:
    """One delivery task on the server's event loop."""

    def __init__(self):
        self.task: asyncio.Task | None = None
        self.wake: asyncio.Event | None = None

    def kick(self, loop) -> None:
        loop.call_soon_threadsafe(self._start_or_wake)

    def _start_or_wake(self) -> None:  # on the loop
        if self.task is None or self.task.done():
            self.wake = asyncio.Event()
            self.task = asyncio.get_running_loop().create_task(self._run(), name="fiko-delivery")
        self.wake.set()

    async def _run(self) -> None:
        while True:
            self.wake.clear()
            wait = await sync_to_async(delivery_pass, thread_sensitive=False)()
            try:
                await asyncio.wait_for(self.wake.wait(), wait)
            except asyncio.TimeoutError:
                pass

    async def stop(self) -> None:
        if self.task is not None and not self.task.done():
            self.task.cancel()
            try:
                await self.task
            except asyncio.CancelledError:
                pass
        self.task = None


class ThreadDelivery:
    """The same loop on a background thread, for processes without a server event loop."""

    def __init__(self):
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def kick(self) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._stopping.clear()
                self._thread = threading.Thread(target=self._run, name="fiko-delivery", daemon=True)
                self._thread.start()
        self._wake.set()

    def stop(self, timeout: float = 10) -> None:
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._stopping.set()
            self._wake.set()
            thread.join(timeout)

    def _run(self) -> None:
        while not self._stopping.is_set():
            self._wake.clear()
            self._wake.wait(delivery_pass())


loop_delivery = LoopDelivery()
thread_delivery = ThreadDelivery()


def serving() -> bool:
    """Only processes that loaded the ASGI application (Daphne, uvicorn, runserver) deliver
    in-process: a management command such as seed_demo must not start sends that its exit cuts off."""
    return "fiko.asgi" in sys.modules


def delivery_kick() -> None:
    loop = _server_loop()
    if loop is not None:
        loop_delivery.kick(loop)
    else:
        thread_delivery.kick()


def on_message_pending(sender, message_id, **kwargs) -> None:
    """conversations.services.message_pending_delivery receiver (connected in apps.py)."""
    if settings.FIKO_DELIVERY_IN_PROCESS and serving():
        delivery_kick()
