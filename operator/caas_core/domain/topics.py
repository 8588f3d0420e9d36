"""Kafka topic specifications: the platform's topics and the comparison with a live topic."""

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Final

DAY_MS: Final = 24 * 60 * 60 * 1000
DEFAULT_PARTITIONS: Final = 3
DEFAULT_REPLICATION_FACTOR: Final = 1

RETENTION_MS: Final = "retention.ms"
COMPRESSION_TYPE: Final = "compression.type"
CLEANUP_POLICY: Final = "cleanup.policy"


class Compression(StrEnum):
    """Values of the topic-level compression.type setting."""

    PRODUCER = "producer"
    NONE = "uncompressed"
    GZIP = "gzip"
    SNAPPY = "snappy"
    LZ4 = "lz4"
    ZSTD = "zstd"


class CleanupPolicy(StrEnum):
    """Values of the topic-level cleanup.policy setting."""

    DELETE = "delete"
    COMPACT = "compact"
    COMPACT_DELETE = "compact,delete"


@dataclass(frozen=True, slots=True, kw_only=True)
class TopicSpec:
    """The desired shape of one Kafka topic."""

    name: str
    partitions: int
    replication_factor: int
    config: Mapping[str, str] = field(default_factory=dict)


def topic_config(
    *,
    retention_ms: int,
    compression: Compression = Compression.PRODUCER,
    cleanup_policy: CleanupPolicy = CleanupPolicy.DELETE,
) -> dict[str, str]:
    """Topic-level configuration entries as Kafka expects them (all strings)."""
    return {
        RETENTION_MS: str(retention_ms),
        COMPRESSION_TYPE: compression.value,
        CLEANUP_POLICY: cleanup_policy.value,
    }


# (name, retention in days, compression) as fixed by the platform's seed inventory.
_PLATFORM_TOPICS: Final = (
    ("platform.events", 7, Compression.SNAPPY),
    ("platform.audit", 30, Compression.SNAPPY),
    ("platform.notifications", 7, Compression.PRODUCER),
    ("internal.dlq", 30, Compression.PRODUCER),
    ("internal.retry", 7, Compression.PRODUCER),
    ("auth.revocation.events", 30, Compression.PRODUCER),
    ("events", 7, Compression.PRODUCER),
)
PLATFORM_TOPIC_NAMES: Final = tuple(name for name, _, _ in _PLATFORM_TOPICS)


def platform_topics(
    *,
    replication_factor: int = DEFAULT_REPLICATION_FACTOR,
    partitions: int = DEFAULT_PARTITIONS,
) -> tuple[TopicSpec, ...]:
    """The platform-wide topics every installation needs."""
    return tuple(
        TopicSpec(
            name=name,
            partitions=partitions,
            replication_factor=replication_factor,
            config=topic_config(retention_ms=days * DAY_MS, compression=compression),
        )
        for name, days, compression in _PLATFORM_TOPICS
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class TopicDrift:
    """One way a live topic differs from its spec."""

    topic: str
    setting: str
    desired: str
    actual: str
    # Kafka can raise partitions and change configs online, but never lower partitions
    # nor (here) change the replication factor; those need a human.
    correctable: bool

    def describe(self) -> str:
        """Human-readable one-liner."""
        return f"{self.topic}: {self.setting} is {self.actual}, want {self.desired}"


def diff_topic(
    desired: TopicSpec,
    *,
    partitions: int,
    replication_factor: int,
    config: Mapping[str, str],
) -> tuple[TopicDrift, ...]:
    """Compare a live topic with its spec; only settings named in the spec are compared."""
    drifts: list[TopicDrift] = []
    if partitions != desired.partitions:
        drifts.append(
            TopicDrift(
                topic=desired.name,
                setting="partitions",
                desired=str(desired.partitions),
                actual=str(partitions),
                correctable=desired.partitions > partitions,
            )
        )
    if replication_factor != desired.replication_factor:
        drifts.append(
            TopicDrift(
                topic=desired.name,
                setting="replication.factor",
                desired=str(desired.replication_factor),
                actual=str(replication_factor),
                correctable=False,
            )
        )
    drifts.extend(
        TopicDrift(
            topic=desired.name,
            setting=key,
            desired=value,
            actual=config.get(key, "<unset>"),
            correctable=True,
        )
        for key, value in sorted(desired.config.items())
        if config.get(key) != value
    )
    return tuple(drifts)
