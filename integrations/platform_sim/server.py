"""A loopback stand-in for the platforms: the Telegram Bot API and the Instagram Graph/Send API
subset Fiko uses, on one HTTP port, speaking their wire formats.

- Telegram: ``/bot<token>/<method>`` (getMe, setWebhook, deleteWebhook, getWebhookInfo, getFile,
  sendMessage, sendPhoto, sendVoice, sendVideo, sendDocument; JSON, form or multipart bodies) and
  ``/file/bot<token>/<file_path>`` downloads. Point ``TELEGRAM_API_BASE`` at ``base_url``.
- Instagram: ``/v21.0/<igsid>?fields=...`` profiles and ``/v21.0/<id>/messages`` sends. Point
  ``INSTAGRAM_GRAPH_API_BASE`` at ``graph_api_base``. Attachment/profile files at ``/_sim/media/``.
- Control: ``GET /_sim/sent`` (what was sent), ``GET /_sim/webhooks``, ``POST /_sim/fail``
  (make the next sends fail: blocked, outside_window, rate_limit, server_error, hang,
  accept_then_hang), ``POST /_sim/profiles``, ``POST /_sim/reset``.

The same class is the peer of the test suite (started on a free port by a fixture) and of
``manage.py platform_sim``. Each platform's routes are its adapter's ``simulator``
(integrations/<platform>/simulator.py, mixed in by handler.py); stdlib HTTP only; tokens are
never written to the log or the records.
"""
import itertools
import threading
import time
from http.server import ThreadingHTTPServer

from .handler import handler_class
from .images import tiny_png

__all__ = ["PlatformSim", "tiny_png"]

# "accept" is a no-op slot, so a failure can be queued for a later send ("accept", then "hang").
FAILURE_KINDS = ("accept", "blocked", "outside_window", "rate_limit", "server_error", "hang", "accept_then_hang")


class PlatformSim:
    def __init__(self, host: str = "127.0.0.1", port: int = 0, graph_version: str = "v21.0"):
        self.host, self.port, self.graph_version = host, port, graph_version
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

    @property
    def telegram_api_base(self) -> str:
        return self.base_url

    @property
    def graph_api_base(self) -> str:
        return f"{self.base_url}/{self.graph_version}"

    # --- state and knobs ------------------------------------------------------------------------
    def reset(self) -> None:
        with self._lock:
            self.sent: list[dict] = []  # sends the platform accepted
            self.attempts: list[dict] = []  # every send request: {platform, at, result}
            self.calls: list[tuple[str, str]] = []  # (platform, method) of every API call
            self.webhooks: dict[str, dict] = {}  # bot id -> setWebhook arguments
            self.telegram_files: dict[str, dict] = {}
            self.media: dict[str, tuple[str, bytes]] = {}
            self.profiles: dict[str, dict] = {}
            self.failures: list[dict] = []
            self.held = 0  # requests currently held by a "hang" failure
        self._release.set()
        self._release = threading.Event()
        self.add_telegram_file("sim-photo", tiny_png(), "photos/file_1.png")
        self.add_telegram_file("sim-voice", b"OggS\x00\x02" + bytes(64), "voice/file_2.oga")
        self.add_telegram_file("sim-document", b"%PDF-1.4\n%sim\n", "documents/file_3.pdf")

    def add_telegram_file(self, file_id: str, data: bytes, file_path: str, file_unique_id: str | None = None) -> None:
        with self._lock:
            self.telegram_files[file_id] = {"data": data, "file_path": file_path,
                                            "file_unique_id": file_unique_id or f"u-{file_id}"}

    def add_media(self, name: str, data: bytes, content_type: str) -> str:
        """Serve ``data`` at ``/_sim/media/<name>`` (Instagram attachment CDN stand-in)."""
        with self._lock:
            self.media[name] = (content_type, data)
        return f"{self.base_url}/_sim/media/{name}"

    def set_profile(self, igsid: str, *, name: str = "", username: str = "", picture: bytes | None = None) -> None:
        with self._lock:
            self.profiles[str(igsid)] = {"name": name, "username": username}
            self.media[f"profile-{igsid}.png"] = ("image/png", picture or tiny_png((219, 39, 119)))

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
