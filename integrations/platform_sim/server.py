"""A loopback stand-in for the platforms: each registered platform's API subset Fiko uses, on
one HTTP port, speaking its wire format.

- Each platform's routes are its adapter's ``simulator`` (integrations/<platform>/simulator.py,
  mixed into the handler by handler.py); its state and helpers (files it serves, profiles it
  answers, the API base URL to point its setting at) are its adapter's ``simulator_state``, made
  fresh on every reset and answered as attributes of the PlatformSim. ``settings()`` are the
  settings that point Fiko at this simulator. Attachment/profile files at ``/_sim/media/``.
- Control: ``GET /_sim/sent`` (what was sent), ``GET /_sim/webhooks``, ``POST /_sim/fail``
  (make the next sends fail: blocked, outside_window, rate_limit, server_error, hang,
  accept_then_hang), ``POST /_sim/reset``, and a platform's own (``POST /_sim/profiles``).

The same class is the peer of the test suite (started on a free port by a fixture) and of
``manage.py platform_sim``. Stdlib HTTP only; tokens are never written to the log or the records.
"""
import itertools
import threading
import time
from http.server import ThreadingHTTPServer

from integrations import platforms

from .handler import handler_class
from .images import tiny_png

__all__ = ["PlatformSim", "tiny_png"]

# "accept" is a no-op slot, so a failure can be queued for a later send ("accept", then "hang").
FAILURE_KINDS = ("accept", "blocked", "outside_window", "rate_limit", "server_error", "hang", "accept_then_hang")


class PlatformSim:
    def __init__(self, host: str = "127.0.0.1", port: int = 0):
        self.host, self.port = host, port
        self._lock = threading.RLock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._release = threading.Event()  # ends held ("hang") requests early
        self._ids = itertools.count(1001)
        self.reset()

    # --- lifecycle ------------------------------------------------------------------------------
    def start(self) -> "PlatformSim":
        handler = handler_class(self)
        self._server = ThreadingHTTPServer((self.host, self.port), handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._release.clear()
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), name="platform-sim", daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Foreground serving (the management command)."""
        handler = handler_class(self)
        self._server = ThreadingHTTPServer((self.host, self.port), handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        try:
            self._server.serve_forever()
        finally:
            self._server.server_close()

    def stop(self) -> None:
        self._release.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(5)
        self._server = self._thread = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def __getattr__(self, name: str):
        """A platform's own state and helpers (its adapter's ``simulator_state``), e.g. the
        settings base URL a test points Fiko at, or a file the platform should serve."""
        for state in self.__dict__.get("_states", ()):
            if hasattr(state, name):
                return getattr(state, name)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def settings(self) -> dict:
        """The settings that point Fiko at this simulator (every platform's API base)."""
        return platforms.simulator_settings(self.base_url)

    # --- state and knobs ------------------------------------------------------------------------
    def reset(self) -> None:
        with self._lock:
            self.sent: list[dict] = []  # sends the platform accepted
            self.attempts: list[dict] = []  # every send request: {platform, at, result}
            self.calls: list[tuple[str, str]] = []  # (platform, method) of every API call
            self.webhooks: dict[str, dict] = {}  # account -> the webhook a platform registered (e.g. a bot id -> setWebhook arguments)
            self.media: dict[str, tuple[str, bytes]] = {}
            self.failures: list[dict] = []
            self.held = 0  # requests currently held by a "hang" failure
            self._states = [adapter.simulator_state(self) for adapter in platforms.adapters()
                            if adapter.simulator_state is not None]
        self._release.set()
        self._release = threading.Event()

    def add_media(self, name: str, data: bytes, content_type: str) -> str:
        """Serve ``data`` at ``/_sim/media/<name>`` (a platform's attachment CDN stand-in)."""
        with self._lock:
            self.media[name] = (content_type, data)
        return f"{self.base_url}/_sim/media/{name}"

    def fail_next(self, kind: str, *, count: int = 1, platform: str | None = None, retry_after: int | None = None,
                  hold_seconds: float = 30.0, status: int | None = None) -> None:
        """The next ``count`` sends (of ``platform``, or any) fail this way."""
        if kind not in FAILURE_KINDS:
            raise ValueError(f"kind must be one of {', '.join(FAILURE_KINDS)}")
        with self._lock:
            for _ in range(count):
                self.failures.append({"kind": kind, "platform": platform, "retry_after": retry_after,
                                      "hold_seconds": hold_seconds, "status": status})

    def sent_for(self, platform: str) -> list[dict]:
        with self._lock:
            return [entry for entry in self.sent if entry["platform"] == platform]

    def _take_failure(self, platform: str) -> dict | None:
        with self._lock:
            for index, failure in enumerate(self.failures):
                if failure["platform"] in (None, platform):
                    return self.failures.pop(index)
        return None

    def _attempt(self, platform: str, failure: dict | None) -> None:
        result = failure["kind"] if failure and failure["kind"] != "accept" else "accepted"
        with self._lock:
            self.attempts.append({"platform": platform, "at": time.time(), "result": result})

    def _record(self, entry: dict) -> dict:
        with self._lock:
            entry["at"] = time.time()
            self.sent.append(entry)
        return entry

    def _hold(self, seconds: float) -> None:
        with self._lock:
            self.held += 1
        try:
            self._release.wait(seconds)
        finally:
            with self._lock:
                self.held -= 1

    def next_id(self) -> int:
        return next(self._ids)
