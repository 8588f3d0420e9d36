"""Carry out a TenantPlan against Kubernetes, MongoDB, Kafka and Redis, checking ownership first:
one step per backend, each in its own module."""

import asyncio
from dataclasses import dataclass, field

from caas_operator.shared.conditions import (
    KAFKA_READY,
    MONGO_READY,
    READY,
    REDIS_READY,
    StepOutcome,
)
from caas_operator.shared.outcomes import StepRunner
from caas_operator.tenant.provision.kafka import provision_kafka
from caas_operator.tenant.provision.kubernetes import provision_kubernetes
from caas_operator.tenant.provision.mongo import provision_mongo
from caas_operator.tenant.provision.redis import provision_redis
from caas_operator.tenant.provision.run import Run


@dataclass(frozen=True, slots=True, kw_only=True)
class Applied:
    """Outcomes of every step plus what the status lists."""

    outcomes: list[StepOutcome]
    owned: dict[str, str] = field(default_factory=dict)
    # None when Kafka could not be asked: the listed topics stay as they were.
    topics: tuple[str, ...] | None = None


async def apply_plan(run: Run) -> Applied:
    """Provision everything; one outcome per step.

    The Kubernetes step (namespace, credentials Secret) runs beside the data steps (database,
    collections, topics); only setting credentials in a backend waits for the Secret, so a
    password is never accepted by a backend before it is stored.
    """
    runner = StepRunner(step_timeout=run.context.settings.step_timeout)
    k8s_task = asyncio.create_task(runner.run(READY, lambda: provision_kubernetes(run)))

    async def stored() -> bool:
        return (await asyncio.shield(k8s_task)).ok

    kafka_result: dict[str, object] = {}
    backends = await asyncio.gather(
        runner.run(MONGO_READY, lambda: provision_mongo(run, stored=stored)),
        runner.run(KAFKA_READY, lambda: provision_kafka(run, stored=stored, result=kafka_result)),
        runner.run(REDIS_READY, lambda: provision_redis(run, stored=stored)),
    )
    outcomes = [await k8s_task, *backends]
    topics = kafka_result.get("topics")
    return Applied(
        outcomes=outcomes,
        owned=dict(run.owned),
        topics=tuple(topics) if isinstance(topics, tuple) else None,
    )
