"""Instagram messaging webhook JSON -> plain dataclasses. No database, no network.

``{"object": "instagram", "entry": [{"id", "time", "messaging": [event, ...]}]}``; each event has
``sender``/``recipient`` ids and one of ``message`` (text, attachments, reply_to, is_echo,
is_deleted, is_unsupported), ``message_edit``, ``read``. Anything else is ``Ignored``.
"""
from dataclasses import dataclass

from fiko.errors import InvalidInput

ATTACHMENT_TYPES = {"image": "image", "animated_image": "image", "audio": "voice", "video": "video", "file": "file"}
ATTACHMENT_LABELS = {"share": "shared post", "story_mention": "story mention", "ig_reel": "reel", "reel": "reel",
                     "ig_post": "post", "template": "template", "fallback": "link"}


@dataclass(frozen=True)
class IGAttachment:
    kind: str  # the platform's type: image, audio, video, file, share, story_mention ...
    url: str = ""
    title: str = ""

    @property
    def message_type(self) -> str | None:
        """Our message type when we fetch and show it, else None (stored as a marker)."""
        return ATTACHMENT_TYPES.get(self.kind) if self.url else None

    @property
    def label(self) -> str:
        return ATTACHMENT_LABELS.get(self.kind, self.kind.replace("_", " "))


@dataclass(frozen=True)
class IGMessage:
    sender_id: str
    recipient_id: str
    mid: str
    text: str = ""
    attachments: tuple = ()
    reply_to_mid: str = ""
    is_echo: bool = False
    is_deleted: bool = False
    is_unsupported: bool = False

    @property
    def event_key(self) -> str:
        return f"deleted:{self.mid}" if self.is_deleted else f"mid:{self.mid}"

    @property
    def customer_id(self) -> str:
        """The customer is the recipient of an echo and the sender of anything else."""
        return self.recipient_id if self.is_echo else self.sender_id


@dataclass(frozen=True)
class IGEdit:
    sender_id: str
    mid: str
    text: str
    num_edit: int

    @property
    def event_key(self) -> str:
        return f"edit:{self.mid}:{self.num_edit}"


@dataclass(frozen=True)
class IGRead:
    sender_id: str
    mid: str

    @property
    def event_key(self) -> str:
        return f"read:{self.sender_id}:{self.mid}"


@dataclass(frozen=True)
class Ignored:
    reason: str


def _id(value, name: str) -> str:
    identifier = (value or {}).get("id") if isinstance(value, dict) else None
    if identifier in (None, ""):
        raise InvalidInput(f"{name}.id missing")
    return str(identifier)


def _attachments(raw) -> tuple:
    items = []
    for attachment in raw if isinstance(raw, list) else []:
        if not isinstance(attachment, dict):
            continue
        payload = attachment.get("payload") if isinstance(attachment.get("payload"), dict) else {}
        items.append(IGAttachment(str(attachment.get("type", "unknown")), str(payload.get("url") or ""),
                                  str(payload.get("title") or "")))
    return tuple(items)


def _event(event: dict):
    if not isinstance(event, dict):
        raise InvalidInput("messaging event must be an object")
    if isinstance(event.get("message"), dict):
        message = event["message"]
        if not message.get("mid"):
            raise InvalidInput("message.mid missing")
        reply_to = message.get("reply_to") if isinstance(message.get("reply_to"), dict) else {}
        return IGMessage(
            sender_id=_id(event.get("sender"), "sender"),
            recipient_id=_id(event.get("recipient"), "recipient"),
            mid=str(message["mid"]),
            text=str(message.get("text") or ""),
            attachments=_attachments(message.get("attachments")),
            reply_to_mid=str(reply_to.get("mid") or ""),
            is_echo=bool(message.get("is_echo")),
            is_deleted=bool(message.get("is_deleted")),
            is_unsupported=bool(message.get("is_unsupported")),
        )
    if isinstance(event.get("message_edit"), dict):
        edit = event["message_edit"]
        if not edit.get("mid"):
            raise InvalidInput("message_edit.mid missing")
        return IGEdit(_id(event.get("sender"), "sender"), str(edit["mid"]), str(edit.get("text") or ""),
                      int(edit.get("num_edit") or 0))
    if isinstance(event.get("read"), dict):
        return IGRead(_id(event.get("sender"), "sender"), str(event["read"].get("mid") or ""))
    kind = next((key for key in event if key not in ("sender", "recipient", "timestamp")), "empty")
    return Ignored(f"event kind {kind} is not handled")


def parse_webhook(payload) -> list:
    """Every messaging event of the delivery, in order. Raises InvalidInput for a body that is
    not a webhook notification at all."""
    if not isinstance(payload, dict) or not isinstance(payload.get("entry"), list):
        raise InvalidInput("not an Instagram webhook notification: entry missing")
    if payload.get("object") not in ("instagram", "page"):
        return [Ignored(f"object {payload.get('object')!r} is not handled")]
    events = []
    for entry in payload["entry"]:
        if not isinstance(entry, dict):
            raise InvalidInput("entry must be a list of objects")
        messaging = entry.get("messaging")
        if not isinstance(messaging, list):
            events.append(Ignored("entry without messaging (e.g. comments) is not handled"))
            continue
        events.extend(_event(event) for event in messaging)
    return events
