"""One log format for both processes: JSON lines (python-json-logger) or plain text.

Every JSON line has `time` (UTC, milliseconds), `level`, `logger` and `message`, then the
record's extras (`extra={...}`), and `exception` when there is one. kopf's own records (the
operator's framework) come out in the same shape: the object they concern, which kopf carries
as `k8s_ref`, becomes `object`; kopf's bookkeeping attributes are left out.
"""

import logging
import sys
from datetime import UTC, datetime
from typing import Any, Final

from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonFormatter as _JsonLinesFormatter

from caas_core.settings import LogFormat, LogLevel

# kopf's attributes on its records: the object reference (published as `object`), whether to
# skip posting a Kubernetes event, and its settings object.
_KOPF_REF: Final = "k8s_ref"
_KOPF_ATTRS: Final = frozenset({_KOPF_REF, "k8s_skip", "settings"})
# uvicorn adds color_message, an ANSI-coloured duplicate of the message.
_IGNORED: Final = frozenset(RESERVED_ATTRS) | _KOPF_ATTRS | {"color_message"}
_TEXT_FORMAT: Final = "%(asctime)s %(levelname)-8s %(name)s: %(message)s"


class JsonFormatter(_JsonLinesFormatter):
    """One JSON object per line: time, level, logger, message, the extras, the exception."""

    def __init__(self) -> None:
        super().__init__(reserved_attrs=sorted(_IGNORED), json_default=str)

    def add_fields(
        self, log_data: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]
    ) -> None:
        """The fixed fields first, then the record's extras (never kopf's internals)."""
        log_data["time"] = datetime.fromtimestamp(record.created, UTC).isoformat(
            timespec="milliseconds"
        )
        log_data["level"] = record.levelname.lower()
        log_data["logger"] = record.name
        log_data["message"] = record.getMessage()
        ref = getattr(record, _KOPF_REF, None)
        if ref is not None:
            log_data["object"] = ref
        super().add_fields(log_data, record, message_dict)
        # The base class re-adds `message` from message_dict/exc fields; keep ours and
        # publish the traceback under one stable name.
        if "exc_info" in log_data:
            log_data["exception"] = log_data.pop("exc_info")


def handler(*, log_format: LogFormat) -> logging.Handler:
    """A stderr handler in the chosen format."""
    stream = logging.StreamHandler(sys.stderr)
    stream.setFormatter(
        JsonFormatter() if log_format == "json" else logging.Formatter(_TEXT_FORMAT)
    )
    return stream


def configure_logging(*, log_format: LogFormat, level: LogLevel) -> None:
    """Send every logger's records (kopf's and uvicorn's included) to stderr in one format."""
    root = logging.getLogger()
    root.handlers[:] = [handler(log_format=log_format)]
    root.setLevel(level.upper())
