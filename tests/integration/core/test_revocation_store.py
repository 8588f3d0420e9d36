"""Revocations broadcast by the operator: stored once, queued for the relays once."""

import uuid
from datetime import UTC, datetime, timedelta

from caas_core.adapters import mongo
from caas_core.adapters.outbox import COLLECTION as OUTBOX
from caas_core.adapters.revocation_store import RevocationStore, broadcast
from caas_core.domain.revocations import REVOCATION_TOPIC, tenant_deleted
from tests.conftest import Stack


async def test_a_retried_teardown_broadcasts_its_revocation_once(stack: Stack) -> None:
    client = mongo.connect(stack.mongodb_uri)
    database = client[f"it_revocations_{uuid.uuid4().hex[:8]}"]
    deleted_at = datetime.now(UTC)
    try:
        first = tenant_deleted("acme", deleted_at=deleted_at, now=deleted_at)
        assert await broadcast(database, first, now=deleted_at)
        retry_at = deleted_at + timedelta(seconds=30)
        retried = tenant_deleted("acme", deleted_at=deleted_at, now=retry_at)
        assert not await broadcast(database, retried, now=retry_at)

        messages = [doc async for doc in database[OUTBOX].find({})]
        assert [(m["_id"], m["topic"]) for m in messages] == [(first.id, REVOCATION_TOPIC)]
        assert messages[0]["claimUntil"] <= datetime.now(UTC)  # due: any relay's scan takes it
        stored = await RevocationStore(database).active(now=retry_at.timestamp())
        assert stored == [first]  # the first teardown's fact, not the retry's
    finally:
        await client.drop_database(database.name)
        await client.close()
