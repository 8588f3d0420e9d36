"""Nothing lost: a dispatcher killed with SIGKILL under load, and dispatchers joining and leaving
the group under load. Every event is delivered at least once; a duplicate always carries the
same webhook-id as the first delivery of its event."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from typing import Any

from pymongo import AsyncMongoClient

from caas_control_plane.auth.webhook_sealing import WebhookSecretSealer
from caas_control_plane.dispatcher.signing import webhook_id
from caas_core.adapters.webhook_store import WebhookStore
from caas_core.domain.naming import PLATFORM_DATABASE
from tests.conftest import Stack
from tests.integration.control_plane.conftest import free_port
from tests.integration.dispatcher.conftest import dispatcher_env
from tests.integration.dispatcher.support import (
    Events,
    Receiver,
    await_for,
    register,
    unique_tenant,
)


def _publish_paced(events: Events, tenants: list[str], n: int, per_batch: int = 20) -> list[str]:
    """`n` events per tenant in small batches (a steady load rather than one burst), spread over
    every partition of both event topics: whatever the assignment, each member of the group
    owns some of them (9 partitions, only 3 of them internal.retry's)."""
    ids: list[str] = []
    for round_ in range(n // per_batch):
        topic = ("events", "platform.events")[round_ % 2]
        for partition, tenant in enumerate(tenants):
            ids += events.publish(tenant, per_batch, partition=partition % 3, topic=topic)
    return ids


def _check_at_least_once(receiver: Receiver, ids: list[str], endpoint_of: dict[str, str]) -> int:
    """Every event received; every delivery's webhook-id is its event's; returns duplicates."""
    received = list(receiver.received)
    assert {r.body["id"] for r in received} >= set(ids)
    for r in received:
        assert r.webhook_id == webhook_id(r.body["id"], endpoint_of[r.body["tenant"]])
    return len(received) - len({r.body["id"] for r in received})


def _start_process(stack: Stack, group: str) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        **dispatcher_env(
            stack,
            MONGODB_URI=stack.api_mongodb_uri,
            CAAS_DISPATCHER_GROUP=group,
            CAAS_DISPATCHER_PORT=str(free_port()),
            CAAS_LOG_LEVEL="error",
        ),
    }
    return subprocess.Popen(
        [sys.executable, "-m", "caas_control_plane.dispatcher"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def test_kill_9_under_load_loses_nothing(
    stack: Stack,
    platform_dispatcher_stopped: None,
    receivers: Callable[..., Any],
    sealer: WebhookSecretSealer,
    events: Events,
    new_group: Callable[[], str],
    mongo: AsyncMongoClient[dict[str, Any]],
) -> None:
    store = WebhookStore(mongo[PLATFORM_DATABASE])
    tenant = unique_tenant("kill")
    receiver = receivers()
    endpoint, _ = await register(store, sealer, tenant=tenant, url=receiver.url)
    group = new_group()
    first = _start_process(stack, group)
    second = None
    try:
        (probe,) = events.publish(tenant)
        await await_for(lambda: probe in receiver.event_ids(), timeout=60, what="the first")
        ids: list[str] = []
        load = threading.Thread(target=lambda: ids.extend(_publish_paced(events, [tenant], 600)))
        load.start()
        await await_for(lambda: len(receiver.received) > 150, what="deliveries under load")
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        second = _start_process(stack, group)
        await await_for(lambda: not load.is_alive(), timeout=60, what="the load published")
        await await_for(
            lambda: receiver.event_ids() >= {probe, *ids}, timeout=90, what="every event"
        )
        duplicates = _check_at_least_once(receiver, [probe, *ids], {tenant: endpoint.endpoint_id})
        print(f"kill -9: {len(ids) + 1} events, {duplicates} delivered twice (same webhook-id)")
    finally:
        for process in (first, second):
            if process is not None and process.poll() is None:
                process.terminate()
                process.wait(30)
        await store.unregister(endpoint.endpoint_id, writer=endpoint.managed_by)


async def test_two_dispatchers_share_the_load_and_a_rebalance_loses_nothing(
    dispatcher: Callable[..., Any],
    receivers: Callable[..., Any],
    store: WebhookStore,
    sealer: WebhookSecretSealer,
    events: Events,
    new_group: Callable[[], str],
) -> None:
    tenants = [unique_tenant("share") for _ in range(3)]
    receiver = receivers()
    endpoint_of = {}
    for tenant in tenants:
        endpoint, _ = await register(store, sealer, tenant=tenant, url=receiver.url)
        endpoint_of[tenant] = endpoint.endpoint_id
    group = new_group()
    async with dispatcher(group=group) as one, dispatcher(group=group) as two:
        await await_for(
            lambda: one.consumer.assigned.is_set() and two.consumer.assigned.is_set(),
            what="both assigned",
        )
        ids = _publish_paced(events, tenants, 100)
        await await_for(lambda: receiver.event_ids() >= set(ids), what="the first load")
        assert one.consumer.handled > 0
        assert two.consumer.handled > 0
        # Under load, a third joins and the second leaves: two rebalances.
        more: list[str] = []
        load = threading.Thread(target=lambda: more.extend(_publish_paced(events, tenants, 200)))
        load.start()
        async with dispatcher(group=group):
            await two.stop()
            await await_for(lambda: not load.is_alive(), timeout=60, what="the load published")
            await await_for(lambda: receiver.event_ids() >= set(more), what="the second load")
    _check_at_least_once(receiver, [*ids, *more], endpoint_of)
