"""Fixtures for the control plane's unit tests: an app whose backends are plain fakes."""

import secrets
from collections.abc import Callable

import pytest

from caas_control_plane.settings import ApiSettings
from caas_core.domain.health import Probe, ProbeResult


@pytest.fixture
def settings() -> ApiSettings:
    """Valid production settings (the backend URLs are never dialled in unit tests)."""
    return ApiSettings(
        mongodb_uri="mongodb://127.0.0.1:1/",
        kafka_bootstrap_servers="127.0.0.1:1",
        redis_url="redis://127.0.0.1:1/0",
        secret_key=secrets.token_urlsafe(48),
        env="production",
        health_timeout=0.2,
    )


def answering(*, ok: bool = True, error: str | None = None) -> Probe:
    """A fake probe that answers at once."""

    async def probe() -> ProbeResult:
        return ProbeResult(ok=ok, latency_ms=1.5, error=None if ok else error or "down")

    return probe


@pytest.fixture
def probe_factory() -> Callable[..., Probe]:
    """Build fake probes in tests."""
    return answering
