"""The endpoints the dispatcher delivers to: every registered endpoint, held in memory and
re-read from `caas_platform.webhook_endpoints` every few seconds (one query, whatever the event
rate); and the dispatcher's two writes there: disabling an endpoint (with its
`webhook.endpoint_disabled` event, in one transaction through the outbox) and each endpoint's
failing-since time (`webhook_endpoint_health`, shared by every dispatcher process)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from pymongo import ReturnDocument
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase

from caas_core.adapters.outbox import OutboxStore
from caas_core.adapters.webhook_events import event_message
from caas_core.domain.webhook_events import matches_event, platform_event, stable_event_id
from caas_core.domain.webhook_records import (
    COLLECTION,
    WebhookEndpoint,
    concurrency_in_range,
    from_document,
    rate_in_range,
)

logger = logging.getLogger(__name__)

HEALTH_COLLECTION: Final = "webhook_endpoint_health"
DISABLED_EVENT: Final = "webhook.endpoint_disabled"
Document = dict[str, Any]


@dataclass(frozen=True, slots=True, kw_only=True)
class DeliveryOptions:
    """How one endpoint is delivered to (optional fields of its document; defaults from the
    dispatcher's settings)."""

    max_concurrency: int
    rate_per_second: float | None
    ordered: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class Target:
    """An endpoint and its delivery options."""

    endpoint: WebhookEndpoint
    options: DeliveryOptions


def options_of(doc: Mapping[str, Any], defaults: DeliveryOptions) -> DeliveryOptions:
    """`maxConcurrency`, `rateLimitPerSecond` and `ordered` of an endpoint document (each
    optional, null or absent: the default; out-of-range values, which the REST API and the
    Webhook resource refuse with the same bounds, fall back to the defaults)."""
    concurrency = doc.get("maxConcurrency")
    rate = doc.get("rateLimitPerSecond")
    ordered = doc.get("ordered")
    return DeliveryOptions(
        max_concurrency=concurrency
        if concurrency_in_range(concurrency)
        else defaults.max_concurrency,
        rate_per_second=float(rate) if rate_in_range(rate) else defaults.rate_per_second,
        ordered=ordered if isinstance(ordered, bool) else defaults.ordered,
    )


class EndpointDirectory:
    """Every endpoint by id and by tenant, refreshed in the background."""

    def __init__(
        self,
        db: AsyncDatabase[Document],
        *,
        outbox: OutboxStore,
        defaults: DeliveryOptions,
        refresh_seconds: float,
    ) -> None:
        self._db = db
        self._endpoints = db[COLLECTION]
        self._health = db[HEALTH_COLLECTION]
        self._outbox = outbox
        self._defaults = defaults
        self._refresh = refresh_seconds
        self._by_id: dict[str, Target] = {}
        self._by_tenant: dict[str, list[Target]] = {}
        self._matches: dict[tuple[str, str], list[Target]] = {}
        self._failing: dict[str, float] = {}  # endpoint id -> failing since (Unix seconds)
        self.loaded_at: float | None = None  # monotonic time of the last successful read

    async def load(self) -> None:
        """Read every endpoint (raises when MongoDB is away)."""
        by_id: dict[str, Target] = {}
        async for doc in self._endpoints.find({}):
            try:
                endpoint = from_document(doc)
            except (KeyError, TypeError, ValueError):
                logger.warning("unreadable webhook endpoint skipped", extra={"id": doc["_id"]})
                continue
            by_id[endpoint.endpoint_id] = Target(
                endpoint=endpoint, options=options_of(doc, self._defaults)
            )
        by_tenant: dict[str, list[Target]] = {}
        for target in by_id.values():
            by_tenant.setdefault(target.endpoint.tenant, []).append(target)
        self._by_id, self._by_tenant = by_id, by_tenant
        self._matches = {}
        self.loaded_at = time.monotonic()

    async def run(self) -> None:
        """Refresh until cancelled (MongoDB away: keep the last good copy, try again)."""
        while True:
            await asyncio.sleep(self._refresh)
            try:
                await self.load()
            except Exception as exc:  # a refresh must never kill the loop
                logger.warning("webhook endpoints not refreshed", extra={"error": str(exc)})

    def matching(self, tenant: str, event_type: str) -> list[Target]:
        """The tenant's endpoints delivering events of this type right now (remembered per
        tenant and type until the next read)."""
        key = (tenant, event_type)
        found = self._matches.get(key)
        if found is None:
            found = [
                t
                for t in self._by_tenant.get(tenant, ())
                if t.endpoint.delivering and matches_event(t.endpoint.event_types, event_type)
            ]
            if len(self._matches) >= 100_000:
                self._matches.clear()
            self._matches[key] = found
        return found

    def get(self, endpoint_id: str) -> Target | None:
        """An endpoint by id (None once unregistered)."""
        return self._by_id.get(endpoint_id)

    def failing_for(self, endpoint_id: str, now: float) -> float | None:
        """How long the endpoint has been failing, as far as this process knows."""
        since = self._failing.get(endpoint_id)
        return None if since is None else max(0.0, now - since)

    async def failed(self, endpoint_id: str, now: float) -> float:
        """Record a failure; returns how long the endpoint has been failing (shared by every
        process: the earliest failing-since wins)."""
        if endpoint_id in self._failing:
            return max(0.0, now - self._failing[endpoint_id])
        doc = await self._health.find_one_and_update(
            {"_id": endpoint_id},
            {"$min": {"failingSince": now}},
            upsert=True,
            return_document=ReturnDocument.AFTER,
        )
        since = float(doc["failingSince"]) if doc else now
        self._failing[endpoint_id] = since
        return max(0.0, now - since)

    async def succeeded(self, endpoint_id: str) -> None:
        """Record a success: the endpoint is healthy again."""
        if self._failing.pop(endpoint_id, None) is not None:
            await self._health.delete_one({"_id": endpoint_id})

    async def disable(self, endpoint: WebhookEndpoint, *, reason: str, now: float) -> bool:
        """Stop delivering to the endpoint and tell its tenant, in one transaction; False when
        another process (or an earlier run) already did."""
        at = datetime.fromtimestamp(now, UTC)
        event = platform_event(
            DISABLED_EVENT,
            tenant=endpoint.tenant,
            data={"endpointId": endpoint.endpoint_id, "url": endpoint.url, "reason": reason},
            now=at,
            # One per disabling: the transaction below inserts it only with the state change.
            id=stable_event_id(DISABLED_EVENT, endpoint.endpoint_id, at.isoformat()),
        )

        async def write(session: AsyncClientSession) -> bool:
            result = await self._endpoints.update_one(
                {"_id": endpoint.endpoint_id, "disabledAt": None},
                {"$set": {"disabledAt": at, "disabledReason": reason}},
                session=session,
            )
            return result.modified_count == 1

        changed = await self._outbox.enqueue_with(write, [event_message(event)])
        if changed:
            self._failing.pop(endpoint.endpoint_id, None)
            with contextlib.suppress(Exception):
                await self._health.delete_one({"_id": endpoint.endpoint_id})
            with contextlib.suppress(Exception):
                await self.load()  # stop matching it here at once
        return changed
