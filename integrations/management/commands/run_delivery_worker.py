"""python manage.py run_delivery_worker [--once] [--interval SECONDS]

Drains the outbox (pending staff messages of Telegram/Instagram conversations): claims due rows
with SELECT ... FOR UPDATE SKIP LOCKED, sends, records, publishes. Run one or more per
deployment; they share the work safely. SIGTERM/SIGINT finish the current send and exit.
"""
import logging
import signal
import threading

from django.core.management.base import BaseCommand
from django.db import connections

from integrations.delivery.outbox import outbox_run_once

log = logging.getLogger("integrations.delivery")


class Command(BaseCommand):
    help = "Deliver pending platform messages (the durable outbox)."

    def add_arguments(self, parser):
        parser.add_argument("--once", action="store_true", help="one pass over what is due, then exit")
        parser.add_argument("--interval", type=float, default=None,
                            help="seconds between polls when idle (default OUTBOX_POLL_SECONDS)")

    def handle(self, *args, once=False, interval=None, **options):
        from django.conf import settings

        interval = settings.OUTBOX_POLL_SECONDS if interval is None else interval
        if once:
            done = outbox_run_once()
            self.stdout.write(f"delivered {done} message(s)")
            return
        stopping = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stopping.set())
        self.stdout.write(f"delivery worker running (poll every {interval:g}s); Ctrl+C to stop")
        while not stopping.is_set():
            try:
                done = outbox_run_once()
            except Exception as exc:  # database away: wait and try again, never die
                log.error("delivery worker: %s: %s", type(exc).__name__, exc)
                connections.close_all()
                done = 0
            if not done:
                stopping.wait(interval)
        connections.close_all()
        self.stdout.write("delivery worker stopped")
