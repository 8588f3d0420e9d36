"""Webhook endpoints in `caas_platform.webhook_endpoints`: both writers' store, the dispatcher's.

The operator registers a `Webhook` resource's endpoint, the REST API its own (`managedBy=api`);
each may change only its own endpoints (`ForeignEndpointError` otherwise). The plan's
`maxWebhooks` is enforced here, inside a transaction that first bumps the tenant's document in
`webhook_tenants`: two writers (an API instance and the operator) creating endpoints for one
tenant at the same moment write that one document, so one of the transactions conflicts and
is retried against the other's result — the count cannot be raced past the quota.
"""

import asyncio
import socket
from datetime import datetime
from typing import Any, Final

from pymongo import ASCENDING, IndexModel
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from caas_core.domain.webhook_events import filters_matching
from caas_core.domain.webhook_records import (
    COLLECTION,
    STATE_FIELDS,
    EndpointChangedError,
    ForeignEndpointError,
    WebhookEndpoint,
    WebhookQuotaError,
    WebhookWriter,
    from_document,
    to_document,
)
from caas_core.domain.webhook_urls import HostResolutionError

__all__ = [
    "COLLECTION",
    "TENANTS",
    "EndpointChangedError",
    "ForeignEndpointError",
    "WebhookQuotaError",
    "WebhookStore",
    "resolve_host",
]

Document = dict[str, Any]
TENANTS: Final = "webhook_tenants"  # one document per tenant: the quota's serialisation point
_INDEXES: Final = (
    IndexModel([("tenant", ASCENDING)], name="tenant"),
    IndexModel([("source.uid", ASCENDING)], name="source_uid"),
)
_IMMUTABLE: Final = frozenset({"_id", "tenant", "managedBy", "createdAt", "source"})


class WebhookStore:
    """Ownership- and quota-checked registration of webhook endpoints."""

    def __init__(self, database: AsyncDatabase[Document]) -> None:
        self._database = database
        self._endpoints: AsyncCollection[Document] = database[COLLECTION]
        self._tenants: AsyncCollection[Document] = database[TENANTS]

    async def ensure_indexes(self) -> None:
        """Create the secondary indexes that are missing."""
        # Only the missing ones: a resync issues no no-op index builds.
        existing = await self._endpoints.index_information()
        missing = [i for i in _INDEXES if i.document["name"] not in existing]
        if missing:
            await self._endpoints.create_indexes(missing)

    async def get(self, endpoint_id: str, *, tenant: str | None = None) -> WebhookEndpoint | None:
        """The endpoint with that id (of that tenant, when one is named)."""
        query: Document = {"_id": endpoint_id}
        if tenant is not None:
            query["tenant"] = tenant
        doc = await self._endpoints.find_one(query)
        return None if doc is None else from_document(doc)

    async def list_for_tenant(self, tenant: str) -> list[WebhookEndpoint]:
        """Every endpoint of a tenant, by id."""
        cursor = self._endpoints.find({"tenant": tenant}).sort("_id", ASCENDING)
        return [from_document(doc) async for doc in cursor]

    async def subscribed(self, tenant: str, event_type: str) -> list[WebhookEndpoint]:
        """The tenant's endpoints an event of `event_type` is delivered to right now."""
        cursor = self._endpoints.find(
            {
                "tenant": tenant,
                "eventTypes": {"$in": list(filters_matching(event_type))},
                "enabled": True,
                "disabledAt": None,
            }
        ).sort("_id", ASCENDING)
        return [from_document(doc) async for doc in cursor]

    async def count_for_tenant(self, tenant: str) -> int:
        """How many endpoints the tenant has (both writers')."""
        return await self._endpoints.count_documents({"tenant": tenant})

    async def register(
        self,
        endpoint: WebhookEndpoint,
        *,
        writer: WebhookWriter,
        quota: int | None = None,
        expect: datetime | None = None,
    ) -> None:
        """Insert the endpoint, or update the writer's own registration of that id.

        `quota`: refuse a new endpoint (WebhookQuotaError) when the tenant already has that
        many. `expect`: the `updatedAt` the caller read; EndpointChangedError when the stored
        one differs or the endpoint is gone (a concurrent change: nothing is written).
        ForeignEndpointError when the id belongs to the other writer. An owner's write also
        clears the dispatcher's disabled state (the owner changed or re-enabled it).
        """
        if quota is None and expect is None:
            await self._upsert(endpoint, writer=writer)
            return

        async def transaction(session: AsyncClientSession) -> None:
            await self._tenants.update_one(
                {"_id": endpoint.tenant}, {"$inc": {"writes": 1}}, upsert=True, session=session
            )
            doc = await self._endpoints.find_one({"_id": endpoint.endpoint_id}, session=session)
            if doc is not None:
                found = from_document(doc)
                if found.managed_by is not writer or found.tenant != endpoint.tenant:
                    raise ForeignEndpointError(found, writer)
                if expect is not None and found.updated_at != expect:
                    raise EndpointChangedError(f"webhook endpoint {found.endpoint_id} changed")
                await self._endpoints.update_one(
                    {"_id": endpoint.endpoint_id}, {"$set": _changes(endpoint)}, session=session
                )
                return
            if expect is not None:
                raise EndpointChangedError(f"webhook endpoint {endpoint.endpoint_id} is gone")
            if quota is not None:
                count = await self._endpoints.count_documents(
                    {"tenant": endpoint.tenant}, session=session
                )
                if count >= quota:
                    raise WebhookQuotaError(tenant=endpoint.tenant, count=count, quota=quota)
            await self._endpoints.insert_one(to_document(endpoint), session=session)

        async with self._database.client.start_session() as session:
            await session.with_transaction(transaction)

    async def _upsert(self, endpoint: WebhookEndpoint, *, writer: WebhookWriter) -> None:
        doc = to_document(endpoint)
        on_insert = {k: v for k, v in doc.items() if k in _IMMUTABLE and k != "_id"}
        try:
            await self._endpoints.update_one(
                {"_id": endpoint.endpoint_id, "managedBy": writer.value},
                {"$set": _changes(endpoint), "$setOnInsert": on_insert},
                upsert=True,
            )
        except DuplicateKeyError:
            # The id exists under the other writer: the upsert tried to insert a second one.
            existing = await self.get(endpoint.endpoint_id)
            if existing is None:
                raise
            raise ForeignEndpointError(existing, writer) from None

    async def unregister(
        self, endpoint_id: str, *, writer: WebhookWriter, tenant: str | None = None
    ) -> bool:
        """Remove the writer's endpoint; False when it was already gone (or is another
        tenant's, when `tenant` is named)."""
        query: Document = {"_id": endpoint_id, "managedBy": writer.value}
        if tenant is not None:
            query["tenant"] = tenant
        result = await self._endpoints.delete_one(query)
        if result.deleted_count == 0:
            existing = await self.get(endpoint_id, tenant=tenant)
            if existing is not None:
                raise ForeignEndpointError(existing, writer)
        return result.deleted_count == 1

    async def disable(self, endpoint_id: str, *, reason: str, now: datetime) -> bool:
        """The dispatcher stops delivering to an endpoint (410, sustained failure); False when
        it was gone or already disabled. Only the owner's next change re-enables it."""
        result = await self._endpoints.update_one(
            {"_id": endpoint_id, "disabledAt": None},
            {"$set": {"disabledAt": now, "disabledReason": reason}},
        )
        return result.modified_count == 1


def _changes(endpoint: WebhookEndpoint) -> Document:
    doc = to_document(endpoint)
    changes = {k: v for k, v in doc.items() if k not in _IMMUTABLE}
    for name in STATE_FIELDS:
        changes[name] = None  # an owner's write re-enables delivery
    return changes


async def resolve_host(host: str, port: int, *, timeout: float = 5.0) -> list[str]:
    """Every address `host` resolves to (the system resolver), for webhook URL checks."""
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(timeout):
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except TimeoutError:
        raise HostResolutionError(f"lookup timed out after {timeout:g} s") from None
    except socket.gaierror as exc:
        raise HostResolutionError(exc.strerror or str(exc)) from None
    return list(dict.fromkeys(str(info[4][0]) for info in infos))
