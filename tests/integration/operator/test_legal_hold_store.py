"""Legal holds on the real Mongo server."""

import uuid
from datetime import UTC, datetime, timedelta

from caas_core.adapters import mongo
from caas_core.domain.legal_holds import LegalHold
from caas_operator.shared.legal_hold_store import LegalHoldStore
from tests.conftest import Stack


async def test_place_release_and_list_active(stack: Stack) -> None:
    client = mongo.connect(stack.mongodb_uri)
    database = f"it_holds_{uuid.uuid4().hex[:8]}"
    store = LegalHoldStore(client[database])
    now = datetime.now(UTC).replace(microsecond=0)
    try:
        await store.ensure_indexes()
        first = LegalHold(hold_id="h1", tenant="acme", reason="case 1", created_at=now)
        second = LegalHold(
            hold_id="h2", tenant="acme", reason="case 2", created_at=now + timedelta(seconds=1),
            data_classes=frozenset({"messages"}),
        )  # fmt: skip
        other = LegalHold(hold_id="h3", tenant="globex", reason="case 3", created_at=now)
        for hold in (first, second, other):
            await store.place(hold)
        later = now + timedelta(minutes=1)
        assert await store.active_for_tenant("acme", now=later) == [first, second]
        assert await store.release("h1", now=later)
        assert not await store.release("h1", now=later)
        assert await store.active_for_tenant("acme", now=later) == [second]
    finally:
        await client.drop_database(database)
        await client.close()
