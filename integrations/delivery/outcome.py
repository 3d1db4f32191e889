"""What one send attempt came to, in platform-neutral terms (the clients classify, the outbox
acts on it)."""
from dataclasses import dataclass


@dataclass(frozen=True)
class OutboundMessage:
    """A stored staff message as a platform client needs it."""

    recipient_id: str  # Telegram chat id / Instagram-scoped id
    text: str
    message_type: str  # text | image | voice | video | file
    media_url: str = ""  # absolute URL the platform can fetch
    media_path: str = ""  # our local copy, uploaded when the platform accepts uploads
    reply_to_external_id: str = ""


@dataclass(frozen=True)
class SendOutcome:
    SENT = "sent"
    RETRY = "retry"  # network, 5xx, rate limits: try again later
    FAILED = "failed"  # the platform refused for good (blocked, outside the window, bad request)

    status: str
    external_message_id: str = ""
    error: str = ""
    retry_after: float | None = None  # seconds, when the platform said how long to wait

    @classmethod
    def sent(cls, external_message_id: str):
        return cls(cls.SENT, external_message_id=str(external_message_id))

    @classmethod
    def retry(cls, error: str, retry_after: float | None = None):
        return cls(cls.RETRY, error=error, retry_after=retry_after)

    @classmethod
    def failed(cls, error: str):
        return cls(cls.FAILED, error=error)
