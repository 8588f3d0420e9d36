"""Legal holds in `caas_platform.legal_holds`: placed and released by compliance, read by sweeps."""

from datetime import datetime
from typing import Any

from pymongo import ASCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from caas_core.adapters import mongo
from caas_core.domain.collections import platform_collection
from caas_core.domain.legal_holds import COLLECTION, LegalHold, from_document, to_document

Document = dict[str, Any]


class LegalHoldStore:
    """Place, release and look up holds."""

    def __init__(self, database: AsyncDatabase[Document]) -> None:
        self._database = database
        self._holds: AsyncCollection[Document] = database[COLLECTION]

    async def ensure_indexes(self) -> None:
        """Create the missing indexes declared for the collection (idempotent)."""
        await mongo.ensure_indexes(self._database, platform_collection(COLLECTION))

    async def place(self, hold: LegalHold) -> None:
        """Store a new hold (ids are unique)."""
        await self._holds.insert_one(to_document(hold))

    async def release(self, hold_id: str, *, now: datetime) -> bool:
        """End a hold; False when it does not exist or was already released."""
        result = await self._holds.update_one(
            {"_id": hold_id, "releasedAt": None}, {"$set": {"releasedAt": now}}
        )
        return result.modified_count == 1

    async def active_for_tenant(self, tenant: str, *, now: datetime) -> list[LegalHold]:
        """The tenant's holds in force at `now`, oldest first."""
        cursor = self._holds.find({"tenant": tenant}).sort("createdAt", ASCENDING)
        holds = [from_document(doc) async for doc in cursor]
        return [h for h in holds if h.active(now=now)]
