"""Tear a tenant down according to its deletion policy, its legal holds, and what it owns."""

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from caas_core.adapters import kafka, mongo, redis, revocation_store
from caas_core.adapters.api_key_store import ApiKeyStore
from caas_core.adapters.authz_store import AuthzStore
from caas_core.adapters.webhook_events import publish_events
from caas_core.domain.conditions import utc_now
from caas_core.domain.kafka_acl import principal_of
from caas_core.domain.naming import PLATFORM_DATABASE, InvalidTenantNameError, tenant_names
from caas_core.domain.platform_events import tenant_deleted_event
from caas_core.domain.revocations import TENANT_DELETED, api_key_changed, tenant_deleted
from caas_core.resources.tenant import DeletionPolicy
from caas_operator.context import OperatorContext
from caas_operator.shared import kube
from caas_operator.shared.ownership import Claims, ResourceKind, owns_kubernetes_object
from caas_operator.tenant.plan import (
    DeletionPlan,
    deletion_policy,
    is_paused,
    listed_names,
    plan_deletion,
)
from caas_operator.tenant.status import (
    EventSpec,
    EventType,
    deletion_status,
    paused_status,
    plan_events,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class Teardown:
    """What finalize did: done (the finalizer may go), or waiting, with status and events."""

    done: bool
    policy: DeletionPolicy
    status: dict[str, Any] = field(default_factory=dict)
    events: list[EventSpec] = field(default_factory=list)
    waiting_for: str = ""


async def finalize(
    context: OperatorContext,
    *,
    name: str,
    spec: Mapping[str, Any],
    annotations: Mapping[str, str] | None,
    old_status: Mapping[str, Any] | None,
    generation: int | None,
    deleted_at: datetime | None = None,
) -> Teardown:
    """Revoke access (users, principal, namespace with its Secret); with Delete, drop the data.

    Only objects registered to the tenant (or named in its status by an earlier operator) are
    touched. Raises on backend failures, so the finalizer stays and kopf retries.
    """
    policy = deletion_policy(spec)
    now = utc_now()
    if is_paused(annotations):
        status = paused_status(old_status, generation=generation, now=now)
        return Teardown(
            done=False,
            policy=policy,
            status=status,
            events=plan_events(old_status, status),
            waiting_for="paused: remove the annotation to let the teardown proceed",
        )
    try:
        names = tenant_names(name)
    except InvalidTenantNameError:
        return Teardown(done=True, policy=policy)  # nothing was ever provisioned
    claims = await context.registry.claims(name)
    listed = listed_names(old_status)

    def owned(kind: ResourceKind, object_name: str) -> bool:
        return (kind, object_name) in claims or object_name in listed

    revoked = await _revoke_access(
        context, names.tenant, claims=claims, owned=owned, deleted_at=deleted_at or utc_now()
    )
    # The exact time, not the status' whole seconds: a hold placed a moment ago counts.
    instant = datetime.now(UTC)
    holds = (
        await context.holds.active_for_tenant(name, now=instant)
        if policy is DeletionPolicy.DELETE
        else []
    )
    plan = plan_deletion(names=names, policy=policy, holds=holds, now=instant)
    dropped = (
        await _drop_data(context, plan, claims=claims, listed=listed) if plan.drop_data else []
    )
    namespace = await kube.read_namespace(context.kube, name=names.namespace)
    # The namespace holds the credentials Secret; it goes with either policy.
    if (
        namespace is not None
        and owns_kubernetes_object(namespace.labels, tenant=name)
        and await kube.delete_namespace(context.kube, name=names.namespace)
    ):
        revoked.append(f"namespace {names.namespace} (with its credentials Secret)")
    events = []
    if revoked:
        events.append(
            EventSpec(
                type=EventType.NORMAL,
                reason="AccessRevoked",
                message="revoked " + "; ".join(revoked),
            )
        )
    if plan.blocked:
        status = deletion_status(
            old_status, blocked_message=plan.blocked_message(), generation=generation, now=now
        )
        return Teardown(
            done=False,
            policy=policy,
            status=status,
            events=events + plan_events(old_status, status),
            waiting_for=plan.blocked_message(),
        )
    if dropped:
        events.append(
            EventSpec(type=EventType.NORMAL, reason="DataDeleted", message="; ".join(dropped))
        )
    elif policy is DeletionPolicy.RETAIN:
        events.append(
            EventSpec(
                type=EventType.NORMAL,
                reason="DataRetained",
                message=f"deletionPolicy Retain: database {names.database} and topics under "
                f"{names.topic_prefix} are kept; a new Tenant named {name} gets them back",
            )
        )
    # Raises like every step above: the finalizer stays and the retry emits the same event id.
    await publish_events(
        context.clients.mongo[PLATFORM_DATABASE],
        [
            tenant_deleted_event(
                tenant=name, deleted_at=deleted_at or now, policy=policy.value, now=now
            )
        ],
    )
    logger.info(
        "tenant finalized",
        extra={"tenant": name, "deletion_policy": policy.value, "dropped": dropped},
    )
    return Teardown(done=True, policy=policy, events=events)


async def _revoke_access(
    context: OperatorContext,
    tenant: str,
    *,
    claims: Claims,
    owned: Callable[[ResourceKind, str], bool],
    deleted_at: datetime,
) -> list[str]:
    names = tenant_names(tenant)
    clients, timeout = context.clients, context.settings.backend_timeout
    registry = context.registry
    revoked: list[str] = []
    if owned(ResourceKind.REDIS_USER, names.redis_user):
        if await redis.delete_acl_user(clients.redis, name=names.redis_user):
            revoked.append(f"Redis user {names.redis_user}")
        await registry.release(ResourceKind.REDIS_USER, [names.redis_user])
    if owned(ResourceKind.KAFKA_USER, names.kafka_user):
        principal = principal_of(names.kafka_user)
        removed = await kafka.delete_principal_acls(clients.kafka, principal, timeout=timeout)
        if await kafka.delete_scram_user(clients.kafka, names.kafka_user, timeout=timeout):
            revoked.append(f"Kafka principal {principal} and its {removed} ACLs")
        await registry.release(ResourceKind.KAFKA_USER, [names.kafka_user])
    # The control plane's side: the tenant's back ends can mint no more tokens, and every token
    # issued to its users, access and refresh, is refused on every API instance — revocations
    # broadcast through the outbox (the instances' relays publish them; starting instances read
    # them back). The tenant's is keyed by the deletion's own time, so a teardown retried under
    # a legal hold (every 30 s) broadcasts it once.
    platform, now = clients.mongo[PLATFORM_DATABASE], datetime.now(UTC)
    keys = await ApiKeyStore(platform).revoke_tenant(tenant, now=now)
    for key_id in keys:  # instances drop their cached copies now, not when their cache expires
        changed = api_key_changed(tenant, key_id, now=now, reason=TENANT_DELETED)
        await revocation_store.broadcast(platform, changed, now=now)
    if keys:
        revoked.append(f"{len(keys)} API key{'s' if len(keys) > 1 else ''}")
    revocation = tenant_deleted(tenant, deleted_at=deleted_at, now=now)
    if await revocation_store.broadcast(platform, revocation, now=now):
        revoked.append("every token issued to its users")
    if (ResourceKind.MONGO_USER, names.mongo_user) in claims:
        if await mongo.drop_user(clients.mongo, database=names.database, username=names.mongo_user):
            revoked.append(f"MongoDB user {names.mongo_user}")
        await registry.release(ResourceKind.MONGO_USER, [names.mongo_user])
    return revoked


async def _drop_data(
    context: OperatorContext, plan: DeletionPlan, *, claims: Claims, listed: frozenset[str]
) -> list[str]:
    names = plan.names
    clients, timeout = context.clients, context.settings.backend_timeout
    registry = context.registry
    dropped: list[str] = []
    database = names.database
    if (ResourceKind.MONGO_DATABASE, database) in claims or database in listed:
        await mongo.drop_database(clients.mongo, database=database)
        indexes = [n for kind, n in claims if kind is ResourceKind.MONGO_INDEX]
        await registry.release(ResourceKind.MONGO_INDEX, indexes)  # dropped with the database
        await registry.release(ResourceKind.MONGO_DATABASE, [database])
        dropped.append(f"dropped database {database}")
    # Registered topics, plus those an operator before the registry listed in the status.
    topics = sorted(
        {n for kind, n in claims if kind is ResourceKind.KAFKA_TOPIC}
        | {n for n in listed if n.startswith(names.topic_prefix)}
    )
    if topics:
        await kafka.delete_topics(clients.kafka, topics, timeout=timeout)
        await registry.release(ResourceKind.KAFKA_TOPIC, topics)
        dropped.append(f"deleted topics {', '.join(topics)}")
    # The tenant's authorization objects (policies, roles, grants, whoever wrote them) are its
    # data too: a tenant re-created under the same name must not inherit its predecessor's.
    # Its audit log stays: the record of what happened outlives the tenant (retention rules it).
    await AuthzStore(clients.mongo[PLATFORM_DATABASE]).delete_tenant(names.tenant)
    dropped.append("removed its authorization policies")
    return dropped
