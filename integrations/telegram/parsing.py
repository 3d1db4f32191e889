"""Telegram Bot API ``Update`` JSON -> plain dataclasses. No database, no network.

Only what a private chat with the bot can carry is turned into a message; every other update
kind is ``Ignored`` (answered 200, so Telegram does not retry it).

``parse_update`` never raises on input: every field it reads is checked for the type the Bot
API documents and for what our columns can hold (ids within bigint, so ``<chat_id>:<message_id>``
and the customer's id fit; no NUL in text). Anything else is ``Ignored`` with a reason and
``malformed=True``: the same bytes would fail the same way on every redelivery.
"""
from dataclasses import dataclass

from fiko.inputs import BIGINT_MAX, describe
from integrations.inbound import PlatformPerson

MESSAGE_KEYS = ("message", "edited_message")
# Content we cannot show yet: stored as a marker, so the agent knows the customer sent something.
UNSUPPORTED_CONTENT = ("location", "venue", "contact", "poll", "dice", "game", "story", "invoice", "paid_media")
# Message keys holding one file object, in the order we prefer them (an animation also carries
# "document": the animation is the real thing). "photo" (a list of sizes) and "sticker" are apart.
FILE_KEYS = (("voice", "voice", "voice message"), ("audio", "voice", "audio"), ("video", "video", "video"),
             ("video_note", "video", "video message"), ("animation", "video", "animation"),
             ("document", "file", "document"))
NAME_MAX = 150  # Customer.first_name / last_name / username
FILE_ID_MAX = 255  # Telegram's file ids are ~100 characters; anything far longer is not one


@dataclass(frozen=True)
class TelegramFile:
    """A file to fetch with getFile: what it becomes on our side and what to call it."""

    message_type: str  # image | voice | video | file
    file_id: str
    file_unique_id: str
    label: str  # photo, voice, video, document, sticker ... (for markers)
    file_name: str = ""


@dataclass(frozen=True)
class TelegramMessage:
    update_id: int
    is_edit: bool
    chat_id: int
    message_id: int
    sender: PlatformPerson
    text: str  # the text, or the media caption
    file: TelegramFile | None = None
    reply_to_message_id: int | None = None
    unsupported: str = ""  # e.g. "location": content we store only as a marker

    @property
    def event_key(self) -> str:
        return f"update:{self.update_id}"

    @property
    def external_id(self) -> str:
        """Telegram message ids are per chat: our platform id is ``<chat_id>:<message_id>``."""
        return message_external_id(self.chat_id, self.message_id)

    @property
    def reply_to_external_id(self) -> str | None:
        if self.reply_to_message_id is None:
            return None
        return message_external_id(self.chat_id, self.reply_to_message_id)


@dataclass(frozen=True)
class Ignored:
    update_id: int | None
    reason: str
    malformed: bool = False  # True: not what the Bot API sends (logged as a warning)


class Malformed(Exception):
    """A field is not what the Bot API documents; ``str()`` is the reason (safe to log)."""


def message_external_id(chat_id, message_id) -> str:
    return f"{int(chat_id)}:{int(message_id)}"


# --- typed field access ---------------------------------------------------------------------
def _kind(value) -> str:
    """The JSON type of a value, for a reason (the value itself is never echoed)."""
    return {bool: "a boolean", int: "a number", float: "a number", str: "a string", list: "a list",
            dict: "an object", type(None): "null"}.get(type(value), "something else")


def _int(value, name: str, *, minimum: int = 1, maximum: int = BIGINT_MAX) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise Malformed(f"{name} must be an integer, not {_kind(value)}")
    if not minimum <= value <= maximum:
        raise Malformed(f"{name} must be between {minimum} and {maximum}")
    return value


def _dict(value, name: str) -> dict:
    if not isinstance(value, dict):
        raise Malformed(f"{name} must be an object, not {_kind(value)}")
    return value


def _text(value, name: str, *, limit: int | None = None) -> str:
    """A string without NUL (PostgreSQL refuses them); ``limit`` truncates (names only)."""
    if not isinstance(value, str):
        raise Malformed(f"{name} must be a string, not {_kind(value)}")
    if "\x00" in value:
        raise Malformed(f"{name} contains a NUL character")
    return value[:limit] if limit is not None else value


def _optional_text(container: dict, key: str, name: str, *, limit: int | None = None) -> str:
    value = container.get(key)
    return "" if value is None else _text(value, name, limit=limit)


def _flag(container: dict, key: str, name: str) -> bool:
    value = container.get(key, False)
    if not isinstance(value, bool):
        raise Malformed(f"{name} must be true or false, not {_kind(value)}")
    return value


def _size(item: dict, key: str, name: str) -> int:
    value = item.get(key, 0)
    return 0 if value is None else _int(value, name, minimum=0)


# --- files ----------------------------------------------------------------------------------
def _make_file(message_type: str, item, label: str, name: str) -> TelegramFile:
    item = _dict(item, name)
    file_id = _text(item.get("file_id"), f"{name}.file_id")
    if not file_id or len(file_id) > FILE_ID_MAX:
        raise Malformed(f"{name}.file_id must be 1 to {FILE_ID_MAX} characters")
    unique = _optional_text(item, "file_unique_id", f"{name}.file_unique_id") or file_id
    if len(unique) > FILE_ID_MAX:
        raise Malformed(f"{name}.file_unique_id must be at most {FILE_ID_MAX} characters")
    file_name = _optional_text(item, "file_name", f"{name}.file_name")
    return TelegramFile(message_type, file_id, unique, label, file_name)


def _largest_photo(sizes) -> dict:
    if not isinstance(sizes, list) or not sizes:
        raise Malformed("photo must be a non-empty list of sizes")
    for index, size in enumerate(sizes):
        _dict(size, f"photo[{index}]")

    def area(size: dict):
        return (_size(size, "width", "photo.width") * _size(size, "height", "photo.height"),
                _size(size, "file_size", "photo.file_size"))

    return max(sizes, key=area)


def _sticker(sticker) -> tuple[TelegramFile | None, str]:
    sticker = _dict(sticker, "sticker")
    emoji = _optional_text(sticker, "emoji", "sticker.emoji")
    if _flag(sticker, "is_video", "sticker.is_video"):
        return _make_file("video", sticker, "sticker", "sticker"), emoji
    if _flag(sticker, "is_animated", "sticker.is_animated"):  # Lottie (.tgs) cannot be shown: its still thumbnail can
        thumb = sticker.get("thumbnail") or sticker.get("thumb")
        return (_make_file("image", thumb, "sticker", "sticker.thumbnail") if thumb else None), emoji
    return _make_file("image", sticker, "sticker", "sticker"), emoji


def _file(message: dict) -> tuple[TelegramFile | None, str]:
    """The message's file (and the sticker emoji, used as text when there is no caption)."""
    if message.get("photo") is not None:
        return _make_file("image", _largest_photo(message["photo"]), "photo", "photo"), ""
    for key, message_type, label in FILE_KEYS:
        if message.get(key) is not None:
            return _make_file(message_type, message[key], label, key), ""
    if message.get("sticker") is not None:
        return _sticker(message["sticker"])
    return None, ""


# --- the update -----------------------------------------------------------------------------
def parse_update(payload) -> TelegramMessage | Ignored:
    """The update as a message we store, or why it is ignored. Never raises on bad input."""
    if not isinstance(payload, dict) or "update_id" not in payload:
        return Ignored(None, "not a Telegram update: update_id missing", malformed=True)
    try:
        update_id = _int(payload["update_id"], "update_id", minimum=0)
    except Malformed as exc:
        return Ignored(None, f"not a Telegram update: {exc}", malformed=True)
    try:
        return _message(update_id, payload)
    except Malformed as exc:
        return Ignored(update_id, f"malformed update: {exc}", malformed=True)


def _message(update_id: int, payload: dict) -> TelegramMessage | Ignored:
    kind = next((key for key in MESSAGE_KEYS if key in payload), None)
    if kind is None:
        other = next((key for key in payload if key != "update_id"), "empty")
        return Ignored(update_id, f"update kind {describe(other, 40)} is not handled")
    message = _dict(payload[kind], kind)
    chat = _dict(message.get("chat", {}), "chat")
    chat_type = _optional_text(chat, "type", "chat.type") or "unknown"
    if chat_type != "private":
        return Ignored(update_id, f"{describe(chat_type, 40)} chats are not handled")
    sender = _dict(message.get("from", {}), "from")
    if _flag(sender, "is_bot", "from.is_bot") or "id" not in sender:
        return Ignored(update_id, "not from a person")
    person = PlatformPerson(
        external_id=str(_int(sender["id"], "from.id")),
        first_name=_optional_text(sender, "first_name", "from.first_name", limit=NAME_MAX),
        last_name=_optional_text(sender, "last_name", "from.last_name", limit=NAME_MAX),
        username=_optional_text(sender, "username", "from.username", limit=NAME_MAX),
    )
    chat_id = _int(chat.get("id"), "chat.id")
    message_id = _int(message.get("message_id"), "message_id")
    file, sticker_emoji = _file(message)
    text = (_optional_text(message, "text", "text") or _optional_text(message, "caption", "caption")
            or sticker_emoji)
    reply_to_message_id = None
    if message.get("reply_to_message") is not None:
        reply = _dict(message["reply_to_message"], "reply_to_message")
        reply_to_message_id = _int(reply.get("message_id"), "reply_to_message.message_id")
    unsupported = ""
    if file is None and not text:
        unsupported = next((key for key in UNSUPPORTED_CONTENT if key in message), "")
        if not unsupported and "sticker" in message:
            unsupported = "sticker"
        if not unsupported:
            return Ignored(update_id, "message without content we handle")
    return TelegramMessage(
        update_id=update_id, is_edit=kind == "edited_message", chat_id=chat_id, message_id=message_id,
        sender=person, text=text, file=file, reply_to_message_id=reply_to_message_id, unsupported=unsupported,
    )
