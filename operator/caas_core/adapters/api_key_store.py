"""The one API-key store in `caas_platform.api_keys`, shared by the operator and the API."""

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any, Final

from pymongo import ASCENDING, ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from caas_core.adapters import mongo
from caas_core.domain.api_key_records import (
    COLLECTION,
    ApiKeyNotFoundError,
    ApiKeyRecord,
    KeyWriter,
    from_document,
    to_document,
)
from caas_core.domain.api_keys import ApiKeyFormatError, parse_api_key, verify_api_key
from caas_core.domain.collections import platform_collection

Document = dict[str, Any]


class ApiKeyStore:
    """Reads and ownership-checked writes of stored API keys."""

    def __init__(self, database: AsyncDatabase[Document]) -> None:
        self._database = database
        self._keys: AsyncCollection[Document] = database[COLLECTION]

    async def ensure_indexes(self) -> None:
        """Create the missing indexes declared for the collection (idempotent)."""
        await mongo.ensure_indexes(self._database, platform_collection(COLLECTION))

    async def insert(self, record: ApiKeyRecord) -> None:
        """Store a new key; its id is unique (`_id`), so a duplicate raises."""
        await self._keys.insert_one(to_document(record))

    async def get(self, key_id: str, *, tenant: str | None = None) -> ApiKeyRecord | None:
        """The key with that id, optionally only if it belongs to `tenant`."""
        query: Document = {"_id": key_id}
        if tenant is not None:
            query["tenant"] = tenant
        doc = await self._keys.find_one(query)
        return None if doc is None else from_document(doc)

    async def list_for_tenant(self, tenant: str) -> list[ApiKeyRecord]:
        """Every key of a tenant, oldest first."""
        cursor = self._keys.find({"tenant": tenant}).sort("createdAt", ASCENDING)
        return [from_document(doc) async for doc in cursor]

    async def find_by_source(self, uid: str) -> list[ApiKeyRecord]:
        """Keys created for one ApiKey resource (by its uid), oldest first."""
        cursor = self._keys.find({"source.uid": uid}).sort("createdAt", ASCENDING)
        return [from_document(doc) async for doc in cursor]

    async def authenticate(self, presented: str, *, now: datetime) -> ApiKeyRecord | None:
        """The usable record matching a presented key string, else None (same work either way)."""
        try:
            key = parse_api_key(presented)
        except ApiKeyFormatError:
            return None
        record = await self.get(key.key_id)
        matches = verify_api_key(key, stored_hash=None if record is None else record.key_hash)
        if record is None or not matches or record.unusable(now=now) is not None:
            return None
        return record

    async def revoke_tenant(self, tenant: str, *, now: datetime) -> list[str]:
        """Revoke every unrevoked key of a deleted tenant, whichever side created it: with the
        tenant gone there is no owner left to refuse. Returns the ids of the keys revoked."""
        live = {"tenant": tenant, "revokedAt": None}
        ids = [doc["_id"] async for doc in self._keys.find(live, {"_id": 1})]
        if ids:
            await self._keys.update_many(
                {"_id": {"$in": ids}, "revokedAt": None}, {"$set": {"revokedAt": now}}
            )
        return ids

    async def save(self, record: ApiKeyRecord, *, writer: KeyWriter) -> ApiKeyRecord:
        """Replace a key's mutable fields, only if `writer` owns it (checked atomically)."""
        changes = {k: v for k, v in to_document(record).items() if k not in _IMMUTABLE}
        doc = await self._keys.find_one_and_update(
            {"_id": record.key_id, "managedBy": writer.value},
            {"$set": changes},
            return_document=ReturnDocument.AFTER,
        )
        if doc is None:
            await self._refuse(record.key_id, writer=writer)
        return from_document(_require(doc))

    async def revoke(self, key_id: str, *, writer: KeyWriter, now: datetime) -> ApiKeyRecord:
        """Mark a key revoked (idempotent: an earlier revocation time is kept)."""
        current = await self.get(key_id)
        if current is None:
            raise ApiKeyNotFoundError(key_id)
        current.check_writer(writer)
        if current.revoked_at is not None:
            return current
        return await self.save(replace(current, revoked_at=now), writer=writer)

    async def delete(self, key_id: str, *, writer: KeyWriter) -> bool:
        """Remove a key the writer owns; False when it was already gone."""
        result = await self._keys.delete_one({"_id": key_id, "managedBy": writer.value})
        if result.deleted_count == 0 and await self.get(key_id) is not None:
            await self._refuse(key_id, writer=writer)
        return result.deleted_count == 1

    async def _refuse(self, key_id: str, *, writer: KeyWriter) -> None:
        current = await self.get(key_id)
        if current is None:
            raise ApiKeyNotFoundError(key_id)
        current.check_writer(writer)  # raises ForeignKeyError: the other writer owns it


_IMMUTABLE: Final = frozenset({"_id", "tenant", "keyHash", "managedBy", "createdAt", "source"})


def _require(doc: Mapping[str, Any] | None) -> Mapping[str, Any]:
    if doc is None:  # only reachable if the key vanished between the update and the re-read
        raise ApiKeyNotFoundError("the key disappeared while being updated")
    return doc
