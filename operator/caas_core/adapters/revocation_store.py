"""Durable revocations in `caas_platform.revoked_tokens` (the fact; Kafka only broadcasts it),
shared by the control plane and the operator (which revokes a deleted tenant's tokens)."""

from datetime import datetime
from typing import Any, Final

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from caas_core.adapters.outbox import OutboxMessage, OutboxStore
from caas_core.domain.revocations import REVOCATION_TOPIC, Revocation

COLLECTION: Final = "revoked_tokens"
Document = dict[str, Any]


class RevocationStore:
    """Insert-only revocation facts, keyed by their stable id; swept once they expire."""

    def __init__(self, database: AsyncDatabase[Document]) -> None:
        self._revocations: AsyncCollection[Document] = database[COLLECTION]

    async def record(self, revocation: Revocation) -> bool:
        """Store a revocation; the same id stored twice is one fact (False the second time)."""
        try:
            await self._revocations.insert_one({"_id": revocation.id, **revocation.to_dict()})
        except DuplicateKeyError:
            return False
        return True

    async def active(self, *, now: float) -> list[Revocation]:
        """Every revocation whose tokens may still be unexpired."""
        cursor = self._revocations.find({"expiresAt": {"$gte": int(now)}})
        return [Revocation.from_dict(doc) async for doc in cursor]

    async def sweep(self, *, now: float) -> int:
        """Delete revocations every token of which has expired."""
        result = await self._revocations.delete_many({"expiresAt": {"$lt": int(now)}})
        return result.deleted_count


def revocation_message(revocation: Revocation, *, now: datetime) -> OutboxMessage:
    """The broadcast of a revocation: keyed by tenant, with the revocation's stable id."""
    return OutboxMessage.new(
        topic=REVOCATION_TOPIC,
        payload=revocation.to_dict(),
        key=revocation.tenant,
        id=revocation.id,
        now=now,
    )


async def broadcast(
    database: AsyncDatabase[Document], revocation: Revocation, *, now: datetime
) -> bool:
    """Store a revocation and queue its broadcast (an API instance's relay publishes it); False,
    and nothing queued, when it was stored before (a retried teardown broadcasts once)."""
    if not await RevocationStore(database).record(revocation):
        return False
    await OutboxStore(database).enqueue([revocation_message(revocation, now=now)])
    return True
