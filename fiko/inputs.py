"""One parser per kind of input, used by REST, sockets and webhooks alike.

- JSON (``loads_json``): at most ``MAX_JSON_DEPTH`` levels of nesting, no lone UTF-16
  surrogates, no NUL characters (in keys or strings), no NaN/Infinity. Anything else is
  ``invalid_json``: a 400 on REST, an error frame on a socket; a webhook acknowledges it
  (200, ignored and logged) so the platform does not repeat it.
- Integers and ids (``parse_int``, ``parse_id``): JSON integers, or strings of ASCII digits
  (no sign, no spaces, no ``_``, no other scripts' digits), within the column's range.
- Dates (``parse_moment``): ``YYYY-MM-DD`` (a whole day) or an ISO 8601 datetime, whose UTC
  value lies within the years 1-9999.
- Text (``check_text``): no NUL characters (PostgreSQL refuses them in text columns).
- ``describe``: a short, always-encodable rendering of a bad value for an error message (an
  error never echoes input it cannot encode).
"""
import re
from datetime import datetime, time, timedelta
from datetime import timezone as dt_timezone

from urllib.parse import urlsplit

import orjson
from django.conf import settings
from django.utils.dateparse import parse_date, parse_datetime

from fiko.errors import ErrorCode, InvalidInput

MAX_JSON_DEPTH = 32
BIGINT_MAX = 2**63 - 1  # ids are BigAutoField (PostgreSQL bigint)
INT_MAX = 2**31 - 1  # PositiveIntegerField / IntegerField columns
_DIGITS = re.compile(r"[0-9]{1,19}")
JSON_ERROR_TEXT = "Invalid JSON format"


class InvalidJSON(InvalidInput):
    def __init__(self, reason: str):
        # The text is the seeds' literal; why it is invalid goes in ``reason``.
        super().__init__(JSON_ERROR_TEXT, ErrorCode.INVALID_JSON, reason=reason)


# --- JSON ----------------------------------------------------------------------------------
def loads_json(data: str | bytes | bytearray | memoryview):
    """Decode a JSON document under the rules above. Raises InvalidJSON."""
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise InvalidJSON(_json_reason(str(exc))) from None
    except (TypeError, UnicodeError):  # a str holding lone surrogates cannot be UTF-8 encoded
        raise InvalidJSON("the text is not valid UTF-8 (lone surrogate)") from None
    check_json_value(value)
    return value


def _json_reason(message: str) -> str:
    lowered = message.lower()
    if "utf-8" in lowered:
        return "the text is not valid UTF-8"
    if "recursion" in lowered:
        return f"nested deeper than {MAX_JSON_DEPTH} levels"
    if "surrogate" in lowered:
        return "lone UTF-16 surrogates are not allowed"
    return message.split(":", 1)[0][:120]  # orjson's reason, without the position


def check_json_value(value) -> None:
    """Depth and NUL rules on an already decoded value (iterative: no recursion to exhaust).
    A NUL names the top-level field it was found under (``field``), when there is one."""
    stack = [(value, 1, None)]
    while stack:
        item, depth, field = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                raise _nul(field)
        elif isinstance(item, (dict, list)):
            if depth > MAX_JSON_DEPTH:
                raise InvalidJSON(f"nested deeper than {MAX_JSON_DEPTH} levels")
            if isinstance(item, dict):
                for key, child in item.items():
                    if "\x00" in key:
                        raise _nul(field)
                    stack.append((child, depth + 1, key if depth == 1 else field))
            else:
                stack.extend((child, depth + 1, field) for child in item)


def _nul(field: str | None) -> InvalidJSON:
    error = InvalidJSON("NUL characters are not allowed")
    if field is not None:
        error.extra["field"] = describe(field)
    return error


# --- text ----------------------------------------------------------------------------------
def describe(value, limit: int = 64) -> str:
    """A bad value as it may appear in an error message: shortened, with NULs, control
    characters and lone surrogates escaped, so the message itself is always valid UTF-8."""
    text = value if isinstance(value, str) else repr(value)
    text = text[:limit] + ("…" if len(text) > limit else "")
    out = []
    for ch in text:
        code = ord(ch)
        if code < 0x20 or code == 0x7F or 0xD800 <= code <= 0xDFFF:
            out.append(f"\\u{code:04x}")
        else:
            out.append(ch)
    return "".join(out)


def check_text(value: str, field: str, code: ErrorCode = ErrorCode.INVALID_INPUT) -> str:
    """Text that can be stored: no NUL characters, no lone surrogates."""
    if "\x00" in value:
        raise InvalidInput(f"{field} must not contain NUL characters", code, field=field)
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidInput(f"{field} must be valid Unicode text", code, field=field) from None
    return value


# --- URLs in messages ---------------------------------------------------------------------
MAX_URL_CHARS = 500  # Message.media_url / thumbnail_url
_URL_FORBIDDEN = re.compile(r"[\x00-\x20\x7f\\<>\"']")


def parse_media_url(value, *, allow_external: bool, field: str = "media_url") -> str:
    """A message's media URL: a file served here (``/uploads/...``, bare or on
    PUBLIC_BASE_URL), or, when ``allow_external`` (staff), an absolute http(s) URL. Never a
    ``javascript:``/``data:`` URL or anything a browser could run. "" when empty."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InvalidInput(f"{field} must be a string", field=field)
    url = value.strip()
    if not url:
        return ""
    if len(url) <= MAX_URL_CHARS and not _URL_FORBIDDEN.search(url):
        own = (settings.MEDIA_URL, f"{settings.PUBLIC_BASE_URL}{settings.MEDIA_URL}")
        if url.startswith(own) and ".." not in url:
            return url
        if allow_external:
            parts = urlsplit(url)
            if parts.scheme in ("http", "https") and parts.hostname and url.lower().startswith(("http://", "https://")):
                return url
    allowed = f"a file uploaded here ({settings.MEDIA_URL}...)" + (" or an http(s) URL" if allow_external else "")
    raise InvalidInput(f"{field} must be {allowed} of at most {MAX_URL_CHARS} characters", field=field)


# --- integers and ids ----------------------------------------------------------------------
def parse_int(value, field: str, *, minimum: int = 0, maximum: int = BIGINT_MAX,
              code: ErrorCode = ErrorCode.INVALID_INPUT) -> int:
    """A JSON integer, or a string of ASCII digits, within [minimum, maximum]."""
    if isinstance(value, bool):
        number = None
    elif isinstance(value, int):
        number = value
    elif isinstance(value, str) and _DIGITS.fullmatch(value):
        number = int(value)
    else:
        number = None
    if number is None:
        raise InvalidInput(f"{field} must be an integer (ASCII digits)", code, field=field)
    if not minimum <= number <= maximum:
        raise InvalidInput(f"{field} must be between {minimum} and {maximum}", code, field=field)
    return number


def parse_id(value, field: str = "id", *, code: ErrorCode = ErrorCode.INVALID_INPUT) -> int:
    """An object id: a positive integer (ASCII digits) that fits a bigint column."""
    try:
        return parse_int(value, field, minimum=1, maximum=BIGINT_MAX, code=code)
    except InvalidInput:
        raise InvalidInput(f"{field} must be a positive integer id", code, field=field) from None


def id_or_none(value) -> int | None:
    """The id a URL segment or a lookup names, or None when it cannot name any object (so the
    caller answers exactly as for a missing one)."""
    try:
        return parse_id(value)
    except InvalidInput:
        return None


# --- dates ---------------------------------------------------------------------------------
def parse_moment(value: str, *, end: bool = False) -> tuple[datetime, bool] | None:
    """``YYYY-MM-DD`` (``end``: up to the end of that day) or an ISO 8601 datetime, as an aware
    UTC datetime and whether the bound is exclusive. None when the text is not a date, is an
    impossible date, or falls outside the years 1-9999 once in UTC."""
    if not isinstance(value, str) or "\x00" in value:
        return None
    try:
        day = parse_date(value)
    except ValueError:  # well-formed but impossible, e.g. 2024-13-45
        return None
    try:
        if day is not None:
            if end and day == datetime.max.date():  # the last day there is: up to its very end
                return datetime.max.replace(tzinfo=dt_timezone.utc), False
            moment = datetime.combine(day + timedelta(days=1) if end else day, time.min)
            return moment.replace(tzinfo=dt_timezone.utc), end
        moment = parse_datetime(value.replace("Z", "+00:00") if value.endswith("Z") else value)
        if moment is None:
            return None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=dt_timezone.utc)
        return moment.astimezone(dt_timezone.utc), False
    except (ValueError, OverflowError):  # day 9999-12-31 + 1, an offset past year 1 or 9999
        return None
