"""One JSON log format for both processes, kopf's own records included."""

import json
import logging

import kopf
import pytest

from caas_core.logs import JsonFormatter, configure_logging

pytestmark = pytest.mark.unit


def _record(**extra: object) -> logging.LogRecord:
    return logging.makeLogRecord(
        {"name": "caas_operator.tenant", "levelno": logging.WARNING, "levelname": "WARNING",
         "msg": "tenant %s reconciled", "args": ("acme",), **extra}
    )  # fmt: skip


def test_the_fixed_fields_come_first_then_the_extras() -> None:
    payload = json.loads(JsonFormatter().format(_record(tenant="acme", duration_ms=12.5)))
    assert list(payload)[:4] == ["time", "level", "logger", "message"]
    assert payload["time"].endswith("+00:00")
    assert payload["level"] == "warning"
    assert payload["logger"] == "caas_operator.tenant"
    assert payload["message"] == "tenant acme reconciled"
    assert (payload["tenant"], payload["duration_ms"]) == ("acme", 12.5)
    assert not {"args", "msg", "levelno", "exc_info", "exception"} & set(payload)


def test_exceptions_are_one_field_and_odd_values_are_strings() -> None:
    record = _record(when=object())
    record.exc_info = (ValueError, ValueError("bad"), None)
    payload = json.loads(JsonFormatter().format(record))
    assert "ValueError: bad" in payload["exception"]
    assert payload["when"].startswith("<object object")


def test_kopf_records_have_the_same_shape_with_the_object() -> None:
    ref = {"apiVersion": "platform.caas.io/v1alpha1", "kind": "Tenant", "name": "acme",
           "uid": "u-1", "namespace": None}  # fmt: skip
    kopf_record = _record(k8s_ref=ref, k8s_skip=True, settings=kopf.OperatorSettings())
    payload = json.loads(JsonFormatter().format(kopf_record))
    ours = json.loads(JsonFormatter().format(_record()))
    assert list(payload)[:4] == list(ours)[:4]
    assert payload["object"] == ref
    assert not {"k8s_ref", "k8s_skip", "settings", "severity", "timestamp"} & set(payload)


def test_kopf_loggers_write_through_the_one_handler(capsys: pytest.CaptureFixture[str]) -> None:
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    try:
        kopf.configure(verbose=False)
        configure_logging(log_format="json", level="info")
        assert len(root.handlers) == 1
        logging.getLogger("kopf.objects").warning(
            "handler failed", extra={"k8s_ref": {"name": "a"}}
        )
        (line,) = capsys.readouterr().err.splitlines()
    finally:
        root.handlers[:], _ = saved
        root.setLevel(saved[1])
    payload = json.loads(line)
    assert (payload["logger"], payload["message"], payload["object"]) == (
        "kopf.objects", "handler failed", {"name": "a"}
    )  # fmt: skip
