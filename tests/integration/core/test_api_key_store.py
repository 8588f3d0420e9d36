"""The shared API-key store on the real Mongo server: lookups, ownership, revocation."""

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from caas_core.adapters import mongo
from caas_core.adapters.api_key_store import ApiKeyNotFoundError, ApiKeyStore
from caas_core.domain.api_key_records import ApiKeyRecord, ForeignKeyError, KeyWriter
from caas_core.domain.api_keys import format_api_key, hash_api_key, new_api_key
from tests.conftest import Stack

NOW = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture
async def store(stack: Stack) -> AsyncIterator[ApiKeyStore]:
    client = mongo.connect(stack.mongodb_uri)
    database = f"it_keys_{NOW.strftime('%H%M%S%f')}"
    keys = ApiKeyStore(client[database])
    await keys.ensure_indexes()
    yield keys
    await client.drop_database(database)
    await client.close()


async def _issue(
    store: ApiKeyStore, *, writer: KeyWriter, tenant: str = "acme"
) -> tuple[str, ApiKeyRecord]:
    key = new_api_key()
    record = ApiKeyRecord(
        key_id=key.key_id, tenant=tenant, name="backend", key_hash=hash_api_key(key),
        scopes=("tokens:issue",), managed_by=writer, created_at=NOW,
    )  # fmt: skip
    await store.insert(record)
    return format_api_key(key), record


async def test_authenticate_accepts_only_the_exact_usable_key(store: ApiKeyStore) -> None:
    presented, record = await _issue(store, writer=KeyWriter.API)
    assert await store.authenticate(presented, now=NOW) == record
    tampered = presented[:-1] + ("A" if presented[-1] != "A" else "B")
    assert await store.authenticate(tampered, now=NOW) is None
    assert await store.authenticate("caas_sk_not-a-key", now=NOW) is None
    assert await store.authenticate(format_api_key(new_api_key()), now=NOW) is None
    await store.revoke(record.key_id, writer=KeyWriter.API, now=NOW)
    assert await store.authenticate(presented, now=NOW) is None


async def test_writers_cannot_touch_each_others_keys(store: ApiKeyStore) -> None:
    _, by_operator = await _issue(store, writer=KeyWriter.OPERATOR)
    with pytest.raises(ForeignKeyError):
        await store.revoke(by_operator.key_id, writer=KeyWriter.API, now=NOW)
    with pytest.raises(ForeignKeyError):
        await store.delete(by_operator.key_id, writer=KeyWriter.API)
    with pytest.raises(ForeignKeyError):
        await store.save(by_operator, writer=KeyWriter.API)
    assert await store.get(by_operator.key_id) == by_operator
    assert await store.delete(by_operator.key_id, writer=KeyWriter.OPERATOR)
    assert not await store.delete(by_operator.key_id, writer=KeyWriter.OPERATOR)
    with pytest.raises(ApiKeyNotFoundError):
        await store.revoke(by_operator.key_id, writer=KeyWriter.OPERATOR, now=NOW)


async def test_rotation_overlap_and_tenant_scoping(store: ApiKeyStore) -> None:
    old_key, old = await _issue(store, writer=KeyWriter.OPERATOR)
    new_key, new = await _issue(store, writer=KeyWriter.OPERATOR)
    await store.save(old.replaced(by=new.key_id, valid_until=NOW + timedelta(minutes=10)),
                     writer=KeyWriter.OPERATOR)  # fmt: skip
    assert await store.authenticate(old_key, now=NOW) is not None
    assert await store.authenticate(new_key, now=NOW) is not None
    assert await store.authenticate(old_key, now=NOW + timedelta(minutes=10)) is None
    assert await store.get(old.key_id, tenant="someone-else") is None
    assert [r.key_id for r in await store.list_for_tenant("acme")] == [old.key_id, new.key_id]
