"""Telegram on the platform simulator (integrations/platform_sim): the Bot API routes (the
adapter's ``simulator``: ``/bot<token>/<method>`` and file downloads, and Telegram's own error
answers), the simulator's Telegram state (``TelegramState``: the files ``getFile`` serves) and
the updates ``manage.py platform_sim --say`` posts (``telegram_update``)."""
import re
import time

from integrations.platform_sim.images import tiny_png
from integrations.platform_sim.say import next_platform_id, stable_number

TOKEN = re.compile(r"^(\d+):[A-Za-z0-9_-]{10,}$")
TELEGRAM_SENDS = {"sendMessage": None, "sendPhoto": "photo", "sendVoice": "voice", "sendVideo": "video",
                  "sendDocument": "document"}


def telegram_failure(failure: dict) -> tuple[int, dict]:
    kind = failure["kind"]
    if kind == "rate_limit":
        seconds = int(failure.get("retry_after") or 3)
        return 429, {"ok": False, "error_code": 429, "description": f"Too Many Requests: retry after {seconds}",
                     "parameters": {"retry_after": seconds}}
    if kind == "server_error":
        status = int(failure.get("status") or 500)
        return status, {"ok": False, "error_code": status, "description": "Internal Server Error"}
    # blocked (and outside_window, which Telegram does not have: the closest is a blocked bot)
    return 403, {"ok": False, "error_code": 403, "description": "Forbidden: bot was blocked by the user"}


def telegram_update(*, text: str, sender: str, photo_file_id: str | None = None) -> dict:
    user_id = stable_number(sender, 9)
    now = time.time()
    first, _, last = sender.strip().title().partition(" ")
    person = {"id": user_id, "first_name": first, "username": sender.lower().replace(" ", "_")}
    if last:
        person["last_name"] = last
    message = {
        "message_id": next_platform_id(),
        "from": {**person, "is_bot": False, "language_code": "en"},
        "chat": {**person, "type": "private"},
        "date": int(now),
    }
    if photo_file_id:
        message["photo"] = [
            {"file_id": photo_file_id, "file_unique_id": f"u-{photo_file_id}", "file_size": 120, "width": 90, "height": 90},
            {"file_id": photo_file_id, "file_unique_id": f"u-{photo_file_id}", "file_size": 300, "width": 320, "height": 320},
        ]
        if text:
            message["caption"] = text
    else:
        message["text"] = text
    return {"update_id": next_platform_id(), "message": message}


class TelegramState:
    """The simulator's Telegram state, made fresh on every reset (the PlatformSim answers its
    attributes: ``sim.telegram_files``, ``sim.add_telegram_file(...)``, ``sim.telegram_api_base``)."""

    def __init__(self, sim):
        self.sim = sim
        self.telegram_files: dict[str, dict] = {}
        self.add_telegram_file("sim-photo", tiny_png(), "photos/file_1.png")
        self.add_telegram_file("sim-voice", b"OggS\x00\x02" + bytes(64), "voice/file_2.oga")
        self.add_telegram_file("sim-document", b"%PDF-1.4\n%sim\n", "documents/file_3.pdf")

    @property
    def telegram_api_base(self) -> str:
        return self.sim.base_url

    def add_telegram_file(self, file_id: str, data: bytes, file_path: str, file_unique_id: str | None = None) -> None:
        with self.sim._lock:
            self.telegram_files[file_id] = {"data": data, "file_path": file_path,
                                            "file_unique_id": file_unique_id or f"u-{file_id}"}


class TelegramRoutes:
    def simulate(self, path: str) -> bool:
        if path.startswith("/file/bot"):
            self._telegram_file(path[len("/file/bot"):])
            return True
        if path.startswith("/bot"):
            token, _, method = path[len("/bot"):].partition("/")
            self._telegram(token, method)
            return True
        return False

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

