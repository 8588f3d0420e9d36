"""The operator's tenant lifecycle events: a real Tenant reconcile and teardown on the stack
queue tenant.created, tenant.ready and tenant.deleted in the platform outbox (the API's relay
publishes them to platform.events), each once per fact with a stable id."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime
from typing import Any

from confluent_kafka import Consumer, TopicPartition
from lightkube.models.meta_v1 import ObjectMeta

from caas_core.adapters.authz_store import AuthzStore
from caas_core.authz.documents import SCHEMA_KEY, Kind
from caas_core.authz.objects import Writer
from caas_core.domain.naming import PLATFORM_DATABASE
from caas_core.domain.webhook_events import stable_event_id
from caas_operator.context import OperatorContext
from caas_operator.shared.kube import TenantResource
from caas_operator.tenant.deletion import finalize
from caas_operator.tenant.reconcile import reconcile
from tests.conftest import Stack
from tests.integration.operator_kinds.conftest import Tenant, drop_tenant


async def queued(ctx: OperatorContext, tenant: str) -> dict[str, dict[str, Any]]:
    """The tenant's platform events still in the outbox, by id."""
    outbox = ctx.clients.mongo[PLATFORM_DATABASE]["outbox"]
    cursor = outbox.find({"topic": "platform.events", "payload.tenant": tenant})
    return {doc["_id"]: doc["payload"] async for doc in cursor}


def listening(stack: Stack) -> Consumer:
    """A reader of platform.events from its current end (an API relay on this shared stack
    may publish the operator's messages, which then leave the outbox)."""
    reader = Consumer(
        {"bootstrap.servers": stack.kafka_bootstrap, "group.id": "it-tenant-events",
         "enable.auto.commit": False}
    )  # fmt: skip
    partitions = reader.list_topics(timeout=10).topics["platform.events"].partitions
    ends = {p: reader.get_watermark_offsets(TopicPartition("platform.events", p), 10)[1]
            for p in partitions}  # fmt: skip
    reader.assign([TopicPartition("platform.events", p, end) for p, end in ends.items()])
    return reader


def published(
    reader: Consumer, tenant: str, *, missing: set[str], polls: int = 60
) -> dict[str, dict[str, Any]]:
    """The tenant's events a relay published, by id, read until none of `missing` is."""
    found: dict[str, dict[str, Any]] = {}
    for _ in range(polls):
        if missing <= set(found):
            break
        message = reader.poll(0.5)
        if message is None or message.error():
            continue
        envelope = json.loads(message.value() or b"{}")
        if envelope.get("tenant") == tenant:
            found[envelope["id"]] = envelope
    return found


async def test_tenant_lifecycle_events_are_queued_once_per_fact(
    ctx: OperatorContext, stack: Stack
) -> None:
    reader = listening(stack)
    name = f"it-{uuid.uuid4().hex[:6]}"
    spec: dict[str, Any] = {"deletionPolicy": "Delete"}
    created = await ctx.kube.create(TenantResource(metadata=ObjectMeta(name=name), spec=spec))
    assert created.metadata is not None
    uid = str(created.metadata.uid)
    try:
        first = await reconcile(
            ctx, name=name, uid=uid, spec=spec, annotations=None, old_status=None, generation=1
        )
        assert first.ready, first.summary
        # Converged again: no transition, nothing new queued.
        await reconcile(
            ctx, name=name, uid=uid, spec=spec, annotations=None, old_status=first.status,
            generation=1,
        )  # fmt: skip
        deleted_at = datetime.now(UTC)
        torn = await finalize(
            ctx, name=name, spec=spec, annotations=None, old_status=first.status, generation=1,
            deleted_at=deleted_at,
        )  # fmt: skip
        assert torn.done
        expected = {
            stable_event_id("tenant.created", uid): "tenant.created",
            stable_event_id("tenant.ready", uid, "1"): "tenant.ready",
            stable_event_id("tenant.deleted", name, deleted_at.isoformat()): "tenant.deleted",
        }
        # The outbox first: what left it before this read was published, so Kafka has it.
        events = await queued(ctx, name)
        missing = set(expected) - set(events)
        events |= await asyncio.to_thread(published, reader, name, missing=missing)
        assert {i: e["type"] for i, e in events.items()} == expected
        assert all(e["tenant"] == name and e["id"] == i for i, e in events.items())
        deleted = next(e for e in events.values() if e["type"] == "tenant.deleted")
        assert deleted["data"] == {"tenant": name, "deletionPolicy": "Delete"}
    finally:
        await drop_tenant(ctx, Tenant(name=name, ctx=ctx))
        reader.close()


async def test_deleting_a_tenant_removes_its_authorization_objects_unless_it_is_retained(
    ctx: OperatorContext,
) -> None:
    authz = AuthzStore(ctx.clients.mongo[PLATFORM_DATABASE])
    schema = {"entityTypes": {"User": {}, "Channel": {}}, "actions": {"read": {}}}
    for policy in ("Delete", "Retain"):
        name = f"it-{uuid.uuid4().hex[:6]}"
        spec: dict[str, Any] = {"deletionPolicy": policy}
        created = await ctx.kube.create(TenantResource(metadata=ObjectMeta(name=name), spec=spec))
        assert created.metadata is not None
        try:
            ready = await reconcile(
                ctx, name=name, uid=str(created.metadata.uid), spec=spec, annotations=None,
                old_status=None, generation=1,
            )  # fmt: skip
            assert ready.ready, ready.summary
            await authz.put(name, Kind.SCHEMA, SCHEMA_KEY, schema, writer=Writer.API)
            torn = await finalize(
                ctx, name=name, spec=spec, annotations=None, old_status=ready.status,
                generation=1, deleted_at=datetime.now(UTC),
            )  # fmt: skip
            assert torn.done
            left = await authz.get(name, Kind.SCHEMA, SCHEMA_KEY)
            assert (left is None) == (policy == "Delete"), policy
        finally:
            await authz.delete_tenant(name)
            await drop_tenant(ctx, Tenant(name=name, ctx=ctx))
