"""Step failures become conditions with reasons that say what kind of failure it was."""

import asyncio

import pytest
from pymongo.errors import OperationFailure, ServerSelectionTimeoutError
from redis.exceptions import ConnectionError as RedisConnectionError

from caas_core.adapters.redis import RedisAclError
from caas_operator.shared.conditions import MONGO_READY, READY, REDIS_READY, StepOutcome
from caas_operator.shared.outcomes import StepRunner, describe, failure

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("condition", "exc", "reason"),
    [
        (MONGO_READY, ServerSelectionTimeoutError("no servers"), "MongoUnavailable"),
        (MONGO_READY, OperationFailure("bad"), "MongoError"),
        (REDIS_READY, RedisConnectionError("refused"), "RedisUnavailable"),
        (REDIS_READY, RedisAclError("acl"), "RedisError"),
        (READY, TimeoutError(), "KubernetesUnavailable"),
        (READY, ValueError("x"), "KubernetesError"),
    ],
)
def test_failures_are_classified(condition: str, exc: Exception, reason: str) -> None:
    outcome = failure(condition, exc)
    assert (outcome.ok, outcome.reason, outcome.retryable) == (False, reason, True)


def test_description_is_one_short_line() -> None:
    assert describe(ValueError("first\nsecond")) == "ValueError: first"
    assert describe(TimeoutError()) == "TimeoutError: timed out"
    assert len(describe(ValueError("x" * 5000))) == 500


async def test_runner_turns_exceptions_and_deadlines_into_outcomes() -> None:
    runner = StepRunner(step_timeout=0.05)

    async def ok() -> StepOutcome:
        return StepOutcome(condition=MONGO_READY, ok=True, reason="Fine", message="")

    async def boom() -> StepOutcome:
        raise OperationFailure("nope")

    async def hang() -> StepOutcome:
        await asyncio.sleep(10)
        raise AssertionError

    assert (await runner.run(MONGO_READY, ok)).ok
    assert (await runner.run(MONGO_READY, boom)).reason == "MongoError"
    assert (await runner.run(MONGO_READY, hang)).reason == "MongoUnavailable"
