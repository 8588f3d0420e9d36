"""The POST itself: no redirect is followed, an answer's body is read only up to 64 KiB (the
log keeps 1,024 characters), and a receiver that does not answer in time is a timeout."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from caas_control_plane.auth.webhook_sealing import WebhookSecretSealer
from caas_control_plane.dispatcher.client import RESPONSE_BODY_CAP
from caas_core.adapters.webhook_store import WebhookStore
from tests.integration.dispatcher.support import (
    Answer,
    Events,
    always,
    register,
    unique_tenant,
    until,
)


async def test_redirects_oversized_answers_and_timeouts(
    dispatcher: Callable[..., Any],
    receivers: Callable[..., Any],
    store: WebhookStore,
    sealer: WebhookSecretSealer,
    events: Events,
    db: Any,
) -> None:
    tenant = unique_tenant("http")
    target = receivers()  # where the redirect points: must never be called
    redirecting = receivers(behaviour=always(307, {"Location": target.url}))
    huge = receivers(behaviour=always(500, {"x-body-bytes": str(8 * RESPONSE_BODY_CAP)}))
    release = threading.Event()

    def hang(_id: str, _n: int) -> Answer:
        release.wait(30)
        return 200, {}

    hanging = receivers(behaviour=hang)
    endpoints = {
        name: (await register(store, sealer, tenant=tenant, url=r.url))[0].endpoint_id
        for name, r in {"redirect": redirecting, "huge": huge, "hang": hanging}.items()
    }
    try:
        async with dispatcher(CAAS_WEBHOOK_TIMEOUT_SECONDS="1"):
            events.publish(tenant)
            first = {}
            for name, eid in endpoints.items():
                first[name] = await until(
                    lambda eid=eid: db["webhook_attempts"].find_one(
                        {"endpointId": eid, "attempt": 1}
                    ),
                    what=f"the {name} attempt",
                )
    finally:
        release.set()
    assert (first["redirect"]["status"], first["redirect"]["state"]) == (307, "retrying")
    assert target.received == []
    assert first["huge"]["status"] == 500
    assert len(first["huge"]["response"]) == 1024
    assert (first["hang"]["failure"], first["hang"]["state"]) == ("timeout", "retrying")
