"""Pure: the condition names every kind reports, a provisioning step's outcome, and backoff."""

from dataclasses import dataclass
from typing import Final

from caas_core.resources.tenant import DriftBackend

READY: Final = "Ready"
SYNCED: Final = "Synced"
MONGO_READY: Final = "MongoReady"
KAFKA_READY: Final = "KafkaReady"
REDIS_READY: Final = "RedisReady"
# Reported in this order, after Kubernetes steps; the first failure names the Ready reason.
BACKEND_CONDITIONS: Final = (MONGO_READY, KAFKA_READY, REDIS_READY)
PROVISIONED: Final = "Provisioned"

RETRY_BASE_SECONDS: Final = 5.0
RETRY_MAX_SECONDS: Final = 300.0
_RETRY_MAX_EXPONENT: Final = 16  # keeps 2**retry finite however long an outage lasts


@dataclass(frozen=True, slots=True, kw_only=True)
class Finding:
    """A difference between a backend and the spec found on a converged tenant (drift)."""

    backend: DriftBackend
    object: str
    found: str
    corrected: bool

    def describe(self) -> str:
        """One line, e.g. `Kafka topic tenant.a.events: retention.ms is 1000, want 3600000`."""
        return f"{self.backend.value} {self.object}: {self.found}"


@dataclass(frozen=True, slots=True, kw_only=True)
class StepOutcome:
    """The result of provisioning one backend, as a condition will report it."""

    condition: str
    ok: bool
    reason: str
    message: str
    # False when retrying cannot help (a drift or conflict only a human can resolve).
    retryable: bool = True
    # What this step changed (created, corrected), for events; empty when nothing changed.
    actions: tuple[str, ...] = ()
    # Drift: differences found although this backend was converged for this generation.
    findings: tuple[Finding, ...] = ()


def retry_delay(retry: int) -> float:
    """Exponential backoff for the retry-th retry: 5 s, 10 s, 20 s ... capped at 5 minutes."""
    exponent = min(max(retry, 0), _RETRY_MAX_EXPONENT)
    return min(RETRY_BASE_SECONDS * 2.0**exponent, RETRY_MAX_SECONDS)
