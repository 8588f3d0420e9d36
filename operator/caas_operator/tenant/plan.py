"""Pure Tenant planning: credentials, what a tenant needs, which indexes to claim or drop, what
the old status proves, and what deletion may remove."""

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import ValidationError

from caas_core.domain.collections import TENANT_COLLECTIONS, CollectionSpec, IndexSpec
from caas_core.domain.conditions import ConditionStatus, parse_conditions
from caas_core.domain.kafka_acl import SCRAM_MECHANISM, AclRule, tenant_acls
from caas_core.domain.legal_holds import LegalHold, blocking_tenant_deletion
from caas_core.domain.naming import PAUSED_ANNOTATION, TenantNames
from caas_core.domain.redis_acl import AclUserSpec, categories_rules
from caas_core.domain.topics import TopicSpec, topic_config
from caas_core.resources.tenant import DeletionPolicy, MongoSpec, TenantSpec
from caas_operator.shared.ownership import Capabilities, ResourceKind


class CredentialKey(StrEnum):
    """Keys of the tenant credentials Secret."""

    REDIS_USERNAME = "redisUsername"
    REDIS_PASSWORD = "redisPassword"  # noqa: S105 - a key name, not a password
    REDIS_KEY_PREFIX = "redisKeyPrefix"
    MONGODB_DATABASE = "mongodbDatabase"
    MONGODB_USERNAME = "mongodbUsername"
    MONGODB_PASSWORD = "mongodbPassword"  # noqa: S105 - a key name, not a password
    KAFKA_TOPIC_PREFIX = "kafkaTopicPrefix"
    KAFKA_USERNAME = "kafkaUsername"
    KAFKA_PASSWORD = "kafkaPassword"  # noqa: S105 - a key name, not a password
    KAFKA_SASL_MECHANISM = "kafkaSaslMechanism"
    KAFKA_BOOTSTRAP_SERVERS = "kafkaBootstrapServers"


@dataclass(frozen=True, slots=True, kw_only=True)
class Credentials:
    """Passwords of the tenant's identities; each is generated once, then read from the Secret."""

    redis: str = field(repr=False)
    kafka: str | None = field(default=None, repr=False)
    mongo: str | None = field(default=None, repr=False)


def credentials_from(
    stored: Mapping[str, str] | None,
    *,
    capabilities: Capabilities,
    generate: Callable[[], str],
) -> Credentials:
    """Reuse stored passwords (re-reconciling never rotates them); generate the missing ones.

    Kafka and MongoDB passwords exist only where the backend manages identities (or a Secret
    already holds one: a capability not detected yet must not take credentials away).
    """
    data = stored or {}

    def keep_or_new(key: CredentialKey, wanted: bool | None) -> str | None:
        existing = data.get(key.value) or None
        if existing is not None:
            return existing
        return generate() if wanted else None

    return Credentials(
        redis=keep_or_new(CredentialKey.REDIS_PASSWORD, wanted=True) or generate(),
        kafka=keep_or_new(CredentialKey.KAFKA_PASSWORD, capabilities.kafka_authorizer),
        mongo=keep_or_new(CredentialKey.MONGODB_PASSWORD, capabilities.mongo_users),
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class TenantPlan:
    """Everything a tenant should have, derived from its name, spec and credentials alone."""

    names: TenantNames
    collections: tuple[CollectionSpec, ...]
    topics: tuple[TopicSpec, ...]
    redis_user: AclUserSpec
    kafka_acls: frozenset[AclRule]
    deletion_policy: DeletionPolicy
    labels: Mapping[str, str]
    # repr=False: plans get logged and printed in test failures; passwords must not.
    credentials: Credentials = field(repr=False)
    secret_data: Mapping[str, str] = field(repr=False)
    # spec.plan as the control plane reads it from caas_platform.saas_clients (camelCase JSON).
    plan_document: Mapping[str, Any] = field(default_factory=dict)


def tenant_collections(mongo: MongoSpec) -> tuple[CollectionSpec, ...]:
    """The platform's tenant collections, extended (never narrowed) by the spec's."""
    extra = {c.name: c for c in mongo.collections}

    def indexes_of(name: str) -> tuple[IndexSpec, ...]:
        spec = extra.get(name)
        if spec is None:
            return ()
        return tuple(
            IndexSpec(
                name=i.name, keys=tuple((k.field, int(k.order)) for k in i.keys), unique=i.unique
            )
            for i in spec.indexes
        )

    defaults = tuple(
        CollectionSpec(name=c.name, indexes=(*c.indexes, *indexes_of(c.name)))
        for c in TENANT_COLLECTIONS
    )
    default_names = {c.name for c in TENANT_COLLECTIONS}
    added = tuple(
        CollectionSpec(name=name, indexes=indexes_of(name))
        for name in extra
        if name not in default_names
    )
    return defaults + added


def plan_tenant(
    *,
    names: TenantNames,
    spec: TenantSpec,
    credentials: Credentials,
    replication_factor: int,
    kafka_sasl_bootstrap: str | None = None,
    retention_overrides: Mapping[str, int] | None = None,
) -> TenantPlan:
    """The desired state of every backend for one tenant.

    `retention_overrides` (topic name -> retention.ms) come from the tenant's RetentionPolicies,
    which take precedence over the topic's own retentionMs.
    """
    overrides = retention_overrides or {}
    topics = tuple(
        TopicSpec(
            name=names.topic(t.suffix),
            partitions=t.partitions,
            replication_factor=replication_factor,
            config=topic_config(
                retention_ms=overrides.get(names.topic(t.suffix), t.retention_ms),
                compression=t.compression,
                cleanup_policy=t.cleanup_policy,
            ),
        )
        for t in spec.kafka.topics
    )
    redis_prefix = names.redis_key_pattern.removesuffix("*")
    secret: dict[str, str] = {
        CredentialKey.REDIS_USERNAME.value: names.redis_user,
        CredentialKey.REDIS_PASSWORD.value: credentials.redis,
        CredentialKey.REDIS_KEY_PREFIX.value: redis_prefix,
        CredentialKey.MONGODB_DATABASE.value: names.database,
        CredentialKey.KAFKA_TOPIC_PREFIX.value: names.topic_prefix,
    }
    if credentials.kafka is not None:
        secret |= {
            CredentialKey.KAFKA_USERNAME.value: names.kafka_user,
            CredentialKey.KAFKA_PASSWORD.value: credentials.kafka,
            CredentialKey.KAFKA_SASL_MECHANISM.value: SCRAM_MECHANISM,
        }
        if kafka_sasl_bootstrap:
            secret[CredentialKey.KAFKA_BOOTSTRAP_SERVERS.value] = kafka_sasl_bootstrap
    if credentials.mongo is not None:
        secret |= {
            CredentialKey.MONGODB_USERNAME.value: names.mongo_user,
            CredentialKey.MONGODB_PASSWORD.value: credentials.mongo,
        }
    return TenantPlan(
        names=names,
        collections=tenant_collections(spec.mongo),
        topics=topics,
        redis_user=AclUserSpec(
            name=names.redis_user,
            key_pattern=names.redis_key_pattern,
            channel_pattern=names.redis_channel_pattern,
            categories=categories_rules([c.value for c in spec.redis.allowed_categories]),
        ),
        kafka_acls=tenant_acls(username=names.kafka_user, prefix=names.topic_prefix),
        deletion_policy=spec.deletion_policy,
        labels=names.labels(),
        credentials=credentials,
        secret_data=secret,
        plan_document=spec.plan.model_dump(by_alias=True, mode="json"),
    )


def index_names(database: str, collections: Sequence[CollectionSpec]) -> list[str]:
    """Registry names of the indexes a plan wants: `<database>.<collection>.<index>`."""
    return [f"{database}.{c.name}.{i.name}" for c in collections for i in c.indexes]


def removed_indexes(
    database: str, *, claimed: Iterable[str], wanted: Iterable[str]
) -> list[tuple[str, str, str]]:
    """(registry name, collection, index) of indexes the operator created for this database that
    the spec no longer wants. Indexes it never recorded (an application's own) are not listed."""
    prefix = f"{database}."
    gone = sorted({n for n in claimed if n.startswith(prefix)} - set(wanted))
    removed = []
    for name in gone:  # neither collection nor index names hold a dot (the spec patterns)
        collection, _, index = name.removeprefix(prefix).partition(".")
        removed.append((name, collection, index))
    return removed


def index_changes(
    database: str,
    *,
    claims: Collection[tuple[ResourceKind, str]],
    collections: Sequence[CollectionSpec],
) -> tuple[list[tuple[ResourceKind, str]], list[tuple[str, str, str]]]:
    """The spec's indexes not registered yet (registered before they are created), and the
    registered ones the spec no longer wants (dropped; an application's own are never listed)."""
    claimed = {name for kind, name in claims if kind is ResourceKind.MONGO_INDEX}
    wanted = index_names(database, collections)
    unclaimed = [(ResourceKind.MONGO_INDEX, name) for name in wanted if name not in claimed]
    return unclaimed, removed_indexes(database, claimed=claimed, wanted=wanted)


# --- what the status proves ---------------------------------------------------------------------


def is_paused(annotations: Mapping[str, str] | None) -> bool:
    """Whether the pause annotation is set to true."""
    return (annotations or {}).get(PAUSED_ANNOTATION, "").strip().lower() == "true"


def listed_names(old_status: Mapping[str, Any] | None) -> frozenset[str]:
    """Backend names the operator itself wrote into the status (proof of earlier ownership)."""
    status = old_status or {}
    names = {status.get(k) for k in ("namespace", "database", "redisUser", "kafkaUser")}
    topics = status.get("topics") or []
    return frozenset(n for n in (*names, *topics) if isinstance(n, str))


def steady_conditions(
    old_status: Mapping[str, Any] | None, generation: int | None
) -> frozenset[str]:
    """Conditions that were True for this very generation: any change found there is drift."""
    conditions = parse_conditions((old_status or {}).get("conditions"))
    return frozenset(
        c.type
        for c in conditions
        if c.status is ConditionStatus.TRUE
        and generation is not None
        and c.observed_generation == generation
    )


# --- deletion ------------------------------------------------------------------------------------


def deletion_policy(spec: Mapping[str, Any]) -> DeletionPolicy:
    """The spec's policy; an unreadable spec falls back to Retain, which never loses data."""
    try:
        return TenantSpec.model_validate(dict(spec)).deletion_policy
    except ValidationError:
        return DeletionPolicy.RETAIN


@dataclass(frozen=True, slots=True, kw_only=True)
class DeletionPlan:
    """What to remove when a tenant goes away: access always, data only with Delete and no hold."""

    names: TenantNames
    drop_data: bool
    blocking_holds: tuple[LegalHold, ...] = ()

    @property
    def blocked(self) -> bool:
        """True when the policy says Delete but a legal hold forbids dropping the data."""
        return bool(self.blocking_holds)

    def blocked_message(self) -> str:
        """Which holds block deletion, for the condition and the event."""
        holds = ", ".join(f"{h.hold_id} ({h.reason})" for h in self.blocking_holds)
        return (
            f"deletionPolicy Delete is blocked by active legal hold(s) {holds}: access is "
            "revoked and the data kept; the Tenant is removed once the holds are released"
        )


def plan_deletion(
    *,
    names: TenantNames,
    policy: DeletionPolicy,
    holds: Sequence[LegalHold] = (),
    now: datetime | None = None,
) -> DeletionPlan:
    """Retain revokes access only; Delete also drops the data unless a legal hold is active."""
    if policy is not DeletionPolicy.DELETE:
        return DeletionPlan(names=names, drop_data=False)
    blocking = blocking_tenant_deletion(holds, now=now) if now is not None else tuple(holds)
    if blocking:
        return DeletionPlan(names=names, drop_data=False, blocking_holds=blocking)
    return DeletionPlan(names=names, drop_data=True)
