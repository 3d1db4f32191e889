"""A message's delivery state: the one place that decides it and builds the send result.

The state machine (``Message.delivery_status``):

- a customer's message is ``received``;
- a staff message in a conversation without a platform channel (web chat) is ``sent`` at once;
- a staff message in a platform conversation is stored ``pending`` and due at once
  (``next_attempt_at``): that row is the outbox job (integrations/delivery/outbox.py);
- ``pending`` -> ``sent`` when the platform accepted it (the outbox recorded the answer, or the
  platform's echo matched it first: integrations/inbound.py), with the platform's message id;
- ``pending`` stays ``pending`` with a later ``next_attempt_at`` after a transient failure;
- ``pending`` -> ``failed`` for good (a refusal, or too many attempts).

``external_send_result`` (on the wire as ``message.external_send_result``) is built here only:
``{"success": true, "platform", "external_message_id"}`` or ``{"success": false, "platform",
"error"}``.

These functions change the row in memory and return the fields they changed; the caller saves
(inside its own transaction and lock) and publishes ``message.updated``. They run no query, so
the store path's statements stay what tests/conversations/test_message_services.py asserts.
This module belongs to the conversations app (the Message model is here); the integrations app
calls it, never the other way round.
"""
from .models import Message

# Fields a transition may change (callers add "updated_at" through these lists).
SENT_FIELDS = ["delivery_status", "next_attempt_at", "external_send_result", "channel", "external_id", "updated_at"]
OUTCOME_FIELDS = ["delivery_status", "next_attempt_at", "external_send_result", "updated_at"]


def sent_result(platform: str, external_message_id: str | None = None) -> dict:
    """The platform accepted the message (``external_message_id``: its id there, when known)."""
    result = {"success": True, "platform": platform}
    if external_message_id is not None:
        result["external_message_id"] = external_message_id
    return result


def failed_result(platform: str, error: str) -> dict:
    return {"success": False, "platform": platform, "error": error}


def initial_status(*, from_customer: bool, on_platform: bool) -> str:
    """A new message's state: received (customer), pending (staff, platform conversation: to be
    delivered) or sent (staff, web chat)."""
    if from_customer:
        return Message.Delivery.RECEIVED
    return Message.Delivery.PENDING if on_platform else Message.Delivery.SENT


def initial_next_attempt(status: str, now):
    """A pending message is due at once; nothing else is ever due."""
    return now if status == Message.Delivery.PENDING else None


def mark_sent(message: Message, *, channel, external_id: str) -> list[str]:
    """``pending`` -> ``sent``: the platform's id goes on the row (unless an earlier part of the
    message already put one there) and into the send result."""
    message.delivery_status, message.next_attempt_at = Message.Delivery.SENT, None
    message.channel = channel
    if not message.external_id:
        message.external_id = external_id
    message.external_send_result = sent_result(channel.platform, external_id)
    return list(SENT_FIELDS)


def mark_retry(message: Message, *, platform: str, error: str, at) -> list[str]:
    """A transient failure: still ``pending``, due again ``at``."""
    message.next_attempt_at = at
    message.external_send_result = failed_result(platform, error)
    return list(OUTCOME_FIELDS)


def mark_failed(message: Message, *, platform: str, error: str) -> list[str]:
    """``pending`` -> ``failed`` for good, with the platform's (or our) reason."""
    message.delivery_status, message.next_attempt_at = Message.Delivery.FAILED, None
    message.external_send_result = failed_result(platform, error)
    return list(OUTCOME_FIELDS)


def mark_delivered_offline(message: Message, *, platform: str) -> list[str]:
    """``pending`` -> ``sent`` without a platform call (the offline demo data): no platform id."""
    message.delivery_status, message.next_attempt_at = Message.Delivery.SENT, None
    message.external_send_result = sent_result(platform)
    return ["delivery_status", "next_attempt_at", "external_send_result"]
