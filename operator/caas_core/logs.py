"""Structured (JSON lines) or plain logging for the platform's processes."""

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any, Final

from caas_core.settings import LogFormat, LogLevel

# Attributes every LogRecord has; anything else on a record came from `extra=`.
# (uvicorn adds color_message, an ANSI-coloured duplicate of the message.)
_RECORD_ATTRS: Final = frozenset(vars(logging.makeLogRecord({}))) | {
    "message",
    "asctime",
    "color_message",
}
_TEXT_FORMAT: Final = "%(asctime)s %(levelname)-8s %(name)s: %(message)s"


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, plus the record's extras."""

    def format(self, record: logging.LogRecord) -> str:
        """Render the record as a single JSON line."""
        payload: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        payload |= {k: v for k, v in vars(record).items() if k not in _RECORD_ATTRS}
        if record.exc_info:
            payload["exception"] = self.formatException(record.exc_info)
        return json.dumps(payload, default=str)


def configure_logging(*, log_format: LogFormat, level: LogLevel) -> None:
    """Send every logger's records to stderr in the chosen format."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JsonFormatter() if log_format == "json" else logging.Formatter(_TEXT_FORMAT)
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
