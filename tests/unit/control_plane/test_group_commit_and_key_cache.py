"""Group-committed inserts (one insert_many per burst) and the revocation-aware API-key cache."""

import asyncio
import time
from datetime import UTC, datetime
from typing import Any

import pytest
from pymongo.errors import BulkWriteError, DuplicateKeyError

from caas_control_plane.services.api_keys import ApiKeyCache
from caas_core.adapters.outbox import GroupInserter
from caas_core.domain.api_key_records import ApiKeyRecord, KeyWriter


class FakeCollection:
    """Records insert_many batches; refuses duplicate `_id`s like MongoDB does."""

    def __init__(self) -> None:
        self.batches: list[list[dict[str, Any]]] = []
        self.ids: set[Any] = set()

    async def insert_many(self, docs: list[dict[str, Any]], *, ordered: bool) -> None:
        assert ordered is False
        await asyncio.sleep(0.01)  # a write round trip
        self.batches.append(docs)
        errors = []
        for index, doc in enumerate(docs):
            if doc["_id"] in self.ids:
                errors.append({"index": index, "code": 11000, "errmsg": "dup"})
            self.ids.add(doc["_id"])
        if errors:
            raise BulkWriteError({"writeErrors": errors})


async def test_concurrent_inserts_share_round_trips() -> None:
    collection = FakeCollection()
    inserter = GroupInserter(collection)  # type: ignore[arg-type]
    await asyncio.gather(*(inserter.insert({"_id": i}) for i in range(50)))
    assert collection.ids == set(range(50))
    # The first insert goes alone; everything that arrived meanwhile goes in the next batch.
    assert len(collection.batches) <= 3


async def test_a_duplicate_fails_only_its_own_writer() -> None:
    collection = FakeCollection()
    inserter = GroupInserter(collection)  # type: ignore[arg-type]
    await inserter.insert({"_id": "a"})
    results = await asyncio.gather(
        inserter.insert({"_id": "a"}), inserter.insert({"_id": "b"}), return_exceptions=True
    )
    assert isinstance(results[0], DuplicateKeyError)
    assert results[1] is None


async def test_a_failed_batch_fails_every_writer_in_it() -> None:
    class Broken:
        async def insert_many(self, docs: list[dict[str, Any]], *, ordered: bool) -> None:
            raise ConnectionError("down")

    inserter = GroupInserter(Broken())  # type: ignore[arg-type]
    results = await asyncio.gather(
        *(inserter.insert({"_id": i}) for i in range(3)), return_exceptions=True
    )
    assert all(isinstance(result, ConnectionError) for result in results)
    with pytest.raises(ConnectionError):  # and the next insert tries again
        await inserter.insert({"_id": 9})


def _record() -> ApiKeyRecord:
    return ApiKeyRecord(
        key_id="k" * 16, tenant="acme", name="n", key_hash="0" * 64, scopes=("*",),
        managed_by=KeyWriter.API, created_at=datetime.now(UTC),
    )  # fmt: skip


def test_the_key_cache_expires_and_honours_changes() -> None:
    changed: dict[str, float] = {}
    cache = ApiKeyCache(ttl=60, changed_at=lambda key_id: changed.get(key_id, 0.0))
    record = _record()
    cache.put(record.key_id, record, fetched=time.time())
    assert cache.get(record.key_id) == (True, record)
    changed[record.key_id] = time.time() + 0.001  # revoked/updated after the fetch
    assert cache.get(record.key_id) == (False, None)
    stale = ApiKeyCache(ttl=1)
    stale.put(record.key_id, record, fetched=time.time() - 2)
    assert stale.get(record.key_id) == (False, None)
    disabled = ApiKeyCache(ttl=0)
    disabled.put(record.key_id, record, fetched=time.time())
    assert disabled.get(record.key_id) == (False, None)


def test_unknown_ids_are_cached_as_unknown_and_evictable() -> None:
    cache = ApiKeyCache(ttl=60)
    cache.put("nope", None, fetched=time.time())
    assert cache.get("nope") == (True, None)
    cache.evict("nope")
    assert cache.get("nope") == (False, None)
