"""Retention I/O: delete what a sweep plan says, log the run, set topics' retention.ms.

Every decision is made by `caas_core.domain.retention`; this module only runs the filters it
was handed and reports the counts.
"""

import asyncio
import concurrent.futures
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, Final, TypeVar

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import (
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    ResourceType,
)
from pymongo.asynchronous.database import AsyncDatabase

from caas_core.domain.retention import (
    BACKINGS,
    DELETION_LOG_COLLECTION,
    ClassResult,
    SweepRun,
    SweepTarget,
    deletion_log,
)
from caas_core.domain.topics import RETENTION_MS

Document = dict[str, Any]
T = TypeVar("T")
# Prunes one tenant's audit log of entries older than a cutoff; returns how many went.
AuditLogPruner = Callable[[datetime, bool], Awaitable[int]]
_GRACE: Final = 1.0


class RetentionKafkaError(RuntimeError):
    """Kafka refused to describe or change a topic's retention."""


async def sweep(
    database: AsyncDatabase[Document],
    targets: Sequence[SweepTarget],
    *,
    dry_run: bool,
    audit_log: AuditLogPruner | None = None,
) -> list[ClassResult]:
    """Delete (or, in a dry run, count) each target's expired records; count the held ones.
    The audit log, when given, is pruned as a verifiable prefix (auditlog.prune)."""
    results: list[ClassResult] = []
    for target in targets:
        if BACKINGS[target.data_class].chained_log and audit_log is not None:
            deleted = 0
            if target.delete is not None:
                deleted = await audit_log(target.cutoff, dry_run)
            results.append(ClassResult(target=target, deleted=deleted))
            continue
        if target.collection is None:
            results.append(ClassResult(target=target))
            continue
        collection = database[target.collection]
        held = 0 if target.held is None else await collection.count_documents(dict(target.held))
        deleted = 0
        if target.delete is not None:
            if dry_run:
                deleted = await collection.count_documents(dict(target.delete))
            else:
                deleted = (await collection.delete_many(dict(target.delete))).deleted_count
        results.append(ClassResult(target=target, deleted=deleted, held=held))
    return results


async def log_run(platform: AsyncDatabase[Document], run: SweepRun) -> None:
    """Append the run to caas_platform.deletion_logs (its id makes a retried write a no-op)."""
    doc = deletion_log(run)
    await platform[DELETION_LOG_COLLECTION].replace_one({"_id": doc["_id"]}, doc, upsert=True)


async def _await(future: "concurrent.futures.Future[T]", *, timeout: float) -> T:
    async with asyncio.timeout(timeout + _GRACE):
        return await asyncio.wrap_future(future)


async def topic_retention(
    admin: AdminClient, names: Sequence[str], *, timeout: float = 10.0
) -> dict[str, str]:
    """The live retention.ms of each topic."""
    if not names:
        return {}
    futures = admin.describe_configs(
        [ConfigResource(ResourceType.TOPIC, name) for name in names], request_timeout=timeout
    )
    live: dict[str, str] = {}
    for resource, future in futures.items():
        try:
            entries: Mapping[str, ConfigEntry] = await _await(future, timeout=timeout)
        except KafkaException as exc:
            raise RetentionKafkaError(f"{resource.name}: {_detail(exc)}") from exc
        entry = entries.get(RETENTION_MS)
        if entry is not None and entry.value is not None:
            live[resource.name] = entry.value
    return live


async def set_topic_retention(
    admin: AdminClient, changes: Mapping[str, int], *, timeout: float = 10.0
) -> None:
    """Set retention.ms on each topic (an incremental change: other settings are kept)."""
    if not changes:
        return
    resources = [
        ConfigResource(
            ResourceType.TOPIC,
            name,
            incremental_configs=[
                ConfigEntry(RETENTION_MS, str(ms), incremental_operation=AlterConfigOpType.SET)
            ],
        )
        for name, ms in sorted(changes.items())
    ]
    futures = admin.incremental_alter_configs(resources, request_timeout=timeout)
    failures: list[str] = []
    for resource, future in futures.items():
        try:
            await _await(future, timeout=timeout)
        except KafkaException as exc:
            failures.append(f"{resource.name}: {_detail(exc)}")
    if failures:
        raise RetentionKafkaError("; ".join(failures))


def _detail(exc: KafkaException) -> str:
    error = exc.args[0] if exc.args else None
    return error.str() if isinstance(error, KafkaError) else str(exc)
