"""Prometheus metrics of the operator, served on CAAS_OPERATOR_METRICS_PORT when it is set."""

import logging
from typing import Final

from prometheus_client import Counter, Gauge, Histogram, start_http_server

logger = logging.getLogger(__name__)

RECONCILES: Final = Counter(
    "caas_operator_reconciles",
    "Reconciles by resource kind, trigger and result.",
    ["kind", "trigger", "result"],
)
RECONCILE_SECONDS: Final = Histogram(
    "caas_operator_reconcile_duration_seconds",
    "Wall time of one reconcile (waiting for a free slot included).",
    ["kind", "trigger"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
IN_PROGRESS: Final = Gauge(
    "caas_operator_reconciles_in_progress", "Reconciles running now.", ["kind"]
)
STEP_ERRORS: Final = Counter(
    "caas_operator_backend_errors",
    "Failed provisioning steps by condition and reason.",
    ["condition", "reason"],
)
DRIFTS: Final = Counter(
    "caas_operator_drift",
    "Drift found by backend and action (Corrected or Reported).",
    ["backend", "action"],
)
DELETIONS: Final = Counter(
    "caas_operator_deletions",
    "Tenant teardowns by policy and result (done, blocked, error, paused).",
    ["policy", "result"],
)
TENANTS: Final = Gauge(
    "caas_operator_tenants", "Tenants known to the operator by Ready.", ["ready"]
)


def record_ready(states: dict[str, bool], tenant: str, ready: bool | None) -> None:
    """Track the tenant's Ready state (in the operator context's `states`) for the tenants
    gauge (None forgets the tenant)."""
    if ready is None:
        states.pop(tenant, None)
    else:
        states[tenant] = ready
    total_ready = sum(states.values())
    TENANTS.labels(ready="true").set(total_ready)
    TENANTS.labels(ready="false").set(len(states) - total_ready)


def serve(port: int | None, *, address: str) -> None:
    """Start the /metrics endpoint in a background thread (no-op without a port)."""
    if port is None:
        return
    start_http_server(port, addr=address)
    logger.info("metrics endpoint started", extra={"address": address, "port": port})
