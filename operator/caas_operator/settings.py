"""Operator settings, read from the environment once at start."""

import os
from typing import Final, Literal

from pydantic import Field

from caas_core.settings import BackendSettings

RESYNC_ENV: Final = "CAAS_OPERATOR_RESYNC_SECONDS"
SELECTOR_ENV: Final = "CAAS_OPERATOR_TENANT_SELECTOR"
DEFAULT_RESYNC_SECONDS: Final = 300.0
EventLevel = Literal["info", "warning", "error"]


class OperatorSettings(BackendSettings):
    """Backend locations plus how the operator provisions and reports."""

    kafka_replication_factor: int = Field(
        default=1,
        ge=1,
        validation_alias="CAAS_KAFKA_REPLICATION_FACTOR",
        description="Replication factor of every topic the operator creates (1 on one broker).",
    )
    kafka_platform_partitions: int = Field(
        default=3,
        ge=1,
        validation_alias="CAAS_KAFKA_PLATFORM_PARTITIONS",
        description="Partitions of each platform topic.",
    )
    step_timeout: float = Field(
        default=60.0,
        gt=0,
        validation_alias="CAAS_OPERATOR_STEP_TIMEOUT_SECONDS",
        description="Upper bound for provisioning one backend during a reconcile.",
    )
    event_level: EventLevel = Field(
        default="info",
        validation_alias="CAAS_OPERATOR_EVENT_LEVEL",
        description="Lowest severity of the Kubernetes Events posted on Ready transitions.",
    )
    liveness_endpoint: str | None = Field(
        default=None,
        validation_alias="CAAS_OPERATOR_LIVENESS_ENDPOINT",
        description="kopf liveness endpoint, e.g. http://127.0.0.1:8080/healthz (off if unset).",
    )
    kafka_sasl_bootstrap_servers: str | None = Field(
        default=None,
        validation_alias="KAFKA_SASL_BOOTSTRAP_SERVERS",
        description="Where tenants' SCRAM principals connect; written into credentials Secrets.",
    )
    metrics_port: int | None = Field(
        default=None,
        ge=1,
        le=65535,
        validation_alias="CAAS_OPERATOR_METRICS_PORT",
        description="Port of the Prometheus /metrics endpoint (off if unset).",
    )
    metrics_address: str = Field(
        default="127.0.0.1",
        validation_alias="CAAS_OPERATOR_METRICS_ADDRESS",
        description="Address the metrics endpoint binds (0.0.0.0 in a pod).",
    )
    max_concurrent_reconciles: int = Field(
        default=16,
        ge=1,
        le=1024,
        validation_alias="CAAS_OPERATOR_MAX_CONCURRENT_RECONCILES",
        description="Tenants reconciled at once; the rest wait (bounds load on the backends).",
    )


def resync_interval() -> float:
    """Seconds between drift checks of each Tenant (needed at import, when timers register)."""
    raw = os.environ.get(RESYNC_ENV, "")
    try:
        value = float(raw) if raw else DEFAULT_RESYNC_SECONDS
    except ValueError:
        return DEFAULT_RESYNC_SECONDS
    return value if value > 0 else DEFAULT_RESYNC_SECONDS


def tenant_selector() -> dict[str, str] | None:
    """Only Tenants with these labels are handled (`k=v,k2=v2`); None handles every Tenant.

    For sharding tenants over operators, or a test operator that must not touch the rest.
    Read at import, when kopf's handlers register.
    """
    raw = os.environ.get(SELECTOR_ENV, "").strip()
    if not raw:
        return None
    pairs = [part.split("=", 1) for part in raw.split(",") if part.strip()]
    if any(len(pair) != 2 or not pair[0].strip() for pair in pairs):
        raise ValueError(f"{SELECTOR_ENV} must look like key=value[,key=value]: {raw!r}")
    return {key.strip(): value.strip() for key, value in pairs}
