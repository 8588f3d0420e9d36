"""Health endpoints with fake backend probes: liveness, readiness, detailed status."""

import asyncio
from collections.abc import Callable

import httpx
import pytest
from fastapi.testclient import TestClient

from caas_control_plane.app import create_app
from caas_control_plane.settings import ApiSettings
from caas_core.domain.health import Probe, ProbeResult

pytestmark = pytest.mark.unit


def _client(settings: ApiSettings, probes: dict[str, Probe]) -> TestClient:
    return TestClient(create_app(settings, probes=probes))


def _all_up(make: Callable[..., Probe]) -> dict[str, Probe]:
    return {"mongodb": make(), "kafka": make(), "redis": make()}


@pytest.mark.parametrize("path", ["/health", "/internal/health"])
def test_liveness_never_asks_a_backend(settings: ApiSettings, path: str) -> None:
    async def exploding() -> ProbeResult:
        raise AssertionError("liveness must not probe")

    with _client(settings, {"mongodb": exploding}) as client:
        response = client.get(path)
    assert response.status_code == 200
    assert response.json()["status"] == "ok"
    assert response.json()["service"] == "caas-control-plane"


def test_ready_when_every_backend_answers(
    settings: ApiSettings, probe_factory: Callable[..., Probe]
) -> None:
    with _client(settings, _all_up(probe_factory)) as client:
        response = client.get("/internal/ready")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ready"
    assert set(body["checks"]) == {"mongodb", "kafka", "redis"}
    assert body["checks"]["kafka"] == {"status": "up", "latencyMs": 1.5, "error": None}


def test_not_ready_names_the_failing_backend(
    settings: ApiSettings, probe_factory: Callable[..., Probe]
) -> None:
    probes = _all_up(probe_factory) | {"kafka": probe_factory(ok=False, error="refused")}
    with _client(settings, probes) as client:
        response = client.get("/internal/ready")
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == 503
    assert body["title"] == "Backend unavailable"
    assert "kafka" in body["detail"]
    assert "mongodb" not in body["detail"]
    assert body["instance"] == "/internal/ready"
    assert body["checks"]["kafka"]["error"] == "refused"


def test_hanging_and_raising_probes_fail_fast(settings: ApiSettings) -> None:
    async def hangs() -> ProbeResult:
        await asyncio.sleep(30)
        raise AssertionError

    async def raises() -> ProbeResult:
        raise RuntimeError("bug in probe")

    with _client(settings, {"mongodb": hangs, "redis": raises}) as client:
        response = client.get("/internal/ready")
    assert response.status_code == 503
    checks = response.json()["checks"]
    assert checks["mongodb"]["status"] == "down"
    assert "0.2s" in checks["mongodb"]["error"]
    assert checks["redis"]["error"] == "RuntimeError: bug in probe"


async def test_probes_run_concurrently(settings: ApiSettings) -> None:
    # Each probe waits until all three are running: run one after another, the first would
    # wait forever (and fail on the readiness timeout); run together, all three pass at once.
    together = asyncio.Barrier(3)

    async def rendezvous() -> ProbeResult:
        await together.wait()
        return ProbeResult(ok=True, latency_ms=1.0)

    app = create_app(
        settings, probes={"mongodb": rendezvous, "kafka": rendezvous, "redis": rendezvous}
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        response = await client.get("/internal/ready")
    assert response.status_code == 200, response.text
    assert {name: check["status"] for name, check in response.json()["checks"].items()} == {
        "mongodb": "up",
        "kafka": "up",
        "redis": "up",
    }


def test_no_backends_is_not_ready(settings: ApiSettings) -> None:
    with _client(settings, {}) as client:
        assert client.get("/internal/ready").status_code == 503


def test_detailed_health_reports_each_backend(
    settings: ApiSettings, probe_factory: Callable[..., Probe]
) -> None:
    probes = _all_up(probe_factory) | {"redis": probe_factory(ok=False, error="auth")}
    with _client(settings, probes) as client:
        response = client.get("/internal/health/detailed")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "degraded"
    assert body["checks"]["redis"] == {"status": "down", "latencyMs": 1.5, "error": "auth"}
    assert body["checks"]["mongodb"]["status"] == "up"


def test_openapi_and_swagger_ui_are_served(settings: ApiSettings) -> None:
    with _client(settings, {}) as client:
        schema = client.get("/openapi.json").json()
        assert "/internal/ready" in schema["paths"]
        assert client.get("/documentation").status_code == 200
        assert client.get("/redoc").status_code == 404
