"""Backend probe results and the readiness verdict drawn from them."""

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Final

ERROR_MAX_LENGTH: Final = 300
MONGODB: Final = "mongodb"
KAFKA: Final = "kafka"
REDIS: Final = "redis"


@dataclass(frozen=True, slots=True, kw_only=True)
class ProbeResult:
    """The outcome of one backend probe."""

    ok: bool
    latency_ms: float
    error: str | None = None

    @classmethod
    def failure(cls, *, latency_ms: float, error: str) -> "ProbeResult":
        """A failed probe, with the message cut short (it may end up in HTTP bodies and logs)."""
        return cls(ok=False, latency_ms=latency_ms, error=error[:ERROR_MAX_LENGTH] or "error")


def failing_backends(results: Mapping[str, ProbeResult]) -> tuple[str, ...]:
    """Names of the backends whose probe failed, sorted for stable messages."""
    return tuple(sorted(name for name, result in results.items() if not result.ok))


def is_ready(results: Mapping[str, ProbeResult]) -> bool:
    """Ready only when every backend answered (and there is at least one to ask)."""
    return bool(results) and not failing_backends(results)


# A probe never raises: failures and timeouts come back as a failed ProbeResult.
Probe = Callable[[], Awaitable[ProbeResult]]
