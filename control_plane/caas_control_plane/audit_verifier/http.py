"""`/metrics` (Prometheus) and `/healthz` of the verifier, on a port of their own.

Healthy means working: the consumer thread runs and a pass over every log ended (or, on a long
first pass, progressed) recently. An
inconsistency found does not make the verifier unhealthy (restarting it would not help; the
counter and the integrity event report it).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from prometheus_client.exposition import CONTENT_TYPE_LATEST
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from caas_control_plane.audit_verifier.metrics import VerifierMetrics


def create_app(
    *,
    metrics: VerifierMetrics,
    last_active: Callable[[], float | None],
    consuming: Callable[[], bool],
    stale_after: float,
) -> Starlette:
    """The verifier's small HTTP app."""

    async def metrics_endpoint(_: Request) -> Response:
        return Response(metrics.exposition(), media_type=CONTENT_TYPE_LATEST)

    async def healthz(_: Request) -> Response:
        passed = last_active()
        age = None if passed is None else time.monotonic() - passed
        problems = []
        if not consuming():
            problems.append("the platform.audit consumer is not running")
        if age is None or age > stale_after:
            problems.append("no pass over the logs ended or progressed recently")
        body = {
            "status": "ok" if not problems else "failing",
            "problems": problems,
            "lastActivitySecondsAgo": None if age is None else round(age, 1),
        }
        return JSONResponse(body, status_code=200 if not problems else 503)

    return Starlette(
        routes=[
            Route("/metrics", metrics_endpoint, methods=["GET"]),
            Route("/healthz", healthz, methods=["GET"]),
        ]
    )
