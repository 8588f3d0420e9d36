"""What a tenant can see and redo of its webhook deliveries: the attempt log (cursor pages),
stats, replaying one message, recovering every failed message of an endpoint since a time, and
replaying its dead letters.

Every resend is a new *round* of the same message: the same `webhook-id` (receivers dedupe on
it), attempts counted from 1 again, scheduled on `internal.retry` through the outbox (so Kafka
being down delays it, never loses it). A dead message is resent once: it is marked replayed.
Every action is audited; another tenant's endpoint is indistinguishable from none.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from caas_control_plane.dispatcher.messages import BadMessageError, Delivery, parse_event
from caas_control_plane.dispatcher.signing import webhook_id
from caas_control_plane.ports import WebhookAttempts, WebhookEndpoints, WebhookRetries
from caas_control_plane.services.context import ClientInfo, key_actor
from caas_control_plane.services.errors import ConflictError, InvalidRequestError, NotFoundError
from caas_core.domain.api_key_records import ApiKeyRecord
from caas_core.domain.audit import AuditWriter, Outcome
from caas_core.domain.webhook_records import WebhookEndpoint

Clock = Callable[[], datetime]
MAX_PAGE: Final = 100
MAX_RESEND: Final = 1000  # messages resent by one recover / DLQ replay call
STATS_WINDOW: Final = timedelta(hours=24)


class CursorError(InvalidRequestError):
    """A cursor this API did not issue (400 naming `cursor`)."""

    status = 400
    code = "invalid-cursor"
    title = "Invalid cursor"


@dataclass(frozen=True, slots=True, kw_only=True)
class LogPage:
    """Attempts, newest first, and the cursor of the next page (None: the last page)."""

    items: list[dict[str, Any]]
    next_cursor: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class Resent:
    """What a replay, recover or DLQ replay scheduled."""

    scheduled: int
    event_ids: list[str]
    more: bool  # more dead messages remain (call again)


@dataclass(frozen=True, slots=True, kw_only=True)
class EndpointStats:
    """An endpoint's attempts in a window."""

    since: datetime
    attempts: int
    delivered: int
    retrying: int
    dead: int
    success_rate: float | None
    last: list[dict[str, Any]]
    delivering: bool


def encode_cursor(last: tuple[datetime, str]) -> str:
    """An opaque cursor from the last item's `(at, _id)`."""
    raw = json.dumps({"at": last[0].isoformat(), "id": last[1]}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    """The `(at, _id)` inside a cursor; CursorError when it is not one of ours."""
    try:
        raw = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        at = datetime.fromisoformat(raw["at"])
        last = raw["id"]
    except (binascii.Error, ValueError, KeyError, TypeError, UnicodeDecodeError):
        raise CursorError("cursor is not one this API issued") from None
    if not isinstance(last, str) or at.tzinfo is None:
        raise CursorError("cursor is not one this API issued")
    return at, last


class WebhookDeliveries:
    """Logs, stats and resends of one tenant's deliveries."""

    def __init__(
        self,
        *,
        endpoints: WebhookEndpoints,
        attempts: WebhookAttempts,
        retries: WebhookRetries,
        audit: AuditWriter,
        clock: Clock,
    ) -> None:
        self._endpoints = endpoints
        self._attempts = attempts
        self._retries = retries
        self._audit = audit
        self._clock = clock

    async def logs(
        self, tenant: str, endpoint_id: str, *, limit: int, cursor: str | None, event_id: str | None
    ) -> LogPage:
        """One page of the endpoint's attempts, newest first."""
        await self._endpoint(tenant, endpoint_id)
        after = None if cursor is None else decode_cursor(cursor)
        page = await self._attempts.page(
            tenant=tenant,
            endpoint_id=endpoint_id,
            limit=min(max(limit, 1), MAX_PAGE),
            after=after,
            event_id=event_id,
        )
        return LogPage(
            items=page.items, next_cursor=None if page.last is None else encode_cursor(page.last)
        )

    async def stats(self, tenant: str, endpoint_id: str) -> EndpointStats:
        """The last 24 hours' attempts by state and the success rate, with the last attempts."""
        endpoint = await self._endpoint(tenant, endpoint_id)
        since = self._clock() - STATS_WINDOW
        counts = await self._attempts.stats(tenant=tenant, endpoint_id=endpoint_id, since=since)
        last = await self._attempts.page(tenant=tenant, endpoint_id=endpoint_id, limit=10)
        total = sum(counts.values())
        delivered = counts.get("delivered", 0)
        return EndpointStats(
            since=since,
            attempts=total,
            delivered=delivered,
            retrying=counts.get("retrying", 0),
            dead=counts.get("dead", 0) + counts.get("endpoint_disabled", 0),
            success_rate=None if total == 0 else round(delivered / total, 4),
            last=last.items,
            delivering=endpoint.delivering,
        )

    async def replay(
        self, *, caller: ApiKeyRecord, endpoint_id: str, event_id: str, client: ClientInfo
    ) -> Resent:
        """Send one message to the endpoint again (whatever its last outcome)."""
        endpoint = await self._delivering(caller.tenant, endpoint_id)
        latest = await self._attempts.latest_for_event(
            tenant=caller.tenant, endpoint_id=endpoint_id, event_id=event_id
        )
        if latest is None:
            raise NotFoundError("no attempt of that event at this endpoint")
        resent = await self._resend([latest], endpoint)
        await self._emit("webhook.message.replayed", caller, endpoint, client, eventId=event_id)
        return resent

    async def recover(
        self, *, caller: ApiKeyRecord, endpoint_id: str, since: datetime, client: ClientInfo
    ) -> Resent:
        """Send every message that died at the endpoint since `since` again (once each)."""
        endpoint = await self._delivering(caller.tenant, endpoint_id)
        self._check_since(since)
        dead = await self._attempts.dead_since(
            tenant=caller.tenant, since=since, endpoint_id=endpoint_id, limit=MAX_RESEND + 1
        )
        resent = await self._resend(dead, endpoint)
        await self._emit(
            "webhook.endpoint.recovered", caller, endpoint, client,
            since=since.isoformat(), scheduled=resent.scheduled,
        )  # fmt: skip
        return resent

    async def replay_dead_letters(
        self,
        *,
        caller: ApiKeyRecord,
        since: datetime,
        endpoint_id: str | None,
        client: ClientInfo,
    ) -> Resent:
        """Send the tenant's dead letters since `since` again (of one endpoint, or of every
        endpoint that delivers now; a disabled endpoint's wait until it is re-enabled)."""
        self._check_since(since)
        if endpoint_id is not None:
            await self._delivering(caller.tenant, endpoint_id)
        dead = await self._attempts.dead_since(
            tenant=caller.tenant, since=since, endpoint_id=endpoint_id, limit=MAX_RESEND + 1
        )
        more = len(dead) > MAX_RESEND
        by_endpoint: dict[str, list[dict[str, Any]]] = {}
        for doc in dead[:MAX_RESEND]:
            by_endpoint.setdefault(doc["endpointId"], []).append(doc)
        scheduled, ids = 0, []
        for eid, docs in by_endpoint.items():
            endpoint = await self._endpoints.get(eid, tenant=caller.tenant)
            if endpoint is None or not endpoint.delivering:
                continue
            resent = await self._resend(docs, endpoint)
            scheduled += resent.scheduled
            ids += resent.event_ids
        await self._audit.emit(
            client.event(
                "webhook.dlq.replayed",
                outcome=Outcome.SUCCESS,
                actor=key_actor(caller),
                tenant=caller.tenant,
                target_type="webhook_dlq",
                target_id=endpoint_id,
                details={"since": since.isoformat(), "scheduled": scheduled},
            )
        )
        return Resent(scheduled=scheduled, event_ids=ids, more=more)

    # -- helpers -------------------------------------------------------------------------------

    async def _resend(self, docs: Sequence[Mapping[str, Any]], endpoint: WebhookEndpoint) -> Resent:
        more = len(docs) > MAX_RESEND
        newest: dict[str, Mapping[str, Any]] = {}
        for doc in docs[:MAX_RESEND]:
            known = newest.get(doc["eventId"])
            if known is None or (doc["round"], doc["attempt"]) > (known["round"], known["attempt"]):
                newest[doc["eventId"]] = doc
        records: list[tuple[str, Mapping[str, Any]]] = []
        for doc in newest.values():
            try:
                event = parse_event(doc.get("event"))
            except BadMessageError:
                continue  # an attempt logged without its envelope cannot be resent
            delivery = Delivery(
                event=event, endpoint_id=endpoint.endpoint_id, attempt=1, round=doc["round"] + 1
            )
            wid = webhook_id(event.id, endpoint.endpoint_id)
            records.append((f"{wid}:{delivery.round}:replay", delivery.to_retry()))
        if records:
            await self._retries.schedule(records)
            await self._attempts.mark_replayed([d["_id"] for d in docs], at=self._clock())
        return Resent(
            scheduled=len(records),
            event_ids=[str(r["event"]["id"]) for _, r in records],
            more=more,
        )

    async def _endpoint(self, tenant: str, endpoint_id: str) -> WebhookEndpoint:
        endpoint = await self._endpoints.get(endpoint_id, tenant=tenant)
        if endpoint is None:
            raise NotFoundError("no such webhook endpoint")
        return endpoint

    async def _delivering(self, tenant: str, endpoint_id: str) -> WebhookEndpoint:
        endpoint = await self._endpoint(tenant, endpoint_id)
        if not endpoint.delivering:
            why = endpoint.disabled_reason or "its owner disabled it"
            raise ConflictError(
                f"webhook endpoint {endpoint_id} does not deliver ({why}); enable it first "
                "(PUT /v1/webhooks/{id} with enabled: true, or change its Webhook resource)"
            )
        return endpoint

    def _check_since(self, since: datetime) -> None:
        if since.tzinfo is None:
            raise InvalidRequestError("since must carry its UTC offset (RFC 3339)")
        if since > self._clock():
            raise InvalidRequestError("since lies in the future")

    async def _emit(
        self,
        action: str,
        caller: ApiKeyRecord,
        endpoint: WebhookEndpoint,
        client: ClientInfo,
        **details: object,
    ) -> None:
        await self._audit.emit(
            client.event(
                action,
                outcome=Outcome.SUCCESS,
                actor=key_actor(caller),
                tenant=endpoint.tenant,
                target_type="webhook_endpoint",
                target_id=endpoint.endpoint_id,
                details=dict(details),
            )
        )
