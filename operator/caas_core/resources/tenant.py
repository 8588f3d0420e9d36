"""The Tenant custom resource: spec and status models (the CRD schema is generated from these).

Over 400 lines on purpose: the module is the Tenant's schema, one model per spec section with
its descriptions and validation (which become the CRD's), read top to bottom like the CRD.
"""

from datetime import datetime
from enum import StrEnum
from typing import Final, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic.alias_generators import to_camel

from caas_core.domain.collections import TENANT_COLLECTIONS
from caas_core.domain.conditions import Condition
from caas_core.domain.topics import DAY_MS, DEFAULT_PARTITIONS, CleanupPolicy, Compression

TOPIC_SUFFIX_PATTERN: Final = r"^[a-z0-9]([-.a-z0-9]*[a-z0-9])?$"
TOPIC_SUFFIX_MAX_LENGTH: Final = 63
MAX_TOPICS: Final = 32
MAX_PARTITIONS: Final = 1000
MIN_RETENTION_MS: Final = 60_000
DEFAULT_TOPIC_SUFFIX: Final = "events"
RETENTION_MESSAGE: Final = (
    f"retentionMs must be -1 (keep forever) or at least {MIN_RETENTION_MS} (one minute)"
)
RETENTION_RULE: Final = f"self.retentionMs == -1 || self.retentionMs >= {MIN_RETENTION_MS}"
UNIQUE_SUFFIX_MESSAGE: Final = "topic suffixes must be unique"
UNIQUE_SUFFIX_RULE: Final = "self.all(t, self.exists_one(u, u.suffix == t.suffix))"
PARTITIONS_MESSAGE: Final = (
    "partitions can be raised but never lowered (Kafka cannot shrink a topic)"
)
PARTITIONS_RULE: Final = "self >= oldSelf"

SHRED_MESSAGE: Final = (
    "deletionPolicy Shred is reserved for crypto-shredding, which is not available yet; "
    "use Retain or Delete"
)
SHRED_RULE: Final = "self != 'Shred'"
BURST_MESSAGE: Final = "rateLimit.burst must be at least rateLimit.requestsPerSecond"
BURST_RULE: Final = "self.burst >= self.requestsPerSecond"

# MongoDB names the operator accepts: lowercase, no '$', '.', or 'system.' prefix tricks.
MONGO_NAME_PATTERN: Final = r"^[a-z][a-z0-9_]*$"
MONGO_NAME_MAX_LENGTH: Final = 64
MONGO_FIELD_PATTERN: Final = r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z0-9_]+)*$"
MAX_COLLECTIONS: Final = 32
MAX_INDEXES: Final = 16
MAX_INDEX_KEYS: Final = 8
UNIQUE_COLLECTION_MESSAGE: Final = "collection names must be unique"
UNIQUE_COLLECTION_RULE: Final = "self.all(c, self.exists_one(d, d.name == c.name))"
UNIQUE_INDEX_MESSAGE: Final = "index names must be unique within a collection"
UNIQUE_INDEX_RULE: Final = "self.all(i, self.exists_one(j, j.name == i.name))"
UNIQUE_KEY_MESSAGE: Final = "an index names each field once"
UNIQUE_KEY_RULE: Final = "self.all(k, self.exists_one(j, j.field == k.field))"
# Index names the platform itself puts on its default tenant collections.
RESERVED_INDEXES: Final = {c.name: tuple(i.name for i in c.indexes) for c in TENANT_COLLECTIONS}
RESERVED_INDEX_MESSAGE: Final = (
    "index names of the platform's default collections are reserved: "
    + "; ".join(f"{c}: {', '.join(names)}" for c, names in RESERVED_INDEXES.items())
)
RESERVED_INDEX_RULE: Final = " && ".join(
    f"(self.name != '{collection}' || self.indexes.all(i, !(i.name in "
    f"[{', '.join(repr(n) for n in names)}])))"
    for collection, names in RESERVED_INDEXES.items()
)

# Name-derived backend names in the status never change once the operator has written them.
IMMUTABLE_NAME_MESSAGE: Final = "backend names derive from the tenant name and never change"
IMMUTABLE_NAME_RULE: Final = "self == oldSelf"
MAX_DRIFT_RECORDS: Final = 20

_MODEL_CONFIG: Final = ConfigDict(
    alias_generator=to_camel,
    populate_by_name=True,
    frozen=True,
    # The API server prunes unknown fields; ignoring extras keeps older operators working.
    extra="ignore",
    use_enum_values=False,
)


def _immutable(description: str) -> object:
    return Field(
        default=None,
        description=description,
        json_schema_extra={
            "x-kubernetes-validations": [
                {"rule": IMMUTABLE_NAME_RULE, "message": IMMUTABLE_NAME_MESSAGE}
            ],
        },
    )


class DeletionPolicy(StrEnum):
    """What happens to a tenant's data when its Tenant resource is deleted."""

    RETAIN = "Retain"
    DELETE = "Delete"
    # Reserved: crypto-shredding (destroying the tenant's keys) arrives with the crypto work.
    SHRED = "Shred"


class PlanTier(StrEnum):
    """Commercial plan of a tenant; quotas below are set per tenant, the tier labels them."""

    FREE = "Free"
    STANDARD = "Standard"
    ENTERPRISE = "Enterprise"


class RateLimit(BaseModel):
    """Token-bucket rate limit applied by the API to each of the tenant's clients."""

    model_config = ConfigDict(
        **_MODEL_CONFIG,
        json_schema_extra={
            "x-kubernetes-validations": [{"rule": BURST_RULE, "message": BURST_MESSAGE}],
        },
    )

    requests_per_second: int = Field(
        default=100, description="Sustained requests per second (the bucket's refill rate).", ge=1
    )
    burst: int = Field(
        default=200,
        description="Requests allowed in a burst (the bucket's size); at least requestsPerSecond.",
        ge=1,
    )

    @model_validator(mode="after")
    def _burst_covers_rate(self) -> Self:
        if self.burst < self.requests_per_second:
            raise ValueError(BURST_MESSAGE)
        return self


class PlanSpec(BaseModel):
    """The tenant's plan and its quotas, enforced by the control plane and the operator."""

    model_config = _MODEL_CONFIG

    tier: PlanTier = Field(default=PlanTier.STANDARD, description="Plan name shown in listings.")
    max_api_keys: int = Field(
        default=10,
        description="Most API keys (ApiKey resources and REST) the tenant may hold.",
        ge=0,
    )
    max_webhooks: int = Field(
        default=10, description="Most webhook endpoints the tenant may register.", ge=0
    )
    rate_limit: RateLimit = Field(
        default_factory=RateLimit, description="Request rate limit for the tenant's API clients."
    )


class IndexKey(BaseModel):
    """One field of an index and its sort order."""

    model_config = _MODEL_CONFIG

    field: str = Field(
        description="Document field (dotted paths reach into sub-documents).",
        min_length=1,
        max_length=128,
        pattern=MONGO_FIELD_PATTERN,
    )
    order: Literal[1, -1] = Field(default=1, description="1 for ascending, -1 for descending.")


def _unique_keys_check(keys: list[IndexKey]) -> list[IndexKey]:
    fields = [k.field for k in keys]
    if len(set(fields)) != len(fields):
        raise ValueError(UNIQUE_KEY_MESSAGE)
    return keys


class MongoIndex(BaseModel):
    """An index the operator creates (by name) and restores when it is dropped."""

    model_config = _MODEL_CONFIG

    name: str = Field(
        description="Index name; unique within its collection.",
        min_length=1,
        max_length=MONGO_NAME_MAX_LENGTH,
        pattern=MONGO_NAME_PATTERN,
    )
    keys: list[IndexKey] = Field(
        description="Indexed fields in order.",
        min_length=1,
        max_length=MAX_INDEX_KEYS,
        json_schema_extra={
            "x-kubernetes-validations": [{"rule": UNIQUE_KEY_RULE, "message": UNIQUE_KEY_MESSAGE}],
        },
    )
    unique: bool = Field(default=False, description="Reject documents that repeat the key.")

    @field_validator("keys")
    @classmethod
    def _keys_are_unique(cls, keys: list[IndexKey]) -> list[IndexKey]:
        return _unique_keys_check(keys)


class MongoCollection(BaseModel):
    """A collection of the tenant's database, beyond or extending the platform's defaults."""

    model_config = ConfigDict(
        **_MODEL_CONFIG,
        json_schema_extra={
            "x-kubernetes-validations": [
                {"rule": RESERVED_INDEX_RULE, "message": RESERVED_INDEX_MESSAGE}
            ],
        },
    )

    name: str = Field(
        description=(
            "Collection name; naming a default collection (users, sessions, devices) adds "
            "indexes to it."
        ),
        min_length=1,
        max_length=MONGO_NAME_MAX_LENGTH,
        pattern=MONGO_NAME_PATTERN,
    )
    indexes: list[MongoIndex] = Field(
        default_factory=list,
        description="Indexes of the collection; a dropped index is re-created.",
        max_length=MAX_INDEXES,
        json_schema_extra={
            "x-kubernetes-list-type": "map",
            "x-kubernetes-list-map-keys": ["name"],
            "x-kubernetes-validations": [
                {"rule": UNIQUE_INDEX_RULE, "message": UNIQUE_INDEX_MESSAGE}
            ],
        },
    )

    @field_validator("indexes")
    @classmethod
    def _index_names_are_unique(cls, indexes: list[MongoIndex]) -> list[MongoIndex]:
        names = [i.name for i in indexes]
        if len(set(names)) != len(names):
            raise ValueError(UNIQUE_INDEX_MESSAGE)
        return indexes

    @model_validator(mode="after")
    def _reserved_indexes(self) -> Self:
        reserved = RESERVED_INDEXES.get(self.name, ())
        if any(i.name in reserved for i in self.indexes):
            raise ValueError(RESERVED_INDEX_MESSAGE)
        return self


class MongoSpec(BaseModel):
    """The tenant's MongoDB database, on top of the platform's users, sessions and devices."""

    model_config = _MODEL_CONFIG

    collections: list[MongoCollection] = Field(
        default_factory=list,
        description="Extra collections and indexes; collections are never dropped automatically.",
        max_length=MAX_COLLECTIONS,
        json_schema_extra={
            "x-kubernetes-list-type": "map",
            "x-kubernetes-list-map-keys": ["name"],
            "x-kubernetes-validations": [
                {"rule": UNIQUE_COLLECTION_RULE, "message": UNIQUE_COLLECTION_MESSAGE}
            ],
        },
    )

    @field_validator("collections")
    @classmethod
    def _names_are_unique(cls, collections: list[MongoCollection]) -> list[MongoCollection]:
        names = [c.name for c in collections]
        if len(set(names)) != len(names):
            raise ValueError(UNIQUE_COLLECTION_MESSAGE)
        return collections


class KafkaTopic(BaseModel):
    """One tenant topic, created as tenant.<name>.<suffix>."""

    model_config = ConfigDict(
        **_MODEL_CONFIG,
        json_schema_extra={
            "x-kubernetes-validations": [{"rule": RETENTION_RULE, "message": RETENTION_MESSAGE}],
        },
    )

    suffix: str = Field(
        description="Topic name after the tenant prefix tenant.<name>.; unique within the tenant.",
        min_length=1,
        max_length=TOPIC_SUFFIX_MAX_LENGTH,
        pattern=TOPIC_SUFFIX_PATTERN,
    )
    partitions: int = Field(
        default=DEFAULT_PARTITIONS,
        description="Number of partitions; it can be raised later but never lowered.",
        ge=1,
        le=MAX_PARTITIONS,
        # A transition rule: it compares with the stored value of the same list entry.
        json_schema_extra={
            "x-kubernetes-validations": [{"rule": PARTITIONS_RULE, "message": PARTITIONS_MESSAGE}],
        },
    )
    retention_ms: int = Field(
        default=7 * DAY_MS,
        description="How long records are kept, in milliseconds; -1 keeps them forever.",
        ge=-1,
        json_schema_extra={"format": "int64"},
    )
    compression: Compression = Field(
        default=Compression.PRODUCER,
        description="Topic compression.type; producer keeps whatever codec the producer used.",
    )
    cleanup_policy: CleanupPolicy = Field(
        default=CleanupPolicy.DELETE,
        description="Topic cleanup.policy: delete old segments, compact by key, or both.",
    )

    @model_validator(mode="after")
    def _retention_is_meaningful(self) -> Self:
        if self.retention_ms != -1 and self.retention_ms < MIN_RETENTION_MS:
            raise ValueError(RETENTION_MESSAGE)
        return self


def _default_topics() -> list[KafkaTopic]:
    return [KafkaTopic(suffix=DEFAULT_TOPIC_SUFFIX)]


class KafkaSpec(BaseModel):
    """The tenant's Kafka topics (its principal and ACLs follow from the tenant name)."""

    model_config = _MODEL_CONFIG

    topics: list[KafkaTopic] = Field(
        default_factory=_default_topics,
        description="Topics to create under the tenant's prefix; by default one events topic.",
        max_length=MAX_TOPICS,
        json_schema_extra={
            # A map keyed by suffix lets transition rules match old and new entries; the CEL
            # rule gives a clearer message than the generic duplicate-key error.
            "x-kubernetes-list-type": "map",
            "x-kubernetes-list-map-keys": ["suffix"],
            "x-kubernetes-validations": [
                {"rule": UNIQUE_SUFFIX_RULE, "message": UNIQUE_SUFFIX_MESSAGE},
            ],
        },
    )

    @field_validator("topics")
    @classmethod
    def _suffixes_are_unique(cls, topics: list[KafkaTopic]) -> list[KafkaTopic]:
        suffixes = [t.suffix for t in topics]
        if len(set(suffixes)) != len(suffixes):
            raise ValueError(UNIQUE_SUFFIX_MESSAGE)
        return topics


class RedisCategory(StrEnum):
    """Redis ACL command categories a tenant may be granted (admin and dangerous never are)."""

    ALL = "all"
    READ = "read"
    WRITE = "write"
    KEYSPACE = "keyspace"
    STRING = "string"
    LIST = "list"
    SET = "set"
    SORTEDSET = "sortedset"
    HASH = "hash"
    BITMAP = "bitmap"
    HYPERLOGLOG = "hyperloglog"
    GEO = "geo"
    STREAM = "stream"
    PUBSUB = "pubsub"
    TRANSACTION = "transaction"
    CONNECTION = "connection"
    SCRIPTING = "scripting"
    FAST = "fast"
    SLOW = "slow"
    BLOCKING = "blocking"


def _default_categories() -> list[RedisCategory]:
    return [RedisCategory.ALL]


class RedisSpec(BaseModel):
    """The tenant's Redis ACL user (server-wide settings such as maxmemory-policy are not)."""

    model_config = _MODEL_CONFIG

    allowed_categories: list[RedisCategory] = Field(
        default_factory=_default_categories,
        description=(
            "Command categories the tenant's user may run, on keys and channels under "
            "t:<name>: only; @admin and @dangerous are always denied."
        ),
        min_length=1,
        max_length=len(RedisCategory),
        json_schema_extra={"x-kubernetes-list-type": "set"},
    )


class TenantSpec(BaseModel):
    """Desired state of a tenant of the CAAS platform."""

    model_config = _MODEL_CONFIG

    display_name: str | None = Field(
        default=None,
        description="Human-friendly tenant name shown in consoles; the resource name is the id.",
        max_length=128,
    )
    plan: PlanSpec = Field(default_factory=PlanSpec, description="Plan and quotas.")
    mongo: MongoSpec = Field(
        default_factory=MongoSpec, description="MongoDB collections and indexes of the tenant."
    )
    kafka: KafkaSpec = Field(
        default_factory=KafkaSpec,
        description="Kafka resources of the tenant.",
    )
    redis: RedisSpec = Field(default_factory=RedisSpec, description="Redis access of the tenant.")
    deletion_policy: DeletionPolicy = Field(
        default=DeletionPolicy.RETAIN,
        description=(
            "On deletion, Retain revokes access but keeps the MongoDB database and Kafka topics; "
            "Delete also drops them (unless a legal hold is active); Shred is reserved."
        ),
        json_schema_extra={
            "x-kubernetes-validations": [{"rule": SHRED_RULE, "message": SHRED_MESSAGE}],
        },
    )

    @field_validator("deletion_policy")
    @classmethod
    def _shred_is_reserved(cls, policy: DeletionPolicy) -> DeletionPolicy:
        if policy is DeletionPolicy.SHRED:
            raise ValueError(SHRED_MESSAGE)
        return policy


class DriftBackend(StrEnum):
    """Where a drift was found."""

    KUBERNETES = "Kubernetes"
    MONGODB = "MongoDB"
    KAFKA = "Kafka"
    REDIS = "Redis"


class DriftAction(StrEnum):
    """What the operator did about a drift."""

    CORRECTED = "Corrected"
    REPORTED = "Reported"


class DriftRecord(BaseModel):
    """A difference between a backend and the spec that nobody asked for, and what was done."""

    model_config = _MODEL_CONFIG

    backend: DriftBackend = Field(description="The backend holding the object.")
    object: str = Field(description="The drifted object, e.g. topic tenant.acme.events.")
    found: str = Field(description="What was found, e.g. retention.ms is 1000, want 604800000.")
    action: DriftAction = Field(description="Corrected, or Reported when only a human can fix it.")
    detected_at: datetime = Field(description="When the operator found it.")


class TenantStatus(BaseModel):
    """Observed state of a tenant, written by the operator."""

    model_config = _MODEL_CONFIG

    observed_generation: int | None = Field(
        default=None,
        description="The .metadata.generation the operator last reconciled.",
        ge=0,
    )
    conditions: list[Condition] = Field(
        default_factory=list,
        description=(
            "Ready and Synced plus one condition per backend: MongoReady, KafkaReady, RedisReady."
        ),
        max_length=16,
        json_schema_extra={
            "x-kubernetes-list-type": "map",
            "x-kubernetes-list-map-keys": ["type"],
        },
    )
    namespace: str | None = _immutable("The tenant's namespace.")  # type: ignore[assignment]
    database: str | None = _immutable("The tenant's MongoDB database.")  # type: ignore[assignment]
    redis_user: str | None = _immutable("The tenant's Redis ACL user.")  # type: ignore[assignment]
    kafka_user: str | None = _immutable(  # type: ignore[assignment]
        "The tenant's Kafka SCRAM principal (User:<name>), when the cluster has an authorizer."
    )
    topics: list[str] = Field(
        default_factory=list,
        description="Full names of the tenant's Kafka topics.",
        max_length=MAX_TOPICS,
    )
    drift: list[DriftRecord] = Field(
        default_factory=list,
        description="The latest drifts found by the periodic re-check (newest last).",
        max_length=MAX_DRIFT_RECORDS,
    )
