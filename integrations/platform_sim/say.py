"""Realistic inbound deliveries, posted to our own webhooks the way the platforms post them:
Telegram with the channel's secret header, Instagram signed with the channel's app secret."""
import hashlib
import itertools
import json
import secrets
import time
import uuid

import httpx

from integrations import platforms


# Platform ids of simulated deliveries: unique within the process (a counter, so two `--say` in
# the same millisecond never collide and get dropped as duplicates) and, across processes,
# starting from a random point. Never derived from the clock.
_sequence = itertools.count(secrets.randbelow(1 << 30))
ID_RANGE = 2**31 - 1  # Telegram's message_id and update_id are 32-bit


def next_platform_id() -> int:
    """A positive 31-bit id no earlier call of this process returned (until 2**31 calls)."""
    return next(_sequence) % ID_RANGE + 1


def stable_number(name: str, digits: int) -> int:
    """The same customer name always maps to the same platform id."""
    value = int(hashlib.sha256(name.lower().encode()).hexdigest(), 16)
    return 10 ** (digits - 1) + value % (9 * 10 ** (digits - 1))


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


def instagram_notification(*, text: str, sender: str, account_id: str) -> dict:
    now_ms = int(time.time() * 1000)
    return {
        "object": "instagram",
        "entry": [{
            "time": now_ms,
            "id": account_id,
            "messaging": [{
                "sender": {"id": str(stable_number(sender, 16))},
                "recipient": {"id": account_id},
                "timestamp": now_ms,
                "message": {"mid": f"aWdfZAG1faXRlbToxOklHTWVzc2FnZAUlE{uuid.uuid4().hex}", "text": text},
            }],
        }],
    }


def post_to_webhook(channel, payload: dict) -> httpx.Response:
    """POST like the platform would: raw JSON body with the secret header or signature."""
    body = json.dumps(payload).encode()
    headers = {"Content-Type": "application/json",
               **platforms.adapter_for(channel.platform).delivery_headers(channel, body)}
    return httpx.post(channel.webhook_url, content=body, headers=headers, timeout=30)
