"""`/metrics` (Prometheus) and `/healthz` of the dispatcher, on a port of their own.

Healthy means working: the consumer thread runs and the endpoints were read recently. Kafka
being away does not make it unhealthy (librdkafka reconnects; a restart would not help).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from prometheus_client.exposition import CONTENT_TYPE_LATEST
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from caas_control_plane.dispatcher.metrics import DispatcherMetrics


def create_app(
    *,
    metrics: DispatcherMetrics,
    consuming: Callable[[], bool],
    endpoints_read: Callable[[], float | None],
    stale_after: float,
) -> Starlette:
    """The dispatcher's small HTTP app."""

    async def metrics_endpoint(_: Request) -> Response:
        return Response(metrics.exposition(), media_type=CONTENT_TYPE_LATEST)

    async def healthz(_: Request) -> Response:
        read = endpoints_read()
        age = None if read is None else time.monotonic() - read
        problems = []
        if not consuming():
            problems.append("the Kafka consumer is not running")
        if age is None or age > stale_after:
            problems.append("the webhook endpoints were not read recently (MongoDB)")
        body = {
            "status": "ok" if not problems else "failing",
            "problems": problems,
            "endpointsReadSecondsAgo": None if age is None else round(age, 1),
        }
        return JSONResponse(body, status_code=200 if not problems else 503)

    return Starlette(
        routes=[
            Route("/metrics", metrics_endpoint, methods=["GET"]),
            Route("/healthz", healthz, methods=["GET"]),
        ]
    )
