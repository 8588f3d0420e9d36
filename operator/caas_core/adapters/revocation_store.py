"""Durable revocations in `caas_platform.revoked_tokens` (the fact; Kafka only broadcasts it),
shared by the control plane and the operator (which revokes a deleted tenant's tokens).

A revocation outlives every token it covers and then goes: a TTL index on `expireAt` (a date;
`expiresAt` stays the epoch seconds of the broadcast format) deletes it, so no sweeper runs and
nothing needs auditing — the revocation itself was audited when it was made.
"""

from datetime import UTC, datetime
from typing import Any, Final

from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from caas_core.adapters.outbox import OutboxMessage, OutboxStore
from caas_core.domain.revocations import REVOCATION_TOPIC, Revocation

COLLECTION: Final = "revoked_tokens"
EXPIRE_AT: Final = "expireAt"  # the TTL index's field (control_plane runtime declares the index)
Document = dict[str, Any]


class RevocationStore:
    """Insert-only revocation facts, keyed by their stable id; expired by a TTL index."""

    def __init__(self, database: AsyncDatabase[Document]) -> None:
        self._revocations: AsyncCollection[Document] = database[COLLECTION]

    async def record(
        self, revocation: Revocation, *, session: AsyncClientSession | None = None
    ) -> bool:
        """Store a revocation; the same id stored twice is one fact (False the second time)."""
        if session is not None and await self._revocations.find_one(
            {"_id": revocation.id}, {"_id": 1}, session=session
        ):
            # Inside a transaction a duplicate-key error would abort it: look first (the
            # transaction's snapshot makes look-then-insert safe; a racing insert of the same
            # id fails the commit with a write conflict, and with_transaction retries).
            return False
        try:
            await self._revocations.insert_one(
                {
                    "_id": revocation.id,
                    **revocation.to_dict(),
                    EXPIRE_AT: datetime.fromtimestamp(revocation.expires_at, UTC),
                },
                session=session,
            )
        except DuplicateKeyError:
            return False
        return True

    async def active(self, *, now: float) -> list[Revocation]:
        """Every revocation whose tokens may still be unexpired."""
        cursor = self._revocations.find({"expiresAt": {"$gte": int(now)}})
        return [Revocation.from_dict(doc) async for doc in cursor]


def revocation_message(revocation: Revocation, *, now: datetime) -> OutboxMessage:
    """The broadcast of a revocation: keyed by tenant, with the revocation's stable id."""
    return OutboxMessage.new(
        topic=REVOCATION_TOPIC,
        payload=revocation.to_dict(),
        key=revocation.tenant,
        id=revocation.id,
        now=now,
    )


class BroadcastRevocations:
    """Revocation facts and their broadcast, stored in one transaction (both or neither)."""

    def __init__(self, store: RevocationStore, outbox: OutboxStore) -> None:
        self._store = store
        self._outbox = outbox

    async def record_and_broadcast(self, revocation: Revocation, *, now: datetime) -> bool:
        """Store a revocation and queue its broadcast (an API instance's relay publishes it);
        False, and nothing queued, when it was stored before (a retried teardown broadcasts
        once)."""
        return await self._outbox.enqueue_with(
            lambda session: self._store.record(revocation, session=session),
            [revocation_message(revocation, now=now)],
        )

    async def active(self, *, now: float) -> list[Revocation]:
        """Every revocation whose tokens may still be unexpired."""
        return await self._store.active(now=now)


async def broadcast(
    database: AsyncDatabase[Document], revocation: Revocation, *, now: datetime
) -> bool:
    """Store a revocation and queue its broadcast in one transaction (the operator's teardown)."""
    return await BroadcastRevocations(
        RevocationStore(database), OutboxStore(database)
    ).record_and_broadcast(revocation, now=now)
