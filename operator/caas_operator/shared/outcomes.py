"""Turn what a provisioning step did (or raised) into a StepOutcome or a Failure."""

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Final

from pymongo.errors import ConnectionFailure, PyMongoError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from caas_operator.shared.conditions import (
    KAFKA_READY,
    MONGO_READY,
    READY,
    REDIS_READY,
    StepOutcome,
)
from caas_operator.shared.kube import SecretRaceError
from caas_operator.shared.ownership import ClaimConflictError
from caas_operator.shared.scope import Failure

MESSAGE_MAX_LENGTH: Final = 500

# (condition, reason when unreachable, reason for any other error)
_REASONS: Final = {
    MONGO_READY: ("MongoUnavailable", "MongoError"),
    KAFKA_READY: ("KafkaUnavailable", "KafkaError"),
    REDIS_READY: ("RedisUnavailable", "RedisError"),
    READY: ("KubernetesUnavailable", "KubernetesError"),
}
_UNREACHABLE: Final = (
    TimeoutError,
    ConnectionFailure,
    RedisConnectionError,
    RedisTimeoutError,
    ConnectionError,
)


def describe(exc: BaseException) -> str:
    """A short, single-line description of an exception for a condition message."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    if isinstance(exc, TimeoutError) and not text:
        text = "timed out"
    described = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return described[:MESSAGE_MAX_LENGTH]


def failure(condition: str, exc: BaseException) -> StepOutcome:
    """The outcome of a step that raised."""
    if isinstance(exc, ClaimConflictError):
        # Registered to another tenant: retrying cannot help, a human must sort it out.
        return StepOutcome(
            condition=condition,
            ok=False,
            reason="NotOwned",
            message=describe(exc),
            retryable=False,
        )
    unreachable, other = _REASONS[condition]
    reason = unreachable if isinstance(exc, _UNREACHABLE) else other
    return StepOutcome(condition=condition, ok=False, reason=reason, message=describe(exc))


@dataclass(frozen=True, slots=True, kw_only=True)
class StepRunner:
    """Runs provisioning steps under one deadline each, turning failures into outcomes."""

    step_timeout: float

    async def run(self, condition: str, step: Callable[[], Awaitable[StepOutcome]]) -> StepOutcome:
        """Run the step; its exceptions (and a missed deadline) become a failed outcome."""
        try:
            async with asyncio.timeout(self.step_timeout):
                return await step()
        except Exception as exc:  # any failure becomes a condition, never a crashed handler
            return failure(condition, exc)


def store_failure(exc: Exception) -> Failure:
    """What a kind that keeps a Secret and a store record reports for an error no rule of its own
    explains: a concurrent Secret change, a MongoDB failure, anything else (all retried)."""
    if isinstance(exc, SecretRaceError):
        return Failure(reason="SecretConflict", message=str(exc), retryable=True)
    outcome = failure(MONGO_READY if isinstance(exc, PyMongoError) else READY, exc)
    return Failure(reason=outcome.reason, message=outcome.message, retryable=True)
