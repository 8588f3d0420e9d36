"""The deliveries REST API on the real stack: logs with cursor pages, stats, DLQ replay once the
receiver is fixed, recover, replay of one message; tenant isolation, scopes, audit entries."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo import AsyncMongoClient

from caas_control_plane.auth.webhook_sealing import WebhookSecretSealer
from caas_control_plane.dispatcher.runner import DispatcherProcess
from caas_core.adapters.webhook_store import WebhookStore
from caas_core.domain.naming import PLATFORM_DATABASE
from tests.conftest import Stack
from tests.integration.control_plane.conftest import Tenant, running_app
from tests.integration.dispatcher.conftest import dispatcher_settings
from tests.integration.dispatcher.support import (
    Events,
    await_for,
    failing_first,
    register,
    until,
)


async def test_logs_stats_dlq_replay_recover_and_replay_through_rest(
    stack: Stack,
    platform_dispatcher_stopped: None,
    tenant_factory: Callable[..., Any],
    receivers: Callable[..., Any],
    sealer: WebhookSecretSealer,
    events: Events,
    new_group: Callable[[], str],
    mongo: AsyncMongoClient[dict[str, Any]],
) -> None:
    owner: Tenant = await tenant_factory()
    other: Tenant = await tenant_factory()
    reader: Tenant = await tenant_factory(("webhooks:read",))
    store = WebhookStore(mongo[PLATFORM_DATABASE])
    # Dead after its 4 attempts; then healthy for whatever comes after.
    receiver = receivers(behaviour=failing_first(4, 500))
    endpoint, _ = await register(store, sealer, tenant=owner.name, url=receiver.url)
    eid = endpoint.endpoint_id
    settings = dispatcher_settings(stack, MONGODB_URI=stack.api_mongodb_uri)
    process = await DispatcherProcess.start(settings, serve_http=False, group_id=new_group())
    before = datetime.now(UTC) - timedelta(seconds=1)
    try:
        process.consumer.assigned.wait(30)
        (event_id,) = events.publish(owner.name)
        attempts = mongo[PLATFORM_DATABASE]["webhook_attempts"]
        await until(
            lambda: attempts.find_one({"endpointId": eid, "state": "dead"}), what="a dead letter"
        )
        async with running_app(dispatcher_settings(stack)) as (_, api):
            # Logs: newest first, one per page, the cursor walks all four attempts.
            seen, cursor = [], None
            while True:
                params: dict[str, Any] = {"limit": 1} | ({"cursor": cursor} if cursor else {})
                page = await api.get(f"/v1/webhooks/{eid}/logs", params=params,
                                     headers=owner.headers)  # fmt: skip
                assert page.status_code == 200, page.text
                seen += page.json()["items"]
                cursor = page.json()["nextCursor"]
                if cursor is None:
                    break
            assert [a["attempt"] for a in seen] == [4, 3, 2, 1]
            assert {a["webhookId"] for a in seen} == {seen[0]["webhookId"]}
            assert seen[0]["state"] == "dead"
            assert seen[0]["response"] == "not now"
            bad = await api.get(f"/v1/webhooks/{eid}/logs", params={"cursor": "nope"},
                                headers=owner.headers)  # fmt: skip
            assert bad.status_code == 400
            stats = (await api.get(f"/v1/webhooks/{eid}/stats", headers=owner.headers)).json()
            assert (stats["attempts"], stats["dead"], stats["successRate"]) == (4, 1, 0.0)

            # Another tenant sees nothing and resends nothing; a read-only key resends nothing.
            for path in (f"/v1/webhooks/{eid}/logs", f"/v1/webhooks/{eid}/stats"):
                assert (await api.get(path, headers=other.headers)).status_code == 404
            since = {"since": before.isoformat()}
            refused = await api.post(f"/v1/webhooks/{eid}/recover", json=since,
                                     headers=other.headers)  # fmt: skip
            assert refused.status_code == 404
            nothing = await api.post("/v1/webhooks/dlq/replay", json=since, headers=other.headers)
            assert nothing.json()["scheduled"] == 0
            read_only = await api.post("/v1/webhooks/dlq/replay", json=since,
                                       headers=reader.headers)  # fmt: skip
            assert read_only.status_code == 403

            # DLQ replay once the receiver is fixed: delivered, same webhook-id, round 2.
            replayed = await api.post("/v1/webhooks/dlq/replay", json=since, headers=owner.headers)
            assert replayed.status_code == 202, replayed.text
            assert replayed.json() == {"scheduled": 1, "eventIds": [event_id], "more": False}
            await await_for(lambda: len(receiver.received) == 5, what="the replayed delivery")
            assert receiver.ids() == [seen[0]["webhookId"]] * 5
            # Replayed once: recover finds nothing left to send.
            again = await api.post(f"/v1/webhooks/{eid}/recover", json=since,
                                   headers=owner.headers)  # fmt: skip
            assert again.json()["scheduled"] == 0
            # One message on request: round 3.
            one = await api.post(f"/v1/webhooks/{eid}/replay/{event_id}", headers=owner.headers)
            assert one.status_code == 202
            await await_for(lambda: len(receiver.received) == 6, what="the replay of one")
            await until(
                lambda: attempts.find_one({"endpointId": eid, "round": 3, "state": "delivered"}),
                what="round 3 logged",
            )
            audit = await api.get("/v1/security/audit", params={"targetType": "webhook_endpoint"},
                                  headers=owner.headers)  # fmt: skip
            actions = {e["action"] for e in audit.json()["items"]}
            assert {"webhook.message.replayed", "webhook.endpoint.recovered"} <= actions
    finally:
        await process.stop()
        await store.unregister(eid, writer=endpoint.managed_by)
