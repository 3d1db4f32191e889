"""Telegram Bot API ``Update`` JSON -> plain dataclasses. No database, no network.

Only what a private chat with the bot can carry is turned into a message; every other update
kind is ``Ignored`` (answered 200, so Telegram does not retry it).
"""
from dataclasses import dataclass

from fiko.errors import InvalidInput
from integrations.inbound import PlatformPerson

MESSAGE_KEYS = ("message", "edited_message")
# Content we cannot show yet: stored as a marker, so the agent knows the customer sent something.
UNSUPPORTED_CONTENT = ("location", "venue", "contact", "poll", "dice", "game", "story", "invoice", "paid_media")


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


def message_external_id(chat_id, message_id) -> str:
    return f"{int(chat_id)}:{int(message_id)}"


def _int(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(f"{name} must be an integer")
    return value


def _largest_photo(sizes: list) -> dict:
    return max(sizes, key=lambda s: (s.get("width", 0) * s.get("height", 0), s.get("file_size", 0)))


def _file(message: dict) -> tuple[TelegramFile | None, str]:
    """The message's file (and the sticker emoji, used as text when there is no caption)."""
    def make(message_type, item, label, file_name=""):
        return TelegramFile(message_type, str(item["file_id"]), str(item.get("file_unique_id") or item["file_id"]),
                            label, file_name or item.get("file_name", ""))

    if message.get("photo"):
        return make("image", _largest_photo(message["photo"]), "photo"), ""
    if message.get("voice"):
        return make("voice", message["voice"], "voice message"), ""
    if message.get("audio"):
        return make("voice", message["audio"], "audio"), ""
    if message.get("video"):
        return make("video", message["video"], "video"), ""
    if message.get("video_note"):
        return make("video", message["video_note"], "video message"), ""
    if message.get("animation"):  # GIFs also carry "document"; the animation is the real thing
        return make("video", message["animation"], "animation"), ""
    if message.get("document"):
        return make("file", message["document"], "document"), ""
    if message.get("sticker"):
        sticker = message["sticker"]
        emoji = sticker.get("emoji", "")
        if sticker.get("is_video"):
            return make("video", sticker, "sticker"), emoji
        if sticker.get("is_animated"):  # Lottie (.tgs) cannot be shown: its still thumbnail can
            thumb = sticker.get("thumbnail") or sticker.get("thumb")
            return (make("image", thumb, "sticker") if thumb else None), emoji
        return make("image", sticker, "sticker"), emoji
    return None, ""


def parse_update(payload) -> TelegramMessage | Ignored:
    """Raises InvalidInput when the body is not an Update at all."""
    if not isinstance(payload, dict) or "update_id" not in payload:
        raise InvalidInput("not a Telegram update: update_id missing")
    update_id = _int(payload["update_id"], "update_id")
    kind = next((key for key in MESSAGE_KEYS if key in payload), None)
    if kind is None:
        other = next((key for key in payload if key != "update_id"), "empty")
        return Ignored(update_id, f"update kind {other} is not handled")
    message = payload[kind]
    if not isinstance(message, dict):
        raise InvalidInput(f"{kind} must be an object")
    chat = message.get("chat") or {}
    if chat.get("type") != "private":
        return Ignored(update_id, f"{chat.get('type', 'unknown')} chats are not handled")
    sender = message.get("from") or {}
    if sender.get("is_bot") or "id" not in sender:
        return Ignored(update_id, "not from a person")
    try:
        file, sticker_emoji = _file(message)
    except (KeyError, TypeError, ValueError):
        raise InvalidInput("malformed file in the message") from None
    text = message.get("text") or message.get("caption") or sticker_emoji or ""
    unsupported = ""
    if file is None and not text:
        unsupported = next((key for key in UNSUPPORTED_CONTENT if key in message), "")
        if not unsupported and "sticker" in message:
            unsupported = "sticker"
        if not unsupported:
            return Ignored(update_id, "message without content we handle")
    reply = message.get("reply_to_message")
    return TelegramMessage(
        update_id=update_id,
        is_edit=kind == "edited_message",
        chat_id=_int(chat.get("id"), "chat.id"),
        message_id=_int(message.get("message_id"), "message_id"),
        sender=PlatformPerson(
            external_id=str(_int(sender["id"], "from.id")),
            first_name=str(sender.get("first_name", ""))[:150],
            last_name=str(sender.get("last_name", ""))[:150],
            username=str(sender.get("username", ""))[:150],
        ),
        text=str(text),
        file=file,
        reply_to_message_id=reply.get("message_id") if isinstance(reply, dict) else None,
        unsupported=unsupported,
    )
