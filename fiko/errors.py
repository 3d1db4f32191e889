"""Machine-readable error codes shared by every socket and API (SPEC.md, "close codes")."""
from enum import IntEnum, StrEnum


class ErrorCode(StrEnum):
    INVALID_JSON = "invalid_json"
    UNKNOWN_TYPE = "unknown_type"
    INVALID_INPUT = "invalid_input"
    INVALID_FILTER = "invalid_filter"
    EMPTY_CONTENT = "empty_content"
    NOT_JOINED = "not_joined"
    NOT_FOUND = "not_found"
    TOO_LONG = "too_long"
    RATE_LIMITED = "rate_limited"
    FORBIDDEN = "forbidden"
    TOKEN_EXPIRED = "token_expired"
    INVALID_CREDENTIALS = "invalid_credentials"  # wrong login, or an unusable token (REST 401)
    TOO_LARGE = "too_large"  # an upload over UPLOAD_MAX_BYTES (REST 413)
    UNSUPPORTED_TYPE = "unsupported_type"  # an upload whose content is not an accepted type (REST 415)
    SLOW_CONSUMER = "slow_consumer"  # a socket's unsent frames exceeded the bound (close 1013)
    UNAVAILABLE = "unavailable"  # the database or Redis is down (REST 503, socket close 1011)
    SERVER_ERROR = "server_error"


class CloseCode(IntEnum):
    NORMAL = 1000
    POLICY_VIOLATION = 1008  # missing / invalid / expired / wrong-kind token
    MESSAGE_TOO_BIG = 1009
    UNAVAILABLE = 1011  # the database or Redis is unavailable; reconnect later
    TRY_AGAIN_LATER = 1013  # the client read too slowly; reconnect and catch up by seq
    NOT_FOUND = 4404  # conversation missing or not the user's


class FikoError(Exception):
    """Raised by services and input parsers; entry points render it (error frame or 4xx)."""

    def __init__(self, code: ErrorCode, text: str, **extra):
        super().__init__(text)
        self.code = code
        self.text = text
        self.extra = extra


class InvalidInput(FikoError):
    def __init__(self, text: str, code: ErrorCode = ErrorCode.INVALID_INPUT, **extra):
        super().__init__(code, text, **extra)


class NotFound(FikoError):
    def __init__(self, text: str = "Not found"):
        super().__init__(ErrorCode.NOT_FOUND, text)


class Forbidden(FikoError):
    def __init__(self, text: str = "Forbidden"):
        super().__init__(ErrorCode.FORBIDDEN, text)
