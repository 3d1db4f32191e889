"""Telegram Bot API over HTTP (async, bounded timeouts), at ``settings.TELEGRAM_API_BASE``.

The bot token is part of every URL (``/bot<token>/<method>``), so no URL built here is ever
logged or stored: errors go through ``platform_http.safe_error`` with the token masked.
"""
import asyncio
import json
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from django.conf import settings

from integrations import platform_http
from integrations.delivery.outcome import OutboundMessage, SendOutcome

from .parsing import message_external_id

SEND_METHODS = {  # message_type -> (method, field holding the file)
    "image": ("sendPhoto", "photo"),
    "voice": ("sendVoice", "voice"),
    "video": ("sendVideo", "video"),
    "file": ("sendDocument", "document"),
}
CAPTION_LIMIT = 1024


@dataclass
class TelegramAnswer:
    ok: bool
    result: object = None
    error_code: int | None = None
    description: str = ""
    retry_after: float | None = None
    parameters: dict = field(default_factory=dict)

    def report(self) -> dict:
        """For API answers: did it work, and Telegram's own words."""
        return {"ok": self.ok, "description": self.description or ("ok" if self.ok else "failed")}


class TelegramClient:
    def __init__(self, bot_token: str):
        self.token = bot_token

    @property
    def _base(self) -> str:
        return f"{settings.TELEGRAM_API_BASE}/bot{self.token}"

    async def call(self, method: str, *, data: dict | None = None, files: dict | None = None) -> TelegramAnswer:
        """One Bot API call. A network failure is an answer with ``error_code`` None."""
        async def post():
            async with platform_http.client() as http:
                if files:
                    form = {k: v if isinstance(v, str) else json.dumps(v) for k, v in (data or {}).items()}
                    return await http.post(f"{self._base}/{method}", data=form, files=files)
                return await http.post(f"{self._base}/{method}", json=data or {})

        try:
            response = await asyncio.wait_for(post(), platform_http.deadline_seconds())
        except (httpx.HTTPError, asyncio.TimeoutError, OSError) as exc:
            return TelegramAnswer(False, description=platform_http.safe_error(exc, self.token))
        try:
            body = response.json()
        except ValueError:
            body = {}
        if not isinstance(body, dict):
            body = {}
        parameters = body.get("parameters") if isinstance(body.get("parameters"), dict) else {}
        ok = bool(body.get("ok")) and response.status_code == 200
        description = str(body.get("description") or ("" if ok else f"HTTP {response.status_code}"))
        return TelegramAnswer(
            ok=ok,
            result=body.get("result"),
            error_code=body.get("error_code") or (None if ok else response.status_code),
            description=platform_http.mask(description, self.token),
            retry_after=parameters.get("retry_after"),
            parameters=parameters,
        )

    # --- setup -------------------------------------------------------------------------------
    async def get_me(self) -> TelegramAnswer:
        return await self.call("getMe")

    async def set_webhook(self, *, url: str, secret_token: str) -> TelegramAnswer:
        return await self.call("setWebhook", data={
            "url": url, "secret_token": secret_token, "allowed_updates": ["message", "edited_message"],
        })

    async def delete_webhook(self) -> TelegramAnswer:
        return await self.call("deleteWebhook")

    # --- inbound files -------------------------------------------------------------------------
    async def download_file(self, file_id: str) -> tuple[bytes, str]:
        """getFile, then the file itself. Returns (data, Telegram's file_path).
        Raises PlatformHTTPError with a token-free reason."""
        answer = await self.call("getFile", data={"file_id": file_id})
        if not answer.ok or not isinstance(answer.result, dict) or not answer.result.get("file_path"):
            raise platform_http.PlatformHTTPError(f"getFile failed: {answer.description or 'no file_path'}")
        file_path = str(answer.result["file_path"])
        data, _ = await platform_http.download(
            f"{settings.TELEGRAM_API_BASE}/file/bot{self.token}/{file_path}", secrets=(self.token,)
        )
        return data, file_path

    # --- outbound ------------------------------------------------------------------------------
    async def send(self, message: OutboundMessage) -> SendOutcome:
        data: dict = {"chat_id": message.recipient_id}
        if message.reply_to_external_id:
            data["reply_parameters"] = {
                "message_id": int(message.reply_to_external_id.rsplit(":", 1)[-1]),
                "allow_sending_without_reply": True,
            }
        files = None
        if message.message_type == "text" or message.message_type not in SEND_METHODS:
            method, data["text"] = "sendMessage", message.text
        else:
            method, file_field = SEND_METHODS[message.message_type]
            if len(message.text) > CAPTION_LIMIT:
                return SendOutcome.failed(f"caption longer than {CAPTION_LIMIT} characters (Telegram's limit)")
            if message.text:
                data["caption"] = message.text
            if message.media_path:  # upload our copy: works even when Telegram cannot reach us
                path = Path(message.media_path)
                files = {file_field: (path.name, path.read_bytes())}
            elif message.media_url:
                data[file_field] = message.media_url
            else:
                return SendOutcome.failed("the message has no media to send")
        answer = await self.call(method, data=data, files=files)
        return classify(answer, chat_id=message.recipient_id)


def classify(answer: TelegramAnswer, *, chat_id) -> SendOutcome:
    if answer.ok and isinstance(answer.result, dict) and "message_id" in answer.result:
        chat_id = (answer.result.get("chat") or {}).get("id", chat_id)
        return SendOutcome.sent(message_external_id(chat_id, answer.result["message_id"]))
    reason = answer.description or "unknown error"
    if answer.error_code is None:  # network: we do not know; try again
        return SendOutcome.retry(reason)
    if answer.error_code == 429:
        retry_after = answer.retry_after if isinstance(answer.retry_after, (int, float)) else None
        return SendOutcome.retry(reason, retry_after=retry_after)
    if answer.error_code >= 500:
        return SendOutcome.retry(reason)
    return SendOutcome.failed(reason)  # 400 bad request, 401 bad token, 403 blocked ...
