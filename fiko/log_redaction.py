"""Keep tokens and platform secrets out of every log line.

Uvicorn logs the WebSocket path with its query string (``?token=...``) on ``uvicorn.error``
and every HTTP request line (``?hub.verify_token=...`` of the Instagram webhook check) on
``uvicorn.access``; Daphne's access log prints HTTP request lines with their query string
straight to its stream, not through ``logging``; a platform URL can carry a bot token
(``/bot<token>/``). Covered by tests/fiko/test_close_codes.py against real servers.
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


def _redact_arg(value):
    return redact(value) if isinstance(value, str) else value


class RedactSecretsFilter(logging.Filter):
    """Redacts the message template and each string argument in place, keeping the shape of
    ``record.args``: uvicorn's AccessFormatter unpacks exactly five args (client, method,
    path, HTTP version, status), so collapsing them into the message would break its line.
    Only if a secret still shows (hidden in a non-string argument) is the record rendered
    and replaced by its redacted text."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and record.args:
            record.args = tuple(_redact_arg(arg) for arg in record.args)
        elif isinstance(record.args, dict) and record.args:
            record.args = {key: _redact_arg(value) for key, value in record.args.items()}
        elif isinstance(record.msg, str):
            record.msg = redact(record.msg)
        try:
            message = record.getMessage()
        except Exception:
            return True
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


def _install_on_daphne_access_log() -> None:
    try:
        from daphne.access import AccessLogGenerator
    except ImportError:  # not running under Daphne's package set
        return
    if getattr(AccessLogGenerator.write_entry, "_fiko_redacts", False):
        return
    original = AccessLogGenerator.write_entry

    def write_entry(self, host, date, request, *args, **kwargs):
        return original(self, host, date, redact(request), *args, **kwargs)

    write_entry._fiko_redacts = True
    AccessLogGenerator.write_entry = write_entry


def install_on_server_loggers() -> None:
    """Uvicorn and Daphne configure their own handlers; attach the filter to their loggers
    (a logger's filters see only records logged on that logger, hence the list), and make
    Daphne's access log redact its request lines."""
    for name in ("uvicorn.access", "uvicorn.error", "daphne", "daphne.server", "django.request", "httpx"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactSecretsFilter) for f in logger.filters):
            logger.addFilter(RedactSecretsFilter())
    _install_on_daphne_access_log()
