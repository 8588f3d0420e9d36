"""Durable revocations in `caas_platform.revoked_tokens` (the fact; Kafka only broadcasts it)."""

import contextlib
from typing import Any, Final

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from caas_control_plane.auth.revocation import Revocation

COLLECTION: Final = "revoked_tokens"
Document = dict[str, Any]


class RevocationStore:
    """Insert-only revocation facts, keyed by their stable id; swept once they expire."""

    def __init__(self, database: AsyncDatabase[Document]) -> None:
        self._revocations: AsyncCollection[Document] = database[COLLECTION]

    async def record(self, revocation: Revocation) -> None:
        """Store a revocation; the same id stored twice is one fact."""
        with contextlib.suppress(DuplicateKeyError):
            await self._revocations.insert_one({"_id": revocation.id, **revocation.to_dict()})

    async def active(self, *, now: float) -> list[Revocation]:
        """Every revocation whose tokens may still be unexpired."""
        cursor = self._revocations.find({"expiresAt": {"$gte": int(now)}})
        return [Revocation.from_dict(doc) async for doc in cursor]

    async def sweep(self, *, now: float) -> int:
        """Delete revocations every token of which has expired."""
        result = await self._revocations.delete_many({"expiresAt": {"$lt": int(now)}})
        return result.deleted_count
