"""Keep tokens and platform secrets out of every log line.

Uvicorn's access log prints the WebSocket path with its query string (``?token=...``), and a
platform URL can carry a bot token (``/bot<token>/``); this filter masks both.
"""
import logging
import re

_PATTERNS = [
    (re.compile(r"([?&](?:token|access_token|hub\.verify_token)=)[^&\s\"']+", re.I), r"\1[redacted]"),
    (re.compile(r"/bot\d+:[A-Za-z0-9_-]+"), "/bot[redacted]"),
    (re.compile(r"(Bearer\s+)[A-Za-z0-9._-]+", re.I), r"\1[redacted]"),
]


def redact(text: str) -> str:
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class RedactSecretsFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:
            return True
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


def install_on_server_loggers() -> None:
    """Uvicorn and Daphne configure their own handlers; attach the filter to their loggers."""
    for name in ("uvicorn.access", "uvicorn.error", "daphne", "daphne.server", "django.request", "httpx"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactSecretsFilter) for f in logger.filters):
            logger.addFilter(RedactSecretsFilter())
