"""Instagram Graph API / Send API over HTTP (async, bounded timeouts), at
``settings.INSTAGRAM_GRAPH_API_BASE``. The access token travels in the Authorization header,
never in a URL, and is masked out of every error text."""
import asyncio

import httpx
from django.conf import settings

from integrations import platform_http
from integrations.delivery.outcome import SendOutcome

SEND_ATTACHMENT_TYPES = {"image": "image", "voice": "audio", "video": "video", "file": "file"}
TRANSIENT_CODES = {1, 2, 4, 17, 32, 341, 613}  # unknown/temporary errors and rate limits


class InstagramClient:
    def __init__(self, channel):
        self.token = channel.access_token
        self.account_id = channel.page_id or channel.ig_id  # Messenger-platform page, else the IG account

    @property
    def _headers(self) -> dict:
        return {"Authorization": f"Bearer {self.token}"}

    async def _request(self, method: str, path: str, **kwargs) -> httpx.Response:
        async def go():
            async with platform_http.client() as http:
                return await http.request(method, f"{settings.INSTAGRAM_GRAPH_API_BASE}/{path}",
                                          headers=self._headers, **kwargs)

        try:
            return await asyncio.wait_for(go(), platform_http.deadline_seconds())
        except (httpx.HTTPError, asyncio.TimeoutError, OSError) as exc:
            raise platform_http.PlatformHTTPError(platform_http.safe_error(exc, self.token)) from None

    async def get_profile(self, igsid: str) -> dict:
        """``{name, username, profile_pic}`` of a customer. Raises PlatformHTTPError."""
        response = await self._request("GET", igsid, params={"fields": "name,username,profile_pic"})
        body = _json(response)
        if response.status_code != 200 or "error" in body:
            raise platform_http.PlatformHTTPError(f"profile fetch failed: {_reason(response, body, self.token)}")
        return body

    async def send_text(self, recipient_id: str, text: str) -> SendOutcome:
        return await self._send(recipient_id, {"text": text})

    async def send_attachment(self, recipient_id: str, message_type: str, url: str) -> SendOutcome:
        kind = SEND_ATTACHMENT_TYPES.get(message_type, "file")
        return await self._send(recipient_id, {"attachment": {"type": kind, "payload": {"url": url}}})

    async def _send(self, recipient_id: str, message: dict) -> SendOutcome:
        try:
            response = await self._request("POST", f"{self.account_id}/messages",
                                           json={"recipient": {"id": recipient_id}, "message": message})
        except platform_http.PlatformHTTPError as exc:
            return SendOutcome.retry(str(exc))
        return classify(response, self.token)


def _json(response: httpx.Response) -> dict:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _reason(response: httpx.Response, body: dict, token: str) -> str:
    error = body.get("error") if isinstance(body.get("error"), dict) else {}
    text = str(error.get("message") or f"HTTP {response.status_code}")
    codes = [f"code {error['code']}"] if "code" in error else []
    if "error_subcode" in error:
        codes.append(f"subcode {error['error_subcode']}")
    return platform_http.mask(f"{text} ({', '.join(codes)})" if codes else text, token)


def classify(response: httpx.Response, token: str) -> SendOutcome:
    body = _json(response)
    if response.status_code == 200 and body.get("message_id"):
        return SendOutcome.sent(body["message_id"])
    error = body.get("error") if isinstance(body.get("error"), dict) else {}
    reason = _reason(response, body, token)
    retry_after = response.headers.get("retry-after")
    retry_after = float(retry_after) if retry_after and retry_after.isdigit() else None
    if response.status_code == 429 or response.status_code >= 500:
        return SendOutcome.retry(reason, retry_after=retry_after)
    if error.get("is_transient") or error.get("code") in TRANSIENT_CODES:
        return SendOutcome.retry(reason, retry_after=retry_after)
    # e.g. (#10) outside the 24-hour window (subcode 2018278), (#551) the person is unavailable
    return SendOutcome.failed(reason)
