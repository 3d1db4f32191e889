"""Realistic inbound deliveries, posted to our own webhooks the way the platforms post them (each
signed or authenticated as its adapter's ``delivery_headers`` declares). The deliveries themselves
are the adapters' ``say_payload`` (integrations/<platform>/simulator.py builds them with the ids
below)."""
import hashlib
import itertools
import json
import secrets

import httpx

from integrations import platforms


# Platform ids of simulated deliveries: unique within the process (a counter, so two `--say` in
# the same millisecond never collide and get dropped as duplicates) and, across processes,
# starting from a random point. Never derived from the clock.
_sequence = itertools.count(secrets.randbelow(1 << 30))
ID_RANGE = 2**31 - 1  # some platforms' message and update ids are signed 32-bit


def next_platform_id() -> int:
    """A positive 31-bit id no earlier call of this process returned (until 2**31 calls)."""
    return next(_sequence) % ID_RANGE + 1


def stable_number(name: str, digits: int) -> int:
    """The same customer name always maps to the same platform id."""
    value = int(hashlib.sha256(name.lower().encode()).hexdigest(), 16)
    return 10 ** (digits - 1) + value % (9 * 10 ** (digits - 1))


def post_to_webhook(channel, payload: dict) -> httpx.Response:
    """POST like the platform would: raw JSON body with the secret header or signature."""
    body = json.dumps(payload).encode()
    headers = {"Content-Type": "application/json",
               **platforms.adapter_for(channel.platform).delivery_headers(channel, body)}
    return httpx.post(channel.webhook_url, content=body, headers=headers, timeout=30)
