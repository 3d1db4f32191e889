"""Production log lines: one JSON object per line (``LOG_FORMAT=json``, the default with DEBUG
off), and the probes kept out of the log.

Each object has ``time`` (UTC, ISO 8601), ``level``, ``logger``, ``message``, and where known
``request_id``, ``socket_id``, ``workspace_id`` (fiko/log_context.py); uvicorn's access lines
add ``client``, ``method``, ``path``, ``status``; a traceback is ``exception``. Tokens are
redacted before formatting (fiko/log_redaction.py runs as the handler's filter) and the
traceback text is redacted here too.
"""
import logging
from datetime import datetime, timezone

import orjson

from fiko import log_context
from fiko.log_redaction import redact

PROBE_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})


def _access_fields(record) -> dict:
    args = record.args
    if record.name == "uvicorn.access" and isinstance(args, tuple) and len(args) == 5:
        client, method, path, _version, status = args
        return {"client": client, "method": method, "path": path, "status": status}
    return {}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update(log_context.current(record))
        entry.update(_access_fields(record))
        if record.exc_info:
            entry["exception"] = redact(self.formatException(record.exc_info))
        elif record.exc_text:
            entry["exception"] = redact(record.exc_text)
        return orjson.dumps(entry, default=str).decode()


class QuietProbes(logging.Filter):
    """Drops the access-log line of a successful health check or scrape: an orchestrator asks
    every few seconds, and those lines would drown the rest. Failures are still logged."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if record.name != "uvicorn.access" or not isinstance(args, tuple) or len(args) != 5:
            return True
        path, status = str(args[2]).split("?", 1)[0], args[4]
        return not (path in PROBE_PATHS and isinstance(status, int) and status < 400)
