"""Per-endpoint policies on the real stack: auto-disable after sustained failure, a concurrency
cap that keeps one slow receiver from stalling the others, a rate limit, in-order delivery for
endpoints that ask for it; and the process's /healthz and /metrics."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import httpx

from caas_control_plane.auth.webhook_sealing import WebhookSecretSealer
from caas_core.adapters.webhook_store import WebhookStore
from tests.integration.control_plane.conftest import free_port
from tests.integration.dispatcher.support import (
    Answer,
    Events,
    always,
    await_for,
    register,
    unique_tenant,
    until,
)


async def test_an_endpoint_failing_for_too_long_is_disabled_and_its_tenant_told(
    dispatcher: Callable[..., Any],
    receivers: Callable[..., Any],
    store: WebhookStore,
    sealer: WebhookSecretSealer,
    events: Events,
    db: Any,
) -> None:
    tenant = unique_tenant("sick")
    failing = receivers(behaviour=always(500))
    watcher = receivers()
    endpoint, _ = await register(
        store, sealer, tenant=tenant, url=failing.url, event_types=["message.*"]
    )
    await register(store, sealer, tenant=tenant, url=watcher.url, event_types=["webhook.*"])
    schedule = "0,0.4,0.4,0.4,0.4,0.4,0.4,0.4"  # eight attempts would take 2.8 s
    async with dispatcher(
        CAAS_WEBHOOK_DISABLE_AFTER_SECONDS="0.5", CAAS_WEBHOOK_RETRY_SCHEDULE=schedule
    ):
        events.publish(tenant)
        await await_for(lambda: watcher.received, what="webhook.endpoint_disabled")
        stored = await store.get(endpoint.endpoint_id)
        last = await until(
            lambda: db["webhook_attempts"].find_one(
                {"endpointId": endpoint.endpoint_id, "state": "endpoint_disabled"}
            ),
            what="the disabling attempt logged",
        )
    assert stored is not None
    assert "failing without a success" in (stored.disabled_reason or "")
    assert watcher.received[0].body["type"] == "webhook.endpoint_disabled"
    assert last["attempt"] < 8  # disabled before the schedule ran out
    assert len(failing.received) == last["attempt"]


async def test_a_slow_endpoint_holds_only_its_own_slots(
    dispatcher: Callable[..., Any],
    receivers: Callable[..., Any],
    store: WebhookStore,
    sealer: WebhookSecretSealer,
    events: Events,
) -> None:
    release = threading.Event()

    def stuck(_id: str, _n: int) -> Answer:
        release.wait(60)
        return 200, {}

    slow_tenant, fast_tenant = unique_tenant("slow"), unique_tenant("fast")
    slow, fast = receivers(behaviour=stuck), receivers()
    await register(store, sealer, tenant=slow_tenant, url=slow.url, max_concurrency=2)
    await register(store, sealer, tenant=fast_tenant, url=fast.url)
    try:
        async with dispatcher():
            # Same partition: the slow endpoint's messages are read first.
            slow_ids = events.publish(slow_tenant, 10, partition=0)
            fast_ids = events.publish(fast_tenant, 10, partition=0)
            await await_for(lambda: fast.event_ids() == set(fast_ids), what="the fast endpoint")
            assert len(slow.received) <= 2  # its cap: the other eight wait for a slot
            release.set()
            await await_for(lambda: slow.event_ids() == set(slow_ids), what="the slow endpoint")
    finally:
        release.set()


async def test_rate_limit_and_in_order_delivery(
    dispatcher: Callable[..., Any],
    receivers: Callable[..., Any],
    store: WebhookStore,
    sealer: WebhookSecretSealer,
    events: Events,
) -> None:
    limited_tenant, ordered_tenant = unique_tenant("rate"), unique_tenant("order")
    limited = receivers()
    first_fails: dict[str, bool] = {}

    def once_then_ok(wid: str, seen: int) -> Answer:
        # The first message fails once: an ordered endpoint must not deliver the next meanwhile.
        if not first_fails:
            first_fails[wid] = True
        return (503, {}) if wid in first_fails and seen == 0 else (200, {})

    ordered = receivers(behaviour=once_then_ok)
    # Options set as the REST API and the Webhook resource set them (through the store).
    await register(store, sealer, tenant=limited_tenant, url=limited.url, rate_limit_per_second=5)
    await register(store, sealer, tenant=ordered_tenant, url=ordered.url, ordered=True)
    async with dispatcher():
        limited_ids = events.publish(limited_tenant, 15)
        ordered_ids = events.publish(ordered_tenant, 5)
        await await_for(lambda: limited.event_ids() == set(limited_ids), what="rate-limited")
        await await_for(
            lambda: {r.body["id"] for r in ordered.received if r.seen or r.webhook_id not in
                     first_fails} == set(ordered_ids),
            what="ordered",
        )  # fmt: skip
    times = sorted(r.at for r in limited.received)
    # A burst of 5, then 10 more at 5 per second: the last is sent 2 s after the first (a
    # margin for the first attempt's connection set-up).
    assert times[-1] - times[0] >= 1.5
    arrivals = [r.body["id"] for r in ordered.received]
    assert arrivals == [ordered_ids[0], *ordered_ids]  # the first twice, then each in order


async def test_healthz_and_metrics(
    dispatcher: Callable[..., Any],
    receivers: Callable[..., Any],
    store: WebhookStore,
    sealer: WebhookSecretSealer,
    events: Events,
) -> None:
    tenant = unique_tenant("metrics")
    receiver = receivers()
    await register(store, sealer, tenant=tenant, url=receiver.url)
    port = free_port()
    async with dispatcher(serve_http=True, CAAS_DISPATCHER_PORT=str(port)):
        events.publish(tenant, 3)
        await await_for(lambda: len(receiver.received) == 3, what="deliveries")
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            health = await until(lambda: _get(client, "/healthz"), what="the HTTP port")
            assert health.json()["status"] == "ok"
            metrics = (await client.get("/metrics")).text
    assert "caas_webhook_deliveries_total" in metrics
    assert 'caas_webhook_attempts_total{state="delivered"}' in metrics
    assert "caas_webhook_retry_queue_depth" in metrics


async def _get(client: httpx.AsyncClient, path: str) -> httpx.Response | None:
    try:
        return await client.get(path)
    except httpx.TransportError:
        return None
