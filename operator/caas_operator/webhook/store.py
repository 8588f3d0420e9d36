"""Webhook endpoints in `caas_platform.webhook_endpoints`: written by the operator (and later
the REST API), read by the dispatcher. Each writer may change only its own endpoints."""

import asyncio
import socket
from typing import Any, Final

from pymongo import ASCENDING, IndexModel
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from caas_core.domain.webhook_records import (
    COLLECTION,
    WebhookEndpoint,
    WebhookWriter,
    from_document,
    to_document,
)
from caas_core.domain.webhook_urls import HostResolutionError

Document = dict[str, Any]
_INDEXES: Final = (
    IndexModel([("tenant", ASCENDING)], name="tenant"),
    IndexModel([("source.uid", ASCENDING)], name="source_uid"),
)
_IMMUTABLE: Final = frozenset({"_id", "tenant", "managedBy", "createdAt", "source"})


class ForeignEndpointError(PermissionError):
    """A writer tried to change an endpoint another writer registered."""

    def __init__(self, endpoint: WebhookEndpoint, writer: WebhookWriter) -> None:
        super().__init__(
            f"webhook endpoint {endpoint.endpoint_id} is managed by the "
            f"{endpoint.managed_by.value}; the {writer.value} may not modify it"
        )
        self.endpoint = endpoint
        self.writer = writer


class WebhookStore:
    """Ownership-checked registration of webhook endpoints."""

    def __init__(self, database: AsyncDatabase[Document]) -> None:
        self._endpoints: AsyncCollection[Document] = database[COLLECTION]

    async def ensure_indexes(self) -> None:
        """Create the secondary indexes that are missing."""
        # Only the missing ones: a resync issues no no-op index builds.
        existing = await self._endpoints.index_information()
        missing = [i for i in _INDEXES if i.document["name"] not in existing]
        if missing:
            await self._endpoints.create_indexes(missing)

    async def get(self, endpoint_id: str) -> WebhookEndpoint | None:
        """The endpoint with that id."""
        doc = await self._endpoints.find_one({"_id": endpoint_id})
        return None if doc is None else from_document(doc)

    async def list_for_tenant(self, tenant: str) -> list[WebhookEndpoint]:
        """Every endpoint of a tenant."""
        cursor = self._endpoints.find({"tenant": tenant}).sort("_id", ASCENDING)
        return [from_document(doc) async for doc in cursor]

    async def register(self, endpoint: WebhookEndpoint, *, writer: WebhookWriter) -> None:
        """Insert the endpoint, or update the writer's own registration of that id."""
        doc = to_document(endpoint)
        changes = {k: v for k, v in doc.items() if k not in _IMMUTABLE}
        on_insert = {k: v for k, v in doc.items() if k in _IMMUTABLE and k != "_id"}
        try:
            await self._endpoints.update_one(
                {"_id": endpoint.endpoint_id, "managedBy": writer.value},
                {"$set": changes, "$setOnInsert": on_insert},
                upsert=True,
            )
        except DuplicateKeyError:
            # The id exists under the other writer: the upsert tried to insert a second one.
            existing = await self.get(endpoint.endpoint_id)
            if existing is None:
                raise
            raise ForeignEndpointError(existing, writer) from None

    async def unregister(self, endpoint_id: str, *, writer: WebhookWriter) -> bool:
        """Remove the writer's endpoint; False when it was already gone."""
        result = await self._endpoints.delete_one({"_id": endpoint_id, "managedBy": writer.value})
        if result.deleted_count == 0:
            existing = await self.get(endpoint_id)
            if existing is not None:
                raise ForeignEndpointError(existing, writer)
        return result.deleted_count == 1


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
