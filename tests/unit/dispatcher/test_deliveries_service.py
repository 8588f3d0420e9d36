"""The deliveries service over in-memory fakes: cursors, tenant isolation, disabled endpoints,
resends as new rounds of the same webhook-id, a dead message resent once, audit events."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from caas_control_plane.ports import AttemptPage
from caas_control_plane.services.context import ClientInfo
from caas_control_plane.services.errors import ConflictError, InvalidRequestError, NotFoundError
from caas_control_plane.services.webhook_deliveries import (
    CursorError,
    WebhookDeliveries,
    decode_cursor,
    encode_cursor,
)
from caas_core.domain.api_key_records import ApiKeyRecord, KeyWriter
from caas_core.domain.audit import MemoryAuditWriter
from caas_core.domain.webhook_records import WebhookEndpoint, WebhookWriter

NOW = datetime(2026, 1, 1, 12, tzinfo=UTC)
CLIENT = ClientInfo(ip="192.0.2.1")


def _endpoint(eid: str, tenant: str, *, disabled: bool = False) -> WebhookEndpoint:
    return WebhookEndpoint(
        endpoint_id=eid, tenant=tenant, url="https://hooks.example.com/x", event_types=("*",),
        enabled=True, secret_ref=None, secret_fingerprint="f", managed_by=WebhookWriter.API,
        created_at=NOW, updated_at=NOW, disabled_at=NOW if disabled else None,
        disabled_reason="the receiver answered 410 Gone" if disabled else None,
    )  # fmt: skip


def _key(tenant: str) -> ApiKeyRecord:
    return ApiKeyRecord(
        key_id=f"k-{tenant}", tenant=tenant, name="t", key_hash="h", scopes=("*",),
        managed_by=KeyWriter.API, created_at=NOW,
    )  # fmt: skip


class Endpoints:
    def __init__(self, *endpoints: WebhookEndpoint) -> None:
        self.by_id = {e.endpoint_id: e for e in endpoints}

    async def get(self, endpoint_id: str, *, tenant: str | None = None) -> WebhookEndpoint | None:
        found = self.by_id.get(endpoint_id)
        return None if found is None or (tenant and found.tenant != tenant) else found


class Attempts:
    def __init__(self, docs: list[dict[str, Any]]) -> None:
        self.docs = docs

    async def page(
        self, *, tenant: str, endpoint_id: str, limit: int,
        after: tuple[datetime, str] | None = None, event_id: str | None = None,
    ) -> AttemptPage:  # fmt: skip
        found = sorted(
            (d for d in self.docs if (d["tenant"], d["endpointId"]) == (tenant, endpoint_id)),
            key=lambda d: (d["at"], d["_id"]),
            reverse=True,
        )
        if after is not None:
            found = [d for d in found if (d["at"], d["_id"]) < after]
        items = found[:limit]
        last = (items[-1]["at"], items[-1]["_id"]) if len(items) == limit else None
        return AttemptPage(items=items, last=last)

    async def latest_for_event(
        self, *, tenant: str, endpoint_id: str, event_id: str
    ) -> dict[str, Any] | None:
        found = [
            d for d in self.docs
            if (d["tenant"], d["endpointId"], d["eventId"]) == (tenant, endpoint_id, event_id)
        ]  # fmt: skip
        return max(found, key=lambda d: (d["round"], d["attempt"]), default=None)

    async def dead_since(
        self, *, tenant: str, since: datetime, endpoint_id: str | None = None, limit: int
    ) -> list[dict[str, Any]]:
        return [
            d for d in self.docs
            if d["tenant"] == tenant and d["state"] == "dead" and d["at"] >= since
            and d.get("replayedAt") is None and endpoint_id in (None, d["endpointId"])
        ][:limit]  # fmt: skip

    async def mark_replayed(self, ids: Sequence[str], *, at: datetime) -> int:
        for d in self.docs:
            if d["_id"] in ids:
                d["replayedAt"] = at
        return len(ids)

    async def stats(self, *, tenant: str, endpoint_id: str, since: datetime) -> Mapping[str, int]:
        counts: dict[str, int] = {}
        for d in self.docs:
            if (d["tenant"], d["endpointId"]) == (tenant, endpoint_id):
                counts[d["state"]] = counts.get(d["state"], 0) + 1
        return counts


class Retries:
    def __init__(self) -> None:
        self.records: list[tuple[str, Mapping[str, Any]]] = []

    async def schedule(self, records: Sequence[tuple[str, Mapping[str, Any]]]) -> None:
        self.records += records


def _attempt(n: int, state: str, *, event: str = "evt_1", eid: str = "whep_a") -> dict[str, Any]:
    return {
        "_id": f"msg_{event}.{eid}:1:{n}", "tenant": "acme", "endpointId": eid, "eventId": event,
        "eventType": "message.created", "round": 1, "attempt": n, "state": state,
        "at": NOW - timedelta(minutes=10 - n), "replayedAt": None,
        "event": {"id": event, "type": "message.created", "tenant": "acme", "data": {}},
    }  # fmt: skip


@pytest.fixture
def world() -> tuple[WebhookDeliveries, Attempts, Retries, MemoryAuditWriter]:
    attempts = Attempts([_attempt(1, "retrying"), _attempt(2, "retrying"), _attempt(3, "dead")])
    retries, audit = Retries(), MemoryAuditWriter()
    service = WebhookDeliveries(
        endpoints=Endpoints(
            _endpoint("whep_a", "acme"),
            _endpoint("whep_gone", "acme", disabled=True),
            _endpoint("whep_b", "other"),
        ),
        attempts=attempts,
        retries=retries,
        audit=audit,
        clock=lambda: NOW,
    )
    return service, attempts, retries, audit


async def test_logs_page_with_cursors_newest_first(world: Any) -> None:
    service, *_ = world
    first = await service.logs("acme", "whep_a", limit=2, cursor=None, event_id=None)
    assert [d["attempt"] for d in first.items] == [3, 2]
    assert first.next_cursor is not None
    second = await service.logs("acme", "whep_a", limit=2, cursor=first.next_cursor, event_id=None)
    assert [d["attempt"] for d in second.items] == [1]
    assert second.next_cursor is None


def test_cursors_round_trip_and_foreign_ones_are_refused() -> None:
    assert decode_cursor(encode_cursor((NOW, "x:1:2"))) == (NOW, "x:1:2")
    for bad in ("nope", "e30", encode_cursor((NOW, "x"))[:-3] + "!!!"):
        with pytest.raises(CursorError):
            decode_cursor(bad)


async def test_another_tenants_endpoint_is_not_found(world: Any) -> None:
    service, *_ = world
    with pytest.raises(NotFoundError):
        await service.logs("acme", "whep_b", limit=10, cursor=None, event_id=None)
    with pytest.raises(NotFoundError):
        await service.replay(
            caller=_key("other"), endpoint_id="whep_a", event_id="evt_1", client=CLIENT
        )


async def test_resends_are_refused_while_the_endpoint_is_disabled(world: Any) -> None:
    service, *_ = world
    with pytest.raises(ConflictError, match="410"):
        await service.recover(
            caller=_key("acme"), endpoint_id="whep_gone", since=NOW - timedelta(hours=1),
            client=CLIENT,
        )  # fmt: skip


async def test_recover_resends_a_dead_message_once_as_a_new_round(world: Any) -> None:
    service, _, retries, audit = world
    since = NOW - timedelta(hours=1)
    resent = await service.recover(
        caller=_key("acme"), endpoint_id="whep_a", since=since, client=CLIENT
    )
    assert (resent.scheduled, resent.event_ids, resent.more) == (1, ["evt_1"], False)
    ((message_id, record),) = retries.records
    assert message_id == "msg_evt_1.a:2:replay"
    assert (record["endpointId"], record["attempt"], record["round"]) == ("whep_a", 1, 2)
    again = await service.recover(
        caller=_key("acme"), endpoint_id="whep_a", since=since, client=CLIENT
    )
    assert again.scheduled == 0
    assert [e.action for e in audit.events] == ["webhook.endpoint.recovered"] * 2


async def test_since_must_be_aware_and_past(world: Any) -> None:
    service, *_ = world
    for since in (datetime(2026, 1, 1), NOW + timedelta(minutes=1)):
        with pytest.raises(InvalidRequestError):
            await service.replay_dead_letters(
                caller=_key("acme"), since=since, endpoint_id=None, client=CLIENT
            )


async def test_stats_count_states_and_rate(world: Any) -> None:
    service, *_ = world
    stats = await service.stats("acme", "whep_a")
    assert (stats.attempts, stats.dead, stats.retrying, stats.success_rate) == (3, 1, 2, 0.0)
    assert stats.delivering is True
