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
``manage.py platform_sim``. Stdlib only; tokens are never written to the log or the records.
"""
import base64
import itertools
import json
import re
import struct
import threading
import time
import zlib
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from .platform_errors import instagram_failure, telegram_failure

TOKEN = re.compile(r"^(\d+):[A-Za-z0-9_-]{10,}$")
TELEGRAM_SENDS = {"sendMessage": None, "sendPhoto": "photo", "sendVoice": "voice", "sendVideo": "video",
                  "sendDocument": "document"}
# "accept" is a no-op slot, so a failure can be queued for a later send ("accept", then "hang").
FAILURE_KINDS = ("accept", "blocked", "outside_window", "rate_limit", "server_error", "hang", "accept_then_hang")
INSTAGRAM_TEXT_LIMIT = 1000


def tiny_png(rgb=(37, 99, 235), size=8) -> bytes:
    """A small solid PNG (no imaging library needed)."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    row = b"\x00" + bytes(rgb) * size
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(row * size)) + chunk(b"IEND", b""))


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
        handler = type("SimHandler", (_Handler,), {"sim": self})
        self._server = ThreadingHTTPServer((self.host, self.port), handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._release.clear()
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), name="platform-sim", daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Foreground serving (the management command)."""
        handler = type("SimHandler", (_Handler,), {"sim": self})
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


class _Handler(BaseHTTPRequestHandler):
    sim: PlatformSim
    protocol_version = "HTTP/1.1"
    server_version = "FikoPlatformSim/1.0"

    def log_message(self, format, *args):  # quiet: the paths carry bot tokens
        pass

    # --- plumbing -------------------------------------------------------------------------------
    def do_GET(self):
        self._dispatch()

    def do_POST(self):
        self._dispatch()

    def _dispatch(self):
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        self.body = self.rfile.read(length) if length else b""
        self.query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        path = url.path
        try:
            if path.startswith("/_sim/"):
                return self._control(path[len("/_sim/"):])
            if path.startswith("/file/bot"):
                return self._telegram_file(path[len("/file/bot"):])
            if path.startswith("/bot"):
                token, _, method = path[len("/bot"):].partition("/")
                return self._telegram(token, method)
            if path.startswith(f"/{self.sim.graph_version}/"):
                return self._graph(path[len(self.sim.graph_version) + 2:])
            return self._json(404, {"detail": "not a simulated endpoint"})
        except (BrokenPipeError, ConnectionResetError):
            return None

    def _json(self, status: int, body, headers: dict | None = None):
        data = json.dumps(body).encode()
        self._send(status, data, "application/json", headers)

    def _send(self, status: int, data: bytes, content_type: str, headers: dict | None = None):
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def _params(self) -> tuple[dict, dict]:
        """Form fields and uploaded files, whatever the encoding (JSON, form, multipart, query)."""
        params, files = dict(self.query), {}
        content_type = self.headers.get("Content-Type", "")
        if self.body and content_type.startswith("application/json"):
            loaded = json.loads(self.body)
            params.update(loaded if isinstance(loaded, dict) else {})
        elif self.body and content_type.startswith("application/x-www-form-urlencoded"):
            params.update({k: v[-1] for k, v in parse_qs(self.body.decode()).items()})
        elif self.body and content_type.startswith("multipart/form-data"):
            message = BytesParser(policy=HTTP).parsebytes(
                f"Content-Type: {content_type}\r\n\r\n".encode() + self.body)
            for part in message.iter_parts():
                name = part.get_param("name", header="content-disposition")
                if part.get_filename() is not None:
                    files[name] = (part.get_filename(), part.get_payload(decode=True) or b"")
                else:
                    params[name] = (part.get_payload(decode=True) or b"").decode()
        for key in ("reply_parameters", "allowed_updates", "recipient", "message"):
            if isinstance(params.get(key), str) and params[key][:1] in "{[":
                params[key] = json.loads(params[key])
        return params, files

    # --- control --------------------------------------------------------------------------------
    def _control(self, route: str):
        sim = self.sim
        if route == "sent" and self.command == "GET":
            with sim._lock:
                return self._json(200, {"sent": list(sim.sent)})
        if route == "webhooks" and self.command == "GET":
            with sim._lock:
                return self._json(200, {"webhooks": dict(sim.webhooks)})
        if route == "fail" and self.command == "POST":
            params, _ = self._params()
            try:
                sim.fail_next(str(params.get("kind")), count=int(params.get("count", 1)),
                              platform=params.get("platform"), retry_after=params.get("retry_after"),
                              hold_seconds=float(params.get("hold_seconds", 30)), status=params.get("status"))
            except (TypeError, ValueError) as exc:
                return self._json(400, {"detail": str(exc)})
            return self._json(200, {"queued": len(sim.failures)})
        if route == "profiles" and self.command == "POST":
            params, _ = self._params()
            sim.set_profile(str(params.get("igsid")), name=str(params.get("name", "")),
                            username=str(params.get("username", "")))
            return self._json(200, {"ok": True})
        if route == "reset" and self.command == "POST":
            sim.reset()
            return self._json(200, {"ok": True})
        if route.startswith("media/") and self.command == "GET":
            name = route[len("media/"):]
            with sim._lock:
                item = sim.media.get(name)
            if item is None and name.startswith("profile-"):
                item = ("image/png", tiny_png((219, 39, 119)))
            if item is None:
                return self._json(404, {"detail": "no such media"})
            return self._send(200, item[1], item[0])
        return self._json(404, {"detail": "unknown control route"})

    # --- Telegram -------------------------------------------------------------------------------
    def _tg_error(self, code: int, description: str, parameters: dict | None = None):
        body = {"ok": False, "error_code": code, "description": description}
        if parameters:
            body["parameters"] = parameters
        return self._json(code, body)

    def _telegram_file(self, rest: str):
        token, _, file_path = rest.partition("/")
        if not TOKEN.match(token):
            return self._tg_error(401, "Unauthorized")
        with self.sim._lock:
            item = next((f for f in self.sim.telegram_files.values() if f["file_path"] == file_path), None)
        if item is None:
            return self._tg_error(404, "Not Found")
        return self._send(200, item["data"], "application/octet-stream")

    def _telegram(self, token: str, method: str):
        sim = self.sim
        match = TOKEN.match(token)
        if not match:
            return self._tg_error(401, "Unauthorized")
        bot_id = int(match.group(1))
        with sim._lock:
            sim.calls.append(("telegram", method))
        try:
            params, files = self._params()
        except ValueError:
            return self._tg_error(400, "Bad Request: can't parse request body")
        if method == "getMe":
            return self._json(200, {"ok": True, "result": {
                "id": bot_id, "is_bot": True, "first_name": "Fiko Sim Bot", "username": f"fiko_sim_{bot_id}_bot",
                "can_join_groups": True, "can_read_all_group_messages": False, "supports_inline_queries": False}})
        if method == "setWebhook":
            if not params.get("url"):
                return self._tg_error(400, "Bad Request: bad webhook: An HTTPS URL must be provided for webhook")
            with sim._lock:
                sim.webhooks[str(bot_id)] = {"url": params["url"], "secret_token": params.get("secret_token", ""),
                                             "allowed_updates": params.get("allowed_updates")}
            return self._json(200, {"ok": True, "result": True, "description": "Webhook was set"})
        if method == "deleteWebhook":
            with sim._lock:
                sim.webhooks.pop(str(bot_id), None)
            return self._json(200, {"ok": True, "result": True, "description": "Webhook was deleted"})
        if method == "getWebhookInfo":
            with sim._lock:
                hook = sim.webhooks.get(str(bot_id), {})
            return self._json(200, {"ok": True, "result": {"url": hook.get("url", ""), "pending_update_count": 0}})
        if method == "getFile":
            with sim._lock:
                item = sim.telegram_files.get(str(params.get("file_id")))
            if item is None:
                return self._tg_error(400, "Bad Request: invalid file_id")
            return self._json(200, {"ok": True, "result": {
                "file_id": params["file_id"], "file_unique_id": item["file_unique_id"],
                "file_size": len(item["data"]), "file_path": item["file_path"]}})
        if method in TELEGRAM_SENDS:
            return self._telegram_send(bot_id, method, params, files)
        return self._tg_error(404, "Not Found: method not found")

    def _telegram_send(self, bot_id: int, method: str, params: dict, files: dict):
        sim = self.sim
        chat_id = params.get("chat_id")
        if chat_id in (None, ""):
            return self._tg_error(400, "Bad Request: chat_id is empty")
        file_field = TELEGRAM_SENDS[method]
        entry = {"platform": "telegram", "method": method, "bot_id": bot_id, "chat_id": int(chat_id)}
        if file_field is None:
            text = str(params.get("text") or "")
            if not text:
                return self._tg_error(400, "Bad Request: message text is empty")
            if len(text) > 4096:
                return self._tg_error(400, "Bad Request: message is too long")
            entry["text"] = text
        else:
            if file_field in files:
                filename, data = files[file_field]
                entry["media"] = {"upload": filename, "bytes": len(data)}
            elif params.get(file_field):
                entry["media"] = {"url": str(params[file_field])}
            else:
                return self._tg_error(400, f"Bad Request: there is no {file_field} in the request")
            if params.get("caption"):
                entry["caption"] = str(params["caption"])
        reply = params.get("reply_parameters") or {}
        if isinstance(reply, dict) and reply.get("message_id"):
            entry["reply_to_message_id"] = int(reply["message_id"])
        failure = sim._take_failure("telegram")
        sim._attempt("telegram", failure)
        failure = None if failure is not None and failure["kind"] == "accept" else failure
        if failure is not None and failure["kind"] == "hang":
            sim._hold(failure["hold_seconds"])
            return self._tg_error(504, "Gateway Timeout")
        if failure is not None and failure["kind"] != "accept_then_hang":
            status, body = telegram_failure(failure)
            return self._json(status, body)
        entry["message_id"] = sim.next_id()
        sim._record(entry)
        if failure is not None:  # accepted, but the answer never arrives in time
            sim._hold(failure["hold_seconds"])
        result = {"message_id": entry["message_id"], "date": int(time.time()),
                  "from": {"id": bot_id, "is_bot": True, "first_name": "Fiko Sim Bot"},
                  "chat": {"id": int(chat_id), "type": "private"}}
        if "text" in entry:
            result["text"] = entry["text"]
        if "caption" in entry:
            result["caption"] = entry["caption"]
        return self._json(200, {"ok": True, "result": result})

    # --- Instagram Graph / Send API ---------------------------------------------------------------
    def _graph_token(self) -> str:
        auth = self.headers.get("Authorization", "")
        if auth.lower().startswith(("bearer ", "oauth ")):
            return auth.split(" ", 1)[1].strip()
        return self.query.get("access_token", "")

    def _graph_error(self, status: int, message: str, code: int, subcode: int | None = None, headers=None):
        error = {"message": message, "type": "OAuthException", "code": code, "fbtrace_id": "SimTrace"}
        if subcode is not None:
            error["error_subcode"] = subcode
        return self._json(status, {"error": error}, headers)

    def _graph(self, rest: str):
        sim = self.sim
        if not self._graph_token():
            return self._graph_error(400, "An active access token must be used to query information about the "
                                          "current user.", 2500)
        parts = [p for p in rest.split("/") if p]
        with sim._lock:
            sim.calls.append(("instagram", "/".join(["<id>"] + parts[1:])))
        if len(parts) == 1 and self.command == "GET":
            igsid = parts[0]
            with sim._lock:
                profile = dict(sim.profiles.get(igsid) or {})
            suffix = igsid[-4:]
            body = {"name": profile.get("name") or f"Instagram User {suffix}",
                    "username": profile.get("username") or f"ig_user_{suffix}",
                    "profile_pic": f"{sim.base_url}/_sim/media/profile-{igsid}.png", "id": igsid}
            fields = self.query.get("fields")
            if fields:
                body = {k: v for k, v in body.items() if k in fields.split(",") or k == "id"}
            return self._json(200, body)
        if len(parts) == 2 and parts[1] == "messages" and self.command == "POST":
            return self._instagram_send(parts[0])
        return self._graph_error(400, "Unsupported request - method type: " + self.command.lower(), 100, 33)

    def _instagram_send(self, account_id: str):
        sim = self.sim
        try:
            params, _ = self._params()
        except ValueError:
            return self._graph_error(400, "(#100) Invalid JSON for postbody", 100)
        recipient = params.get("recipient") if isinstance(params.get("recipient"), dict) else {}
        message = params.get("message") if isinstance(params.get("message"), dict) else {}
        if not recipient.get("id"):
            return self._graph_error(400, "(#100) The parameter recipient is required", 100)
        entry = {"platform": "instagram", "method": "messages", "account_id": account_id,
                 "recipient_id": str(recipient["id"])}
        if "text" in message:
            text = str(message["text"])
            if len(text) > INSTAGRAM_TEXT_LIMIT:
                return self._graph_error(400, "(#100) Length of param message[text] must be less than or equal "
                                              f"to {INSTAGRAM_TEXT_LIMIT}", 100)
            entry["text"] = text
        elif isinstance(message.get("attachment"), dict):
            attachment = message["attachment"]
            payload = attachment.get("payload") if isinstance(attachment.get("payload"), dict) else {}
            if attachment.get("type") not in ("image", "audio", "video", "file") or not payload.get("url"):
                return self._graph_error(400, "(#100) Invalid attachment", 100)
            entry["media"] = {"type": attachment["type"], "url": payload["url"]}
        else:
            return self._graph_error(400, "(#100) The parameter message is required", 100)
        failure = sim._take_failure("instagram")
        sim._attempt("instagram", failure)
        failure = None if failure is not None and failure["kind"] == "accept" else failure
        if failure is not None and failure["kind"] == "hang":
            sim._hold(failure["hold_seconds"])
            return self._graph_error(504, "Gateway timeout", 2)
        if failure is not None and failure["kind"] != "accept_then_hang":
            status, body, headers = instagram_failure(failure)
            return self._json(status, body, headers)
        mid = "aWdfZAG1faXRlbToxOklHTWVzc2FnZAUlE" + base64.urlsafe_b64encode(
            f"sim:{sim.next_id()}".encode()).decode().rstrip("=")
        entry["message_id"] = mid
        sim._record(entry)
        if failure is not None:
            sim._hold(failure["hold_seconds"])
        return self._json(200, {"recipient_id": entry["recipient_id"], "message_id": mid})
