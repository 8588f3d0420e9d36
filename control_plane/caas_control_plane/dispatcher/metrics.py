"""The dispatcher's Prometheus metrics (served at `/metrics` on its own port).

No tenant or endpoint labels: their number is unbounded; per-endpoint figures are in the
attempt log (`GET /v1/webhooks/{id}/stats`).
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest


class DispatcherMetrics:
    """One registry per dispatcher (tests run several in one process)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.attempts = Counter(
            "caas_webhook_attempts",
            "Delivery attempts by the message's state after them (delivered, retrying, dead, "
            "endpoint_disabled).",
            ["state"],
            registry=self.registry,
        )
        self.deliveries = Counter(
            "caas_webhook_deliveries",
            "Messages delivered (a 2xx answer).",
            registry=self.registry,
        )
        self.failures = Counter(
            "caas_webhook_failures",
            "Failed attempts by kind (http_<status class>, timeout, connect, tls, protocol, "
            "refused_address, refused_literal, unresolvable, secret_unavailable).",
            ["kind"],
            registry=self.registry,
        )
        self.dead_letters = Counter(
            "caas_webhook_dead_letters",
            "Messages sent to internal.dlq.",
            registry=self.registry,
        )
        self.disabled = Counter(
            "caas_webhook_endpoints_disabled",
            "Endpoints this dispatcher disabled (410, sustained failure).",
            registry=self.registry,
        )
        self.latency = Histogram(
            "caas_webhook_attempt_seconds",
            "Duration of one attempt (lookup, connect, request, answer).",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15, 30),
            registry=self.registry,
        )
        self.lag = Gauge(
            "caas_webhook_consumer_lag",
            "Messages in the topic not yet read by this dispatcher's partitions.",
            ["topic"],
            registry=self.registry,
        )
        self.retry_depth = Gauge(
            "caas_webhook_retry_queue_depth",
            "Retries read from internal.retry and waiting for their due time, plus the "
            "retries not read yet (internal.retry lag).",
            registry=self.registry,
        )
        self.in_flight = Gauge(
            "caas_webhook_in_flight",
            "Messages read and not yet durable (their offsets uncommitted).",
            registry=self.registry,
        )
        self.bad_messages = Counter(
            "caas_webhook_bad_messages",
            "Records skipped because they are not what their topic carries.",
            ["topic"],
            registry=self.registry,
        )

    def exposition(self) -> bytes:
        """The text exposition format."""
        return generate_latest(self.registry)
