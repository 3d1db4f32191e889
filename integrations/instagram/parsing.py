"""Instagram messaging webhook JSON -> plain dataclasses. No database, no network.

``{"object": "instagram", "entry": [{"id", "time", "messaging": [event, ...]}]}``; each event has
``sender``/``recipient`` ids and one of ``message`` (text, attachments, reply_to, is_echo,
is_deleted, is_unsupported), ``message_edit``, ``read``. Anything else is ``Ignored``.

``parse_webhook`` never raises on input. Every field it reads is checked for the type Meta
documents and for what our columns can hold: ids are ASCII digits (they also go into Graph API
paths), a ``mid`` and every key built from it fit ``Message.external_id`` and
``InboundEvent.event_key``, text has no NUL, attachment URLs are http(s). An event that fails is
``Ignored`` with ``malformed=True`` (the other events of the delivery still count): the same
bytes would fail the same way on every redelivery.
"""
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx
from fiko.inputs import INT_MAX, describe

ATTACHMENT_TYPES = {"image": "image", "animated_image": "image", "audio": "voice", "video": "video", "file": "file"}
ATTACHMENT_LABELS = {"share": "shared post", "story_mention": "story mention", "ig_reel": "reel", "reel": "reel",
                     "ig_post": "post", "template": "template", "fallback": "link"}
EXTERNAL_ID_MAX = 255  # conversations.Message.external_id
EVENT_KEY_MAX = 255  # integrations.InboundEvent.event_key
PLATFORM_ID = re.compile(r"[0-9]{1,64}")  # IGSIDs and account ids: digits (Customer.external_id holds 128)
MAX_ATTACHMENTS = 32  # each one is a download inside the webhook request
URL_MAX = 4096
KIND_MAX = 64


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

    @property
    def external_ids(self) -> list[str]:
        """The platform ids of the rows it stores: one per attachment (the first keeps the mid)."""
        return [self.mid] + [f"{self.mid}#{index + 1}" for index in range(1, len(self.attachments))]


@dataclass(frozen=True)
class IGEdit:
    sender_id: str
    mid: str
    text: str
    num_edit: int

    @property
    def event_key(self) -> str:
        return f"edit:{self.mid}:{self.num_edit}"

    @property
    def external_ids(self) -> list[str]:
        return [self.mid]


@dataclass(frozen=True)
class IGRead:
    sender_id: str
    mid: str

    @property
    def event_key(self) -> str:
        return f"read:{self.sender_id}:{self.mid}"

    @property
    def external_ids(self) -> list[str]:
        return []  # only looked up, never stored


@dataclass(frozen=True)
class Ignored:
    reason: str
    ref: str = ""  # the mid (or sender id) it names, when it has one: for the log line
    malformed: bool = False  # True: not what Meta sends (logged as a warning)


class Malformed(Exception):
    """A field is not what Meta documents; ``str()`` is the reason (safe to log)."""


# --- typed field access ---------------------------------------------------------------------
def _kind(value) -> str:
    """The JSON type of a value, for a reason (the value itself is never echoed)."""
    return {bool: "a boolean", int: "a number", float: "a number", str: "a string", list: "a list",
            dict: "an object", type(None): "null"}.get(type(value), "something else")


def _dict(value, name: str) -> dict:
    if not isinstance(value, dict):
        raise Malformed(f"{name} must be an object, not {_kind(value)}")
    return value


def _text(value, name: str) -> str:
    if not isinstance(value, str):
        raise Malformed(f"{name} must be a string, not {_kind(value)}")
    if "\x00" in value:
        raise Malformed(f"{name} contains a NUL character")
    return value


def _optional_text(container: dict, key: str, name: str) -> str:
    value = container.get(key)
    return "" if value is None else _text(value, name)


def _flag(container: dict, key: str, name: str) -> bool:
    value = container.get(key, False)
    if not isinstance(value, bool):
        raise Malformed(f"{name} must be true or false, not {_kind(value)}")
    return value


def _id(value, name: str) -> str:
    """``{"id": "<digits>"}`` (Meta sends strings; a JSON integer is taken as its digits)."""
    identifier = _dict(value, name).get("id")
    if isinstance(identifier, int) and not isinstance(identifier, bool):
        identifier = str(identifier)
    if not isinstance(identifier, str) or not PLATFORM_ID.fullmatch(identifier):
        raise Malformed(f"{name}.id must be 1 to 64 ASCII digits")
    return identifier


def _mid(container: dict, name: str, *, required: bool = True) -> str:
    mid = _optional_text(container, "mid", f"{name}.mid")
    if required and not mid:
        raise Malformed(f"{name}.mid missing")
    if len(mid) > EXTERNAL_ID_MAX:
        raise Malformed(f"{name}.mid longer than {EXTERNAL_ID_MAX} characters")
    return mid


def _fetchable(url: str) -> bool:
    """An http(s) URL with a host that our HTTP client will actually request (it refuses some
    that ``urlsplit`` takes: a port past 65535, a host that is not valid IDNA)."""
    if len(url) > URL_MAX or any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in url):
        return False
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError outside 0-65535
        host = httpx.URL(url).host  # decodes IDNA, raising on a malformed A-label
    except (httpx.InvalidURL, ValueError):  # IDNA errors are UnicodeErrors, i.e. ValueErrors
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname) and bool(host)


def _url(value, name: str) -> str:
    url = "" if value is None else _text(value, name)
    if url and not _fetchable(url):
        raise Malformed(f"{name} must be an http(s) URL of at most {URL_MAX} characters")
    return url


def _attachments(raw) -> tuple:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise Malformed(f"message.attachments must be a list, not {_kind(raw)}")
    if len(raw) > MAX_ATTACHMENTS:
        raise Malformed(f"more than {MAX_ATTACHMENTS} attachments")
    items = []
    for index, attachment in enumerate(raw):
        name = f"message.attachments[{index}]"
        attachment = _dict(attachment, name)
        kind = _optional_text(attachment, "type", f"{name}.type") or "unknown"
        if len(kind) > KIND_MAX:
            raise Malformed(f"{name}.type longer than {KIND_MAX} characters")
        payload = attachment.get("payload")
        payload = {} if payload is None else _dict(payload, f"{name}.payload")
        items.append(IGAttachment(kind, _url(payload.get("url"), f"{name}.payload.url"),
                                  _optional_text(payload, "title", f"{name}.payload.title")))
    return tuple(items)


# --- events ---------------------------------------------------------------------------------
def _message(event: dict) -> IGMessage:
    message = _dict(event["message"], "message")
    reply_to = message.get("reply_to")
    reply_to = {} if reply_to is None else _dict(reply_to, "message.reply_to")
    return IGMessage(
        sender_id=_id(event.get("sender"), "sender"),
        recipient_id=_id(event.get("recipient"), "recipient"),
        mid=_mid(message, "message"),
        text=_optional_text(message, "text", "message.text"),
        attachments=_attachments(message.get("attachments")),
        reply_to_mid=_mid(reply_to, "message.reply_to", required=False),
        is_echo=_flag(message, "is_echo", "message.is_echo"),
        is_deleted=_flag(message, "is_deleted", "message.is_deleted"),
        is_unsupported=_flag(message, "is_unsupported", "message.is_unsupported"),
    )


def _edit(event: dict) -> IGEdit:
    edit = _dict(event["message_edit"], "message_edit")
    num_edit = edit.get("num_edit", 0)
    if num_edit is None:
        num_edit = 0
    if isinstance(num_edit, bool) or not isinstance(num_edit, int) or not 0 <= num_edit <= INT_MAX:
        raise Malformed(f"message_edit.num_edit must be an integer between 0 and {INT_MAX}")
    return IGEdit(_id(event.get("sender"), "sender"), _mid(edit, "message_edit"),
                  _optional_text(edit, "text", "message_edit.text"), num_edit)


def _read(event: dict) -> IGRead:
    read = _dict(event["read"], "read")
    return IGRead(_id(event.get("sender"), "sender"), _mid(read, "read", required=False))


def _ref(event) -> str:
    """The mid an event names (or its sender id), for the log line of an ignored event."""
    if not isinstance(event, dict):
        return ""
    for body in event.values():  # message, message_edit, read, reaction ...: whichever names a mid
        if isinstance(body, dict) and isinstance(body.get("mid"), str) and body["mid"]:
            return body["mid"]
    sender = event.get("sender")
    identifier = sender.get("id") if isinstance(sender, dict) else None
    return identifier if isinstance(identifier, (str, int)) and not isinstance(identifier, bool) else ""


def _event(event):
    """One messaging event as what we store, or why it is ignored. Never raises on input."""
    try:
        event = _dict(event, "messaging event")
        if "message" in event:
            parsed = _message(event)
        elif "message_edit" in event:
            parsed = _edit(event)
        elif "read" in event:
            parsed = _read(event)
        else:
            kind = next((key for key in event if key not in ("sender", "recipient", "timestamp")), "empty")
            return Ignored(f"event kind {describe(kind, 40)} is not handled", _ref(event))
        if len(parsed.event_key) > EVENT_KEY_MAX or any(len(i) > EXTERNAL_ID_MAX for i in parsed.external_ids):
            raise Malformed(f"mid too long for our ids (at most {EXTERNAL_ID_MAX} characters)")
        return parsed
    except Malformed as exc:
        return Ignored(f"malformed event: {exc}", _ref(event), malformed=True)


def parse_webhook(payload) -> list:
    """Every messaging event of the delivery, in order (an ``Ignored`` for what we do not take)."""
    if not isinstance(payload, dict) or not isinstance(payload.get("entry"), list):
        return [Ignored("not an Instagram webhook notification: entry missing", malformed=True)]
    if payload.get("object") not in ("instagram", "page"):
        return [Ignored(f"object {describe(payload.get('object'), 40)!r} is not handled")]
    events = []
    for index, entry in enumerate(payload["entry"]):
        if not isinstance(entry, dict):
            events.append(Ignored(f"malformed notification: entry[{index}] must be an object", malformed=True))
            continue
        messaging = entry.get("messaging")
        if messaging is None:
            events.append(Ignored("entry without messaging (e.g. comments) is not handled"))
        elif not isinstance(messaging, list):
            events.append(Ignored(f"malformed notification: entry[{index}].messaging must be a list", malformed=True))
        else:
            events.extend(_event(event) for event in messaging)
    return events
