"""python manage.py run_delivery_worker [--once] [--interval SECONDS] [--grace SECONDS]

Drains the outbox (pending staff messages of Telegram/Instagram conversations): claims due rows
with SELECT ... FOR UPDATE SKIP LOCKED, sends, records, publishes ``message.updated``. Run one or
more per deployment next to the web processes (same DATABASE_URL and REDIS_URL); they share the
work safely. SIGTERM/SIGINT finish the current send and exit.

Without REDIS_URL the channel layer lives inside each process, so this worker's events cannot
reach the server's sockets. Then it defaults to ``--grace 10``: the server process delivers (its
in-process thread, woken on commit) and this worker only rescues rows overdue by 10 seconds,
e.g. left behind by a server restart.
"""
import logging
import signal
import threading

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import connections

from integrations.delivery.outbox import outbox_run_once

log = logging.getLogger("integrations.delivery")
RESCUE_GRACE_SECONDS = 10


class Command(BaseCommand):
    help = "Deliver pending platform messages (the durable outbox)."

    def add_arguments(self, parser):
        parser.add_argument("--once", action="store_true", help="one pass over what is due, then exit")
        parser.add_argument("--interval", type=float, default=None,
                            help="seconds between polls when idle (default OUTBOX_POLL_SECONDS)")
        parser.add_argument("--grace", type=float, default=None,
                            help="only take rows overdue by this many seconds "
                                 f"(default 0 with REDIS_URL, {RESCUE_GRACE_SECONDS} without)")
        parser.add_argument("--metrics-port", type=int, default=None,
                            help="serve Prometheus metrics (sends by result) on this port")
        parser.add_argument("--metrics-addr", default="127.0.0.1", help="address for --metrics-port")

    def handle(self, *args, once=False, interval=None, grace=None, metrics_port=None, metrics_addr="127.0.0.1",
               **options):
        if metrics_port:
            from prometheus_client import start_http_server

            start_http_server(metrics_port, addr=metrics_addr)
        interval = settings.OUTBOX_POLL_SECONDS if interval is None else interval
        if grace is None:
            grace = 0 if settings.REDIS_URL else RESCUE_GRACE_SECONDS
        if once:
            done = outbox_run_once(grace=grace)
            self.stdout.write(f"delivered {done} message(s)")
            return
        stopping = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stopping.set())
        mode = f"rescuing rows overdue by {grace:g}s" if grace else "delivering due rows"
        self.stdout.write(f"delivery worker: {mode}, polling every {interval:g}s")
        while not stopping.is_set():
            try:
                done = outbox_run_once(limit=1, grace=grace)  # one row at a time: a stop waits for one send only
            except Exception as exc:  # database away: wait and try again, never die
                log.error("delivery worker: %s: %s", type(exc).__name__, exc)
                connections.close_all()
                done = 0
            if not done:
                stopping.wait(interval)
        connections.close_all()
        self.stdout.write("delivery worker stopped")
