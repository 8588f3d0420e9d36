"""Kafka: AdminClient factory, idempotent topic provisioning with drift reports, a ping probe."""

import asyncio
import concurrent.futures
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, TypeVar

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import (
    AdminClient,
    AlterConfigOpType,
    ClusterMetadata,
    ConfigEntry,
    ConfigResource,
    NewPartitions,
    NewTopic,
    ResourceType,
)

from caas_core.adapters.probe import timed_probe
from caas_core.domain.health import ProbeResult
from caas_core.domain.topics import TopicDrift, TopicSpec, diff_topic

logger = logging.getLogger(__name__)

T = TypeVar("T")
# Headroom over librdkafka's own request timeout, so its error (not ours) usually wins.
_GRACE: Final = 1.0


class KafkaAdminError(RuntimeError):
    """A Kafka admin operation failed for one or more topics."""


@dataclass(frozen=True, slots=True, kw_only=True)
class LiveTopic:
    """Partition count and replication factor of an existing topic."""

    name: str
    partitions: int
    replication_factor: int


@dataclass(frozen=True, slots=True, kw_only=True)
class TopicsReport:
    """What ensure_topics did, and the drifts it cannot correct."""

    created: tuple[str, ...] = ()
    reconfigured: tuple[str, ...] = ()
    repartitioned: tuple[str, ...] = ()
    drifts: tuple[TopicDrift, ...] = ()


def connect(
    bootstrap_servers: str, *, client_id: str = "caas", timeout: float = 5.0
) -> AdminClient:
    """An AdminClient; it connects in the background, so creating it does not block."""
    millis = int(timeout * 1000)
    return AdminClient(
        {
            "bootstrap.servers": bootstrap_servers,
            "client.id": client_id,
            "socket.timeout.ms": millis,
            "socket.connection.setup.timeout.ms": millis,
            # librdkafka logs every failed reconnect to stderr; back off so an outage
            # yields a line every few seconds instead of twenty a second.
            "reconnect.backoff.ms": 1000,
            "reconnect.backoff.max.ms": 10000,
        }
    )


async def _await(future: "concurrent.futures.Future[T]", *, timeout: float) -> T:
    async with asyncio.timeout(timeout + _GRACE):
        return await asyncio.wrap_future(future)


async def ping(admin: AdminClient, *, timeout: float = 2.0) -> ProbeResult:
    """Ask the cluster to describe itself (needs a live broker connection)."""

    async def check() -> None:
        await asyncio.wrap_future(admin.describe_cluster(request_timeout=timeout))

    return await timed_probe(check, timeout=timeout)


async def describe_topics(admin: AdminClient, *, timeout: float = 10.0) -> dict[str, LiveTopic]:
    """Every non-internal topic with its partition count and replication factor."""
    # list_topics blocks on a metadata request, so it runs in a worker thread.
    metadata: ClusterMetadata = await asyncio.to_thread(admin.list_topics, timeout=timeout)
    live: dict[str, LiveTopic] = {}
    for name, topic in metadata.topics.items():
        if name.startswith("__"):
            continue
        if topic.error is not None:
            raise KafkaAdminError(f"cannot describe topic {name}: {topic.error.str()}")
        first = topic.partitions.get(0)
        live[name] = LiveTopic(
            name=name,
            partitions=len(topic.partitions),
            replication_factor=len(first.replicas) if first is not None else 0,
        )
    return live


async def list_topic_names(
    admin: AdminClient, *, prefix: str = "", timeout: float = 10.0
) -> tuple[str, ...]:
    """Sorted names of the topics that start with the prefix."""
    topics = await describe_topics(admin, timeout=timeout)
    return tuple(sorted(name for name in topics if name.startswith(prefix)))


async def ensure_topics(
    admin: AdminClient, topics: Sequence[TopicSpec], *, timeout: float = 10.0
) -> TopicsReport:
    """Create missing topics; raise partitions and set configs that drifted; report the rest."""
    live = await describe_topics(admin, timeout=timeout)
    missing = [t for t in topics if t.name not in live]
    existing = [t for t in topics if t.name in live]
    created = await _create(admin, missing, timeout=timeout)
    configs = await _describe_configs(admin, [t.name for t in existing], timeout=timeout)
    drifts = [
        drift
        for spec in existing
        for drift in diff_topic(
            spec,
            partitions=live[spec.name].partitions,
            replication_factor=live[spec.name].replication_factor,
            config=configs.get(spec.name, {}),
        )
    ]
    specs = {t.name: t for t in existing}
    grow = sorted({d.topic for d in drifts if d.correctable and d.setting == "partitions"})
    reconfigure = sorted({d.topic for d in drifts if d.correctable and d.setting != "partitions"})
    await _add_partitions(admin, [specs[n] for n in grow], timeout=timeout)
    await _set_configs(admin, [specs[n] for n in reconfigure], timeout=timeout)
    report = TopicsReport(
        created=tuple(created),
        reconfigured=tuple(reconfigure),
        repartitioned=tuple(grow),
        drifts=tuple(d for d in drifts if not d.correctable),
    )
    if report.created or report.reconfigured or report.repartitioned:
        logger.info(
            "kafka topics ensured",
            extra={
                "topics_created": list(report.created),
                "topics_reconfigured": list(report.reconfigured),
                "topics_repartitioned": list(report.repartitioned),
            },
        )
    return report


async def delete_topics(
    admin: AdminClient, names: Iterable[str], *, timeout: float = 10.0
) -> tuple[str, ...]:
    """Delete the topics; ones already gone count as deleted."""
    wanted = sorted(set(names))
    if not wanted:
        return ()
    futures = admin.delete_topics(wanted, operation_timeout=timeout, request_timeout=timeout)
    await _collect(futures, timeout=timeout, ignore=(KafkaError.UNKNOWN_TOPIC_OR_PART,))
    logger.info("kafka topics deleted", extra={"topics": wanted})
    return tuple(wanted)


async def _create(admin: AdminClient, topics: Sequence[TopicSpec], *, timeout: float) -> list[str]:
    if not topics:
        return []
    new = [
        NewTopic(
            t.name,
            num_partitions=t.partitions,
            replication_factor=t.replication_factor,
            config=dict(t.config),
        )
        for t in topics
    ]
    futures = admin.create_topics(new, operation_timeout=timeout, request_timeout=timeout)
    # Another reconciler may have won the race; the topic is then compared on the next pass.
    await _collect(futures, timeout=timeout, ignore=(KafkaError.TOPIC_ALREADY_EXISTS,))
    return [t.name for t in topics]


async def _describe_configs(
    admin: AdminClient, names: Sequence[str], *, timeout: float
) -> dict[str, dict[str, str]]:
    if not names:
        return {}
    resources = [ConfigResource(ResourceType.TOPIC, name) for name in names]
    futures = admin.describe_configs(resources, request_timeout=timeout)
    described: dict[str, dict[str, str]] = {}
    for resource, future in futures.items():
        entries: Mapping[str, ConfigEntry] = await _await(future, timeout=timeout)
        described[resource.name] = {
            key: entry.value for key, entry in entries.items() if entry.value is not None
        }
    return described


async def _add_partitions(
    admin: AdminClient, topics: Sequence[TopicSpec], *, timeout: float
) -> None:
    if not topics:
        return
    requests = [NewPartitions(t.name, t.partitions) for t in topics]
    futures = admin.create_partitions(requests, operation_timeout=timeout, request_timeout=timeout)
    await _collect(futures, timeout=timeout)


async def _set_configs(admin: AdminClient, topics: Sequence[TopicSpec], *, timeout: float) -> None:
    if not topics:
        return
    resources = [
        ConfigResource(
            ResourceType.TOPIC,
            t.name,
            incremental_configs=[
                ConfigEntry(key, value, incremental_operation=AlterConfigOpType.SET)
                for key, value in sorted(t.config.items())
            ],
        )
        for t in topics
    ]
    futures = admin.incremental_alter_configs(resources, request_timeout=timeout)
    await _collect(futures, timeout=timeout)


async def _collect(
    futures: Mapping[Any, "concurrent.futures.Future[Any]"],
    *,
    timeout: float,
    ignore: tuple[int, ...] = (),
) -> None:
    """Wait for every per-topic future; raise one error naming all topics that failed."""
    failures: list[str] = []
    for key, future in futures.items():
        try:
            await _await(future, timeout=timeout)
        except KafkaException as exc:
            error = exc.args[0] if exc.args else None
            if isinstance(error, KafkaError) and error.code() in ignore:
                continue
            detail = error.str() if isinstance(error, KafkaError) else str(exc)
            failures.append(f"{getattr(key, 'name', key)}: {detail}")
    if failures:
        raise KafkaAdminError("; ".join(failures))
