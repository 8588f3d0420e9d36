"""The verifier's Prometheus metrics (served at `/metrics` on its own port).

Labelled by log (`platform`, `tenant:<name>`): one series per tenant, as bounded as the tenants.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest


class VerifierMetrics:
    """One registry per verifier (tests run several in one process)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.failures = Counter(
            "caas_audit_integrity_failures",
            "Inconsistencies found in an audit log (each raised once, as a "
            "security.audit.integrity event).",
            ["log"],
            registry=self.registry,
        )
        self.open_problems = Gauge(
            "caas_audit_integrity_problem",
            "1 while the log has an inconsistency open (no checkpoint is signed over it).",
            ["log"],
            registry=self.registry,
        )
        self.verified = Gauge(
            "caas_audit_verified_entries",
            "Entries of the log verified so far (its verified prefix).",
            ["log"],
            registry=self.registry,
        )
        self.lag = Gauge(
            "caas_audit_verify_lag_entries",
            "Entries stored in the log (its head) but not verified yet.",
            ["log"],
            registry=self.registry,
        )
        self.witnessed = Counter(
            "caas_audit_witnessed_messages",
            "platform.audit messages compared with their logged entries.",
            ["log"],
            registry=self.registry,
        )
        self.signed = Counter(
            "caas_audit_checkpoints_signed",
            "Checkpoints signed (or found signed) over verified prefixes.",
            ["log"],
            registry=self.registry,
        )
        self.last_pass = Gauge(
            "caas_audit_verify_last_pass_timestamp_seconds",
            "When the last full pass over every log ended (Unix time).",
            registry=self.registry,
        )

    def exposition(self) -> bytes:
        """The text exposition format."""
        return generate_latest(self.registry)
