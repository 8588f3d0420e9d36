"""Prometheus metrics for `/internal/metrics`: requests and latency by route *template*.

Fed by `observe.ObserveMiddleware` (pure ASGI, no BaseHTTPMiddleware). The label is the matched
route's path template (`/v1/sessions/{session_id}`), never the raw path, so ids cannot blow up
the label set; anything unmatched counts as `<unmatched>`.
"""

from typing import Final

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from starlette.types import Scope

UNMATCHED: Final = "<unmatched>"
CONTENT_TYPE: Final = CONTENT_TYPE_LATEST
_BUCKETS: Final = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class HttpMetrics:
    """One registry per app (several apps may live in one test process)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "caas_http_requests",
            "HTTP requests by method, route template and status code.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "caas_http_request_duration_seconds",
            "HTTP request latency by method and route template.",
            ["method", "route"],
            buckets=_BUCKETS,
            registry=self.registry,
        )
        self.rate_limited = Counter(
            "caas_rate_limited_requests",
            "Requests refused with 429, by route template.",
            ["route"],
            registry=self.registry,
        )

    def observe(self, scope: Scope, status: int, seconds: float) -> None:
        """Count one HTTP request and its latency (an `observe.Observer`)."""
        route = route_template(scope)
        method = scope.get("method", "GET")
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(method, route).observe(seconds)
        if status == 429:
            self.rate_limited.labels(route).inc()

    def exposition(self) -> bytes:
        """The text exposition format."""
        return generate_latest(self.registry)


def route_template(scope: Scope) -> str:
    """The path template of the route that handled the request."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else UNMATCHED
