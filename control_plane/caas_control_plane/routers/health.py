"""Liveness, readiness and detailed health endpoints."""

from collections.abc import Mapping
from typing import Any, Final, Literal

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from caas_control_plane.deps import HealthDep
from caas_control_plane.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from caas_control_plane.metrics import HttpMetrics
from caas_control_plane.problems import PROBLEM_BASE, PROBLEM_JSON, Problem, problem_response
from caas_control_plane.version import SERVICE_NAME, VERSION
from caas_core.domain.health import ProbeResult, failing_backends, is_ready

BACKEND_UNAVAILABLE: Final = f"{PROBLEM_BASE}backend-unavailable"

router = APIRouter(tags=["health"])


class _Model(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class Liveness(_Model):
    """The process is up; no backend was asked."""

    status: Literal["ok"] = Field(default="ok", description="Always ok when answering at all.")
    service: str = Field(default=SERVICE_NAME, description="Name of this service.")
    version: str = Field(default=VERSION, description="Version of this service.")


class BackendCheck(_Model):
    """The result of probing one backend."""

    status: Literal["up", "down"] = Field(description="Whether the backend answered in time.")
    latency_ms: float = Field(description="Time the probe took, in milliseconds.")
    error: str | None = Field(default=None, description="Why the probe failed, if it did.")


class Readiness(_Model):
    """Every backend answered."""

    status: Literal["ready"] = Field(default="ready", description="Always ready on 200.")
    checks: dict[str, BackendCheck] = Field(description="Per-backend probe results.")


class DetailedHealth(_Model):
    """Per-backend status and latency."""

    status: Literal["ok", "degraded"] = Field(description="degraded when any backend is down.")
    service: str = Field(default=SERVICE_NAME, description="Name of this service.")
    version: str = Field(default=VERSION, description="Version of this service.")
    checks: dict[str, BackendCheck] = Field(description="Per-backend probe results.")


_PROBLEM_503: Final[dict[int | str, dict[str, Any]]] = {
    503: {
        "model": Problem,
        "description": "A backend did not answer",
        "content": {PROBLEM_JSON: {}},
    }
}


def _checks(results: Mapping[str, ProbeResult]) -> dict[str, BackendCheck]:
    return {
        name: BackendCheck(
            status="up" if result.ok else "down", latency_ms=result.latency_ms, error=result.error
        )
        for name, result in sorted(results.items())
    }


@router.get("/health", response_model=Liveness, summary="Liveness (no backend I/O)")
async def health() -> Liveness:
    """Answer as long as the process serves requests."""
    return Liveness()


@router.get("/internal/health", response_model=Liveness, summary="Liveness (no backend I/O)")
async def internal_health() -> Liveness:
    """Same as /health, under the internal prefix."""
    return Liveness()


@router.get(
    "/internal/ready",
    response_model=Readiness,
    responses=_PROBLEM_503,
    summary="Readiness: MongoDB, Kafka and Redis all answer",
)
async def ready(request: Request, health: HealthDep) -> Readiness | JSONResponse:
    """200 when every backend answers within the probe deadline, else a 503 problem."""
    results = await health.check()
    checks = _checks(results)
    if is_ready(results):
        return Readiness(checks=checks)
    failing = failing_backends(results) or ("none configured",)
    return problem_response(
        request,
        status=503,
        type_=BACKEND_UNAVAILABLE,
        title="Backend unavailable",
        detail=f"Not ready: {', '.join(failing)} did not answer",
        checks={name: check.model_dump(by_alias=True) for name, check in checks.items()},
    )


@router.get(
    "/internal/health/detailed",
    response_model=DetailedHealth,
    summary="Per-backend status and latency",
)
async def detailed_health(health: HealthDep) -> DetailedHealth:
    """Always 200; the body says which backends are down and how long each probe took."""
    results = await health.check()
    return DetailedHealth(status="ok" if is_ready(results) else "degraded", checks=_checks(results))


@router.get(
    "/internal/metrics",
    response_class=Response,
    responses={200: {"content": {METRICS_CONTENT_TYPE: {}}, "description": "Prometheus text"}},
    summary="Prometheus metrics (keep off public ingress, like the other /internal routes)",
)
async def metrics(request: Request) -> Response:
    """Request counts and latency by route template, 429s, and the process collectors."""
    http_metrics: HttpMetrics = request.app.state.metrics
    return Response(http_metrics.exposition(), media_type=METRICS_CONTENT_TYPE)
