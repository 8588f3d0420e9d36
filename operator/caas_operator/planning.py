"""Pure reconcile logic: what a tenant needs, and the status that follows from what happened."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Final

from caas_core.domain.collections import TENANT_COLLECTIONS, CollectionSpec
from caas_core.domain.conditions import (
    ConditionStatus,
    DesiredCondition,
    dump_conditions,
    find_condition,
    parse_conditions,
    set_conditions,
)
from caas_core.domain.naming import TenantNames
from caas_core.domain.redis_acl import AclUserSpec
from caas_core.domain.topics import TopicSpec, topic_config
from caas_core.resources.tenant import DeletionPolicy, TenantSpec

READY: Final = "Ready"
MONGO_READY: Final = "MongoReady"
KAFKA_READY: Final = "KafkaReady"
REDIS_READY: Final = "RedisReady"
# Reported in this order, after Kubernetes steps; the first failure names the Ready reason.
BACKEND_CONDITIONS: Final = (MONGO_READY, KAFKA_READY, REDIS_READY)
PROVISIONED: Final = "Provisioned"


class CredentialKey(StrEnum):
    """Keys of the tenant credentials Secret."""

    REDIS_USERNAME = "redisUsername"
    REDIS_PASSWORD = "redisPassword"  # noqa: S105 - a key name, not a password
    REDIS_KEY_PREFIX = "redisKeyPrefix"
    MONGODB_DATABASE = "mongodbDatabase"
    KAFKA_TOPIC_PREFIX = "kafkaTopicPrefix"


RETRY_BASE_SECONDS: Final = 5.0
RETRY_MAX_SECONDS: Final = 300.0
_RETRY_MAX_EXPONENT: Final = 16  # keeps 2**retry finite however long an outage lasts


@dataclass(frozen=True, slots=True, kw_only=True)
class TenantPlan:
    """Everything a tenant should have, derived from its name and spec alone."""

    names: TenantNames
    collections: tuple[CollectionSpec, ...]
    topics: tuple[TopicSpec, ...]
    redis_user: AclUserSpec
    # repr=False: plans get logged and printed in test failures; the password must not.
    secret_data: Mapping[str, str] = field(repr=False)
    redis_password: str = field(repr=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class StepOutcome:
    """The result of provisioning one backend, as a condition will report it."""

    condition: str
    ok: bool
    reason: str
    message: str
    # False when retrying cannot help (a drift only a human can resolve).
    retryable: bool = True


@dataclass(frozen=True, slots=True, kw_only=True)
class DeletionPlan:
    """What to remove when a tenant goes away."""

    redis_user: str
    namespace: str
    database: str | None
    topic_prefix: str | None


def plan_tenant(
    *, names: TenantNames, spec: TenantSpec, password: str, replication_factor: int
) -> TenantPlan:
    """The desired state of every backend for one tenant."""
    topics = tuple(
        TopicSpec(
            name=names.topic(t.suffix),
            partitions=t.partitions,
            replication_factor=replication_factor,
            config=topic_config(
                retention_ms=t.retention_ms,
                compression=t.compression,
                cleanup_policy=t.cleanup_policy,
            ),
        )
        for t in spec.kafka.topics
    )
    redis_prefix = names.redis_key_pattern.removesuffix("*")
    return TenantPlan(
        names=names,
        collections=TENANT_COLLECTIONS,
        topics=topics,
        redis_user=AclUserSpec(
            name=names.redis_user,
            key_pattern=names.redis_key_pattern,
            channel_pattern=names.redis_channel_pattern,
        ),
        secret_data={
            CredentialKey.REDIS_USERNAME.value: names.redis_user,
            CredentialKey.REDIS_PASSWORD.value: password,
            CredentialKey.REDIS_KEY_PREFIX.value: redis_prefix,
            CredentialKey.MONGODB_DATABASE.value: names.database,
            CredentialKey.KAFKA_TOPIC_PREFIX.value: names.topic_prefix,
        },
        redis_password=password,
    )


def plan_deletion(*, names: TenantNames, policy: DeletionPolicy) -> DeletionPlan:
    """Retain revokes access only; Delete also drops the database and every tenant topic."""
    drop = policy is DeletionPolicy.DELETE
    return DeletionPlan(
        redis_user=names.redis_user,
        namespace=names.namespace,
        database=names.database if drop else None,
        topic_prefix=names.topic_prefix if drop else None,
    )


def existing_password(secret_data: Mapping[str, str] | None) -> str | None:
    """The Redis password already stored in the Secret, so a re-reconcile does not rotate it."""
    if not secret_data:
        return None
    return secret_data.get(CredentialKey.REDIS_PASSWORD) or None


def desired_conditions(outcomes: Sequence[StepOutcome]) -> tuple[DesiredCondition, ...]:
    """Per-backend conditions plus Ready, whose reason is the first failure's (or Provisioned)."""
    by_type = {o.condition: o for o in outcomes}
    # Steps that report straight into Ready (Kubernetes, reading state) come first: the
    # backends depend on them, so their failure is the one to explain.
    ordered = [o for o in outcomes if o.condition not in BACKEND_CONDITIONS]
    ordered += [by_type[c] for c in BACKEND_CONDITIONS if c in by_type]
    backend = [
        DesiredCondition(
            type=o.condition,
            status=ConditionStatus.TRUE if o.ok else ConditionStatus.FALSE,
            reason=o.reason,
            message=o.message,
        )
        for o in ordered
        if o.condition != READY
    ]
    failed = next((o for o in ordered if not o.ok), None)
    if failed is None:
        ready = DesiredCondition(
            type=READY,
            status=ConditionStatus.TRUE,
            reason=PROVISIONED,
            message="Namespace, credentials, database, topics and Redis user are in place",
        )
    else:
        label = "" if failed.condition == READY else f"{failed.condition}: "
        ready = DesiredCondition(
            type=READY,
            status=ConditionStatus.FALSE,
            reason=failed.reason,
            message=f"{label}{failed.message}",
        )
    return (ready, *backend)


def tenant_status(
    *,
    old_status: Mapping[str, Any] | None,
    outcomes: Sequence[StepOutcome],
    generation: int | None,
    now: datetime,
    names: TenantNames | None = None,
    topics: Sequence[str] = (),
) -> dict[str, Any]:
    """The status to write: conditions merged with the old ones, plus the provisioned names."""
    old_conditions = parse_conditions((old_status or {}).get("conditions"))
    conditions = set_conditions(
        old_conditions, desired_conditions(outcomes), observed_generation=generation, now=now
    )
    status: dict[str, Any] = {"conditions": dump_conditions(conditions)}
    if generation is not None:
        status["observedGeneration"] = generation
    if names is not None:
        status |= {
            "namespace": names.namespace,
            "database": names.database,
            "redisUser": names.redis_user,
            "topics": list(topics),
        }
    return status


@dataclass(frozen=True, slots=True, kw_only=True)
class ReadyChange:
    """A change of the Ready condition worth announcing as a Kubernetes Event."""

    ready: bool
    reason: str
    message: str


def ready_change(
    old_status: Mapping[str, Any] | None, new_status: Mapping[str, Any]
) -> ReadyChange | None:
    """The Ready condition's new state if its status or reason changed, else None."""
    old = find_condition(parse_conditions((old_status or {}).get("conditions")), READY)
    new = find_condition(parse_conditions(new_status.get("conditions")), READY)
    if new is None or (old is not None and (old.status, old.reason) == (new.status, new.reason)):
        return None
    return ReadyChange(
        ready=new.status is ConditionStatus.TRUE, reason=new.reason, message=new.message
    )


def needs_retry(outcomes: Sequence[StepOutcome]) -> bool:
    """Whether any failure is worth retrying."""
    return any(not o.ok and o.retryable for o in outcomes)


def retry_delay(retry: int) -> float:
    """Exponential backoff for the retry-th retry: 5 s, 10 s, 20 s ... capped at 5 minutes."""
    exponent = min(max(retry, 0), _RETRY_MAX_EXPONENT)
    return min(RETRY_BASE_SECONDS * 2.0**exponent, RETRY_MAX_SECONDS)
