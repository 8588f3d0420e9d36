"""Delivery on the real stack: Standard Webhooks signatures (checked by the reference library),
retries with the same webhook-id, Retry-After, 410, dead letters and tenant isolation."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from caas_control_plane.auth.webhook_sealing import WebhookSecretSealer
from caas_control_plane.dispatcher.messages import DLQ_TOPIC
from caas_core.adapters.webhook_store import WebhookStore
from caas_core.domain.webhook_records import new_signing_secret
from tests.conftest import Stack
from tests.integration.dispatcher.support import (
    Events,
    always,
    await_for,
    end_offsets,
    failing_first,
    read_topic_from,
    register,
    unique_tenant,
    until,
)


async def test_signed_per_standard_webhooks_by_both_secrets_during_a_rotation_overlap(
    dispatcher: Callable[..., Any],
    receivers: Callable[..., Any],
    store: WebhookStore,
    sealer: WebhookSecretSealer,
    events: Events,
) -> None:
    tenant = unique_tenant()
    new, old = new_signing_secret(), new_signing_secret()
    receiver = receivers([new, old])
    await register(
        store, sealer, tenant=tenant, url=receiver.url, secrets_=[new, old],
        previous_expires=datetime.now(UTC) + timedelta(hours=1),
    )  # fmt: skip
    async with dispatcher():
        ids = events.publish(tenant, 3)
        await await_for(lambda: receiver.event_ids() == set(ids), what="3 deliveries")
    # Each message verifies with the old secret and with the new one (two signatures).
    assert {r.verified_with for r in receiver.received} == {(0, 1)}
    assert all(len(r.headers["webhook-signature"].split(" ")) == 2 for r in receiver.received)


async def test_after_the_overlap_only_the_current_secret_signs(
    dispatcher: Callable[..., Any],
    receivers: Callable[..., Any],
    store: WebhookStore,
    sealer: WebhookSecretSealer,
    events: Events,
) -> None:
    tenant = unique_tenant()
    new, old = new_signing_secret(), new_signing_secret()
    receiver = receivers([new, old])
    await register(
        store, sealer, tenant=tenant, url=receiver.url, secrets_=[new, old],
        previous_expires=datetime.now(UTC) - timedelta(seconds=1),
    )  # fmt: skip
    async with dispatcher():
        (event_id,) = events.publish(tenant)
        await await_for(lambda: receiver.event_ids() == {event_id}, what="the delivery")
    assert receiver.received[0].verified_with == (0,)


async def test_a_receiver_failing_twice_gets_the_message_once_more_with_the_same_id(
    dispatcher: Callable[..., Any],
    receivers: Callable[..., Any],
    store: WebhookStore,
    sealer: WebhookSecretSealer,
    events: Events,
    db: Any,
) -> None:
    tenant = unique_tenant()
    secret = new_signing_secret()
    receiver = receivers([secret], behaviour=failing_first(2, 503))
    endpoint, _ = await register(store, sealer, tenant=tenant, url=receiver.url, secrets_=[secret])
    async with dispatcher() as process:
        (event_id,) = events.publish(tenant)
        await await_for(lambda: len(receiver.received) == 3, what="three attempts")
        await await_for(
            lambda: process.metrics.deliveries._value.get() >= 1, what="the success logged"
        )
        ids = receiver.ids()
        assert len(set(ids)) == 1
        assert all(r.verified_with == (0,) for r in receiver.received)
        assert receiver.received[0].body["id"] == event_id
        attempts = (
            await db["webhook_attempts"]
            .find({"endpointId": endpoint.endpoint_id})
            .sort("attempt")
            .to_list()
        )
    assert [(a["attempt"], a["status"], a["state"]) for a in attempts] == [
        (1, 503, "retrying"),
        (2, 503, "retrying"),
        (3, 200, "delivered"),
    ]
    assert attempts[0]["nextRetryAt"] is not None
    assert attempts[2]["nextRetryAt"] is None
    # Nothing more arrives after the success (no duplicate attempt 4).
    assert len(receiver.received) == 3


async def test_retry_after_is_respected(
    dispatcher: Callable[..., Any],
    receivers: Callable[..., Any],
    store: WebhookStore,
    sealer: WebhookSecretSealer,
    events: Events,
) -> None:
    tenant = unique_tenant()
    receiver = receivers(behaviour=failing_first(1, 429, {"Retry-After": "2"}))
    await register(store, sealer, tenant=tenant, url=receiver.url)
    async with dispatcher():
        events.publish(tenant)
        await await_for(lambda: len(receiver.received) == 2, what="the second attempt")
    first, second = receiver.received
    # The schedule says 0.3 s; the receiver asked for 2 s, and got at least that.
    assert second.at - first.at >= 2.0


async def test_410_disables_the_endpoint_and_tells_the_tenant(
    dispatcher: Callable[..., Any],
    receivers: Callable[..., Any],
    store: WebhookStore,
    sealer: WebhookSecretSealer,
    events: Events,
) -> None:
    tenant = unique_tenant()
    gone = receivers(behaviour=always(410))
    watcher = receivers()
    endpoint, _ = await register(
        store, sealer, tenant=tenant, url=gone.url, event_types=["message.*"]
    )
    await register(store, sealer, tenant=tenant, url=watcher.url, event_types=["webhook.*"])
    async with dispatcher() as process:
        events.publish(tenant)
        await await_for(lambda: watcher.received, what="webhook.endpoint_disabled")
        stored = await store.get(endpoint.endpoint_id)
        assert stored is not None
        assert stored.disabled_at is not None
        assert "410" in (stored.disabled_reason or "")
        notice = watcher.received[0].body
        assert notice["type"] == "webhook.endpoint_disabled"
        assert notice["data"]["endpointId"] == endpoint.endpoint_id
        # Later events go to the tenant's other endpoints, never to the disabled one.
        other = receivers()
        second, _ = await register(store, sealer, tenant=tenant, url=other.url)
        await await_for(lambda: process.directory.get(second.endpoint_id), what="a refresh")
        (later,) = events.publish(tenant)
        await await_for(lambda: later in other.event_ids(), what="a later event elsewhere")
    assert len(gone.received) == 1


async def test_exhausted_messages_land_in_the_dlq(
    stack: Stack,
    dispatcher: Callable[..., Any],
    receivers: Callable[..., Any],
    store: WebhookStore,
    sealer: WebhookSecretSealer,
    events: Events,
    db: Any,
) -> None:
    tenant = unique_tenant()
    receiver = receivers(behaviour=always(500))
    endpoint, _ = await register(store, sealer, tenant=tenant, url=receiver.url)
    start = end_offsets(stack.kafka_bootstrap, DLQ_TOPIC)
    async with dispatcher():
        (event_id,) = events.publish(tenant)
        await await_for(lambda: len(receiver.received) == 4, what="four attempts")
        await until(
            lambda: db["webhook_attempts"].find_one(
                {"endpointId": endpoint.endpoint_id, "state": "dead"}
            ),
            what="the dead attempt logged",
        )
    letters = [
        r
        for r in read_topic_from(stack.kafka_bootstrap, DLQ_TOPIC, start)
        if r.get("endpointId") == endpoint.endpoint_id
    ]
    assert [(x["event"]["id"], x["attempts"], x["lastStatus"]) for x in letters] == [
        (event_id, 4, 500)
    ]


async def test_tenant_a_never_receives_tenant_b_events(
    dispatcher: Callable[..., Any],
    receivers: Callable[..., Any],
    store: WebhookStore,
    sealer: WebhookSecretSealer,
    events: Events,
) -> None:
    a, b = unique_tenant("wa"), unique_tenant("wb")
    receiver_a, receiver_b = receivers(), receivers()
    await register(store, sealer, tenant=a, url=receiver_a.url)
    await register(store, sealer, tenant=b, url=receiver_b.url)
    async with dispatcher():
        ids_b = events.publish(b, 5)
        ids_a = events.publish(a, 5)
        await await_for(lambda: receiver_a.event_ids() == set(ids_a), what="A's events")
        await await_for(lambda: receiver_b.event_ids() == set(ids_b), what="B's events")
    assert {r.body["tenant"] for r in receiver_a.received} == {a}
    assert {r.body["tenant"] for r in receiver_b.received} == {b}
