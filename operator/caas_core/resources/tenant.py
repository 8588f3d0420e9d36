"""The Tenant custom resource: spec and status models (the CRD schema is generated from these)."""

from enum import StrEnum
from typing import Final, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic.alias_generators import to_camel

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

_MODEL_CONFIG: Final = ConfigDict(
    alias_generator=to_camel,
    populate_by_name=True,
    frozen=True,
    # The API server prunes unknown fields; ignoring extras keeps older operators working.
    extra="ignore",
    use_enum_values=False,
)


class DeletionPolicy(StrEnum):
    """What happens to a tenant's data when its Tenant resource is deleted."""

    RETAIN = "Retain"
    DELETE = "Delete"


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
    """The tenant's Kafka topics."""

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


class TenantSpec(BaseModel):
    """Desired state of a tenant of the CAAS platform."""

    model_config = _MODEL_CONFIG

    display_name: str | None = Field(
        default=None,
        description="Human-friendly tenant name shown in consoles; the resource name is the id.",
        max_length=128,
    )
    kafka: KafkaSpec = Field(
        default_factory=KafkaSpec,
        description="Kafka resources of the tenant.",
    )
    deletion_policy: DeletionPolicy = Field(
        default=DeletionPolicy.RETAIN,
        description=(
            "On deletion, Retain revokes access but keeps the MongoDB database and Kafka topics; "
            "Delete also drops them."
        ),
    )


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
        description="Ready plus one condition per backend: MongoReady, KafkaReady, RedisReady.",
        max_length=16,
        json_schema_extra={
            "x-kubernetes-list-type": "map",
            "x-kubernetes-list-map-keys": ["type"],
        },
    )
    namespace: str | None = Field(default=None, description="The tenant's namespace.")
    database: str | None = Field(default=None, description="The tenant's MongoDB database.")
    redis_user: str | None = Field(default=None, description="The tenant's Redis ACL user.")
    topics: list[str] = Field(
        default_factory=list,
        description="Full names of the tenant's Kafka topics.",
        max_length=MAX_TOPICS,
    )
