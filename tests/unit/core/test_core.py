"""Shared helpers: probe timing, settings error messages, JSON logging."""

import asyncio
import json
import logging

import pytest
from pydantic import Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings

from caas_core.adapters.probe import timed_probe
from caas_core.domain.health import ProbeResult, failing_backends, is_ready
from caas_core.logs import JsonFormatter
from caas_core.settings import describe_validation_error

pytestmark = pytest.mark.unit


async def test_timed_probe_reports_success_failure_and_timeout() -> None:
    async def ok() -> None:
        return None

    async def boom() -> None:
        raise ConnectionError("refused\nwith a second line")

    async def hang() -> None:
        await asyncio.sleep(10)

    good = await timed_probe(ok, timeout=1)
    assert good.ok
    assert good.latency_ms >= 0
    bad = await timed_probe(boom, timeout=1)
    assert (bad.ok, bad.error) == (False, "ConnectionError: refused")
    slow = await timed_probe(hang, timeout=0.01)
    assert (slow.ok, slow.error) == (False, "timed out after 0.01s")


def test_failure_messages_are_capped() -> None:
    result = ProbeResult.failure(latency_ms=1, error="x" * 1000)
    assert len(result.error or "") == 300


def test_readiness_verdict() -> None:
    up = ProbeResult(ok=True, latency_ms=1)
    down = ProbeResult(ok=False, latency_ms=1, error="e")
    assert is_ready({"a": up, "b": up})
    assert not is_ready({})
    assert failing_backends({"b": down, "a": down, "c": up}) == ("a", "b")


class _Secrets(BaseSettings):
    token: SecretStr = Field(validation_alias="SOME_TOKEN", min_length=40)


def test_settings_errors_name_the_variable_not_the_value() -> None:
    with pytest.raises(ValidationError) as caught:
        _Secrets(SOME_TOKEN="hunter2")
    message = describe_validation_error(caught.value)
    assert message.startswith("SOME_TOKEN:")
    assert "hunter2" not in message


def test_json_formatter_keeps_extras_and_exceptions() -> None:
    record = logging.makeLogRecord(
        {"name": "x", "levelno": logging.INFO, "levelname": "INFO", "msg": "hello %s",
         "args": ("you",), "tenant": "acme"}
    )  # fmt: skip
    payload = json.loads(JsonFormatter().format(record))
    assert payload["message"] == "hello you"
    assert payload["level"] == "info"
    assert payload["tenant"] == "acme"
    assert "args" not in payload
    record.exc_info = (ValueError, ValueError("bad"), None)
    assert "ValueError: bad" in json.loads(JsonFormatter().format(record))["exception"]
