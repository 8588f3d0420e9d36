"""Carry out a TenantPlan against Kubernetes, MongoDB, Kafka and Redis."""

import asyncio

from caas_core.adapters import kafka, mongo, redis
from caas_operator import kube
from caas_operator.context import OperatorContext
from caas_operator.outcomes import StepRunner
from caas_operator.planning import (
    KAFKA_READY,
    MONGO_READY,
    READY,
    REDIS_READY,
    StepOutcome,
    TenantPlan,
)


async def apply_plan(
    context: OperatorContext, plan: TenantPlan, *, owner: kube.Owner
) -> list[StepOutcome]:
    """Provision everything; one outcome per step (the Kubernetes one only when it failed)."""
    runner = StepRunner(step_timeout=context.settings.step_timeout)
    k8s = await runner.run(READY, lambda: _kubernetes(context, plan, owner))
    backends = await asyncio.gather(
        runner.run(MONGO_READY, lambda: _mongo(context, plan)),
        runner.run(KAFKA_READY, lambda: _kafka(context, plan)),
        # The password must be stored in the Secret before Redis starts accepting it.
        runner.run(REDIS_READY, lambda: _redis(context, plan, stored=k8s.ok)),
    )
    return ([] if k8s.ok else [k8s]) + list(backends)


async def _kubernetes(context: OperatorContext, plan: TenantPlan, owner: kube.Owner) -> StepOutcome:
    names = plan.names
    await kube.apply_namespace(
        context.kube, name=names.namespace, labels=names.labels(), owner=owner
    )
    await kube.apply_secret(
        context.kube,
        namespace=names.namespace,
        name=names.credentials_secret,
        labels=names.labels(),
        data=plan.secret_data,
        owner=owner,
    )
    return StepOutcome(condition=READY, ok=True, reason="NamespaceReady", message="")


async def _mongo(context: OperatorContext, plan: TenantPlan) -> StepOutcome:
    report = await mongo.ensure_database(
        context.clients.mongo, database=plan.names.database, collections=plan.collections
    )
    if report.drifts:
        return StepOutcome(
            condition=MONGO_READY,
            ok=False,
            reason="IndexDrift",
            message="; ".join(report.drifts),
            retryable=False,
        )
    message = f"database {report.database} has {len(plan.collections)} collections"
    return StepOutcome(condition=MONGO_READY, ok=True, reason="DatabaseReady", message=message)


async def _kafka(context: OperatorContext, plan: TenantPlan) -> StepOutcome:
    report = await kafka.ensure_topics(
        context.clients.kafka, plan.topics, timeout=context.settings.backend_timeout
    )
    if report.drifts:
        return StepOutcome(
            condition=KAFKA_READY,
            ok=False,
            reason="TopicDrift",
            message="; ".join(d.describe() for d in report.drifts),
            retryable=False,
        )
    message = f"{len(plan.topics)} topics under {plan.names.topic_prefix}"
    return StepOutcome(condition=KAFKA_READY, ok=True, reason="TopicsReady", message=message)


async def _redis(context: OperatorContext, plan: TenantPlan, *, stored: bool) -> StepOutcome:
    if not stored:
        return StepOutcome(
            condition=REDIS_READY,
            ok=False,
            reason="CredentialsNotStored",
            message="waiting for the credentials Secret before setting the Redis password",
        )
    await redis.ensure_acl_user(
        context.clients.redis, plan.redis_user, password=plan.redis_password
    )
    message = f"user {plan.redis_user.name} confined to {plan.redis_user.key_pattern}"
    return StepOutcome(condition=REDIS_READY, ok=True, reason="AclUserReady", message=message)
