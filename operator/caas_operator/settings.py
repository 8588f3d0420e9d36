"""Operator settings, read from the environment and validated once, at start (`__main__`).

An invalid value stops the process before any handler is registered, with a message naming
the variable; nothing reads the environment at import time or during a reconcile.
"""

from typing import Final, Literal

from pydantic import Field, field_validator

from caas_core.settings import BackendSettings

RESYNC_ENV: Final = "CAAS_OPERATOR_RESYNC_SECONDS"
SELECTOR_ENV: Final = "CAAS_OPERATOR_TENANT_SELECTOR"
ENVIRONMENT_ENV: Final = "CAAS_ENV"
SWEEP_ENV: Final = "CAAS_RETENTION_SWEEP_SECONDS"
DEFAULT_RESYNC_SECONDS: Final = 300.0
DEFAULT_SWEEP_SECONDS: Final = 3600.0
EventLevel = Literal["info", "warning", "error"]
Environment = Literal["development", "production"]


def parse_selector(raw: str) -> dict[str, str] | None:
    """`k=v,k2=v2` as labels; None (every Tenant) when empty; ValueError when malformed."""
    text = raw.strip()
    if not text:
        return None
    pairs = [part.split("=", 1) for part in text.split(",") if part.strip()]
    if any(len(pair) != 2 or not pair[0].strip() for pair in pairs):
        raise ValueError(f"must look like key=value[,key=value]: {raw!r}")
    return {key.strip(): value.strip() for key, value in pairs}


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
    resync_seconds: float = Field(
        default=DEFAULT_RESYNC_SECONDS,
        gt=0,
        validation_alias=RESYNC_ENV,
        description="Seconds between drift checks of each resource (the resync timers).",
    )
    tenant_selector_labels: str = Field(
        default="",
        validation_alias=SELECTOR_ENV,
        description="Only Tenants with these labels are handled (`k=v,k2=v2`); empty: every "
        "Tenant. For sharding tenants over operators, or a test operator that must not touch "
        "the rest.",
    )
    environment: Environment = Field(
        default="production",
        validation_alias=ENVIRONMENT_ENV,
        description="development allows http:// webhooks that ask for it; production refuses.",
    )
    retention_sweep_seconds: float = Field(
        default=DEFAULT_SWEEP_SECONDS,
        gt=0,
        validation_alias=SWEEP_ENV,
        description="Seconds between sweeps of one RetentionPolicy (a changed one: at once).",
    )

    @field_validator("tenant_selector_labels")
    @classmethod
    def _selector_parses(cls, value: str) -> str:
        parse_selector(value)
        return value

    @property
    def tenant_selector(self) -> dict[str, str] | None:
        """The labels a Tenant must carry to be handled; None handles every Tenant."""
        return parse_selector(self.tenant_selector_labels)

    @property
    def development(self) -> bool:
        """Whether the operator runs in development, the only place http webhooks are allowed."""
        return self.environment == "development"
