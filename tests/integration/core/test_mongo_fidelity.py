"""The fidelity probe: the MongoDB semantics the platform relies on, against the stack's server.

The platform targets real MongoDB 7.0+; these tests pin down that the local server (SecantusDB,
docs/local-stack.md) behaves like it where the code depends on it, so that tests of the
platform's own atomic claims, expiry and isolation mean something.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pymongo import AsyncMongoClient, ReturnDocument
from pymongo.errors import DuplicateKeyError, OperationFailure, WriteError

from caas_core.adapters import mongo
from tests.conftest import Stack

Document = dict[str, Any]
UNAUTHORIZED = 13
AUTHENTICATION_FAILED = 18
DOCUMENT_VALIDATION_FAILURE = 121


@pytest.fixture
async def admin(stack: Stack) -> AsyncIterator[AsyncMongoClient[Document]]:
    client = mongo.connect(stack.mongodb_uri)
    yield client
    await client.close()


@pytest.fixture
async def scratch(admin: AsyncMongoClient[Document]) -> AsyncIterator[str]:
    """A throwaway database, dropped afterwards."""
    name = f"it_fidelity_{uuid.uuid4().hex[:8]}"
    yield name
    await admin.drop_database(name)


async def test_transactions_commit_abort_and_isolation(
    admin: AsyncMongoClient[Document], scratch: str
) -> None:
    db = admin[scratch]
    await db.create_collection("a")
    await db.create_collection("b")
    async with admin.start_session() as session:
        await session.start_transaction()
        await db.a.insert_one({"_id": 1}, session=session)
        await db.b.insert_one({"_id": 1}, session=session)
        # Not visible outside the transaction before it commits.
        assert await db.a.find_one({"_id": 1}) is None
        await session.abort_transaction()
    assert await db.a.count_documents({}) == 0
    assert await db.b.count_documents({}) == 0

    async with admin.start_session() as session:
        await session.start_transaction()
        await db.a.insert_one({"_id": 2}, session=session)
        await db.b.insert_one({"_id": 2}, session=session)
        await session.commit_transaction()
    assert await db.a.find_one({"_id": 2}) == {"_id": 2}
    assert await db.b.find_one({"_id": 2}) == {"_id": 2}


async def test_atomic_claims_under_50_concurrent_clients(
    stack: Stack, admin: AsyncMongoClient[Document], scratch: str
) -> None:
    """find_one_and_update decides a race: one winner per claim, no sequence number twice."""
    jobs = admin[scratch].jobs
    await jobs.insert_many([{"_id": f"job-{n}", "owner": None} for n in range(20)])
    await admin[scratch].counters.insert_one({"_id": "seq", "value": 0})
    clients = [mongo.connect(stack.mongodb_uri) for _ in range(50)]
    try:

        async def worker(
            me: int, client: AsyncMongoClient[Document]
        ) -> tuple[list[str], list[int]]:
            db = client[scratch]
            won, numbers = [], []
            for n in range(20):
                claimed = await db.jobs.find_one_and_update(
                    {"_id": f"job-{n}", "owner": None}, {"$set": {"owner": me}}
                )
                if claimed is not None:
                    won.append(claimed["_id"])
                counter = await db.counters.find_one_and_update(
                    {"_id": "seq"}, {"$inc": {"value": 1}}, return_document=ReturnDocument.AFTER
                )
                numbers.append(counter["value"])
            return won, numbers

        results = await asyncio.gather(*(worker(i, c) for i, c in enumerate(clients)))
    finally:
        await asyncio.gather(*(c.close() for c in clients))
    claims = [job for won, _ in results for job in won]
    assert sorted(claims) == sorted(f"job-{n}" for n in range(20))  # each claimed exactly once
    numbers = [n for _, ns in results for n in ns]
    assert sorted(numbers) == list(range(1, 50 * 20 + 1))  # gap-free, never handed out twice
    owners = {doc["_id"]: doc["owner"] async for doc in jobs.find()}
    assert all(owner is not None for owner in owners.values())


async def test_ttl_index_expires_documents(admin: AsyncMongoClient[Document], scratch: str) -> None:
    expiring = admin[scratch].expiring
    await expiring.create_index("expiresAt", expireAfterSeconds=0)
    now = datetime.now(UTC)
    await expiring.insert_many(
        [
            {"_id": "past", "expiresAt": now - timedelta(seconds=1)},
            {"_id": "future", "expiresAt": now + timedelta(days=1)},
        ]
    )
    # mongod's TTL monitor wakes every 60 s by default; the same parameter shortens it here.
    previous = await admin.admin.command("setParameter", 1, ttlMonitorSleepSecs=1)
    try:
        for _ in range(60):
            if await expiring.find_one({"_id": "past"}) is None:
                break
            await asyncio.sleep(0.5)
    finally:
        await admin.admin.command("setParameter", 1, ttlMonitorSleepSecs=previous["was"])
    assert [doc["_id"] async for doc in expiring.find()] == ["future"]


async def test_partial_unique_index(admin: AsyncMongoClient[Document], scratch: str) -> None:
    """Unique among active documents only: what 'one active X per owner' rules need."""
    keys = admin[scratch].keys
    await keys.create_index(
        "owner", unique=True, partialFilterExpression={"state": "active"}, name="one_active"
    )
    await keys.insert_one({"owner": "u1", "state": "active"})
    await keys.insert_one({"owner": "u1", "state": "revoked"})
    await keys.insert_one({"owner": "u1", "state": "revoked"})
    with pytest.raises(DuplicateKeyError):
        await keys.insert_one({"owner": "u1", "state": "active"})
    assert await keys.count_documents({"owner": "u1"}) == 3


async def test_change_stream_sees_inserts_and_updates(
    admin: AsyncMongoClient[Document], scratch: str
) -> None:
    events = admin[scratch].events
    await admin[scratch].create_collection("events")
    async with await events.watch(full_document="updateLookup") as stream:
        await events.insert_one({"_id": 1, "n": 1})
        await events.update_one({"_id": 1}, {"$set": {"n": 2}})
        seen = []
        async for change in stream:
            seen.append((change["operationType"], change["fullDocument"]["n"]))
            if len(seen) == 2:
                break
    assert seen == [("insert", 1), ("update", 2)]


async def test_json_schema_validator_refuses_bad_documents(
    admin: AsyncMongoClient[Document], scratch: str
) -> None:
    await admin[scratch].create_collection(
        "checked",
        validator={
            "$jsonSchema": {
                "required": ["tenant"],
                "properties": {"tenant": {"bsonType": "string"}},
            }
        },
    )
    await admin[scratch].checked.insert_one({"tenant": "a"})
    with pytest.raises(WriteError) as refused:
        await admin[scratch].checked.insert_one({"tenant": 7})
    assert refused.value.code == DOCUMENT_VALIDATION_FAILURE


async def test_scram_users_and_authentication_refusals(
    stack: Stack, admin: AsyncMongoClient[Document], scratch: str
) -> None:
    """A user with readWrite on one database: allowed there, refused elsewhere; a wrong
    password and an anonymous client are refused with mongod's codes."""
    user, password = f"it-{uuid.uuid4().hex[:6]}", uuid.uuid4().hex
    await admin[scratch].command(
        "createUser", user, pwd=password, roles=[{"role": "readWrite", "db": scratch}]
    )
    port = stack.conf.ports.mongo
    own = mongo.connect(f"mongodb://{user}:{password}@127.0.0.1:{port}/?authSource={scratch}")
    wrong = mongo.connect(f"mongodb://{user}:nope@127.0.0.1:{port}/?authSource={scratch}")
    anonymous = mongo.connect(f"mongodb://127.0.0.1:{port}/")
    try:
        await own[scratch].c.insert_one({"x": 1})
        with pytest.raises(OperationFailure) as elsewhere:
            await own["caas_platform"].api_keys.find_one()
        assert elsewhere.value.code == UNAUTHORIZED
        with pytest.raises(OperationFailure) as bad_password:
            await wrong[scratch].c.find_one()
        assert bad_password.value.code == AUTHENTICATION_FAILED
        with pytest.raises(OperationFailure) as nobody:
            await anonymous[scratch].c.find_one()
        assert nobody.value.code == UNAUTHORIZED
    finally:
        await asyncio.gather(own.close(), wrong.close(), anonymous.close())
        await admin[scratch].command("dropUser", user)
