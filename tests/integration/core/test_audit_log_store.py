"""The stored audit log against the stack's MongoDB: appends, concurrent writers, proofs, exports.

Each test works in a throwaway database with its own logs, so nothing here depends on or
disturbs the platform's `caas_platform` log.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pymongo import AsyncMongoClient

from caas_core.adapters import mongo
from caas_core.adapters.auditlog_export import export_log
from caas_core.adapters.auditlog_store import ENTRIES, INDEXES, AuditLogStore
from caas_core.auditlog.checkpoint import CheckpointSigner, open_checkpoint
from caas_core.auditlog.entry import GENESIS, personal_data_matches
from caas_core.auditlog.merkle import (
    MemoryTree,
    NodeReader,
    consistency_proof,
    inclusion_proof,
    verify_consistency,
    verify_inclusion,
)
from caas_core.auditlog.verify import verify_export
from tests.conftest import Stack

Document = dict[str, Any]
SIGNER = CheckpointSigner(name="audit.caas.test", seed=bytes(range(32)))
START = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)


def event(i: int, *, tenant: str | None = "acme", tag: str = "") -> dict[str, Any]:
    """An audit event as AuditEvent.to_dict() gives it."""
    return {
        "id": f"evt-{tag}{i}-{uuid.uuid4().hex[:6]}",
        "at": (START + timedelta(milliseconds=i)).isoformat(),
        "action": "auth.token.issued",
        "outcome": "success",
        "actor": {"type": "api_key", "id": "key1"},
        "tenant": tenant,
        "target": {"type": "session", "id": f"ses_{i}"},
        "ip": f"203.0.113.{i % 250}",
        "userAgent": "test/1.0",
        "requestId": None,
        "details": {"n": i, "ratio": 0.5},
    }


@pytest.fixture
async def db_name(stack: Stack) -> AsyncIterator[tuple[AsyncMongoClient[Document], str]]:
    client = mongo.connect(stack.mongodb_uri)
    name = f"it_audit_{uuid.uuid4().hex[:8]}"
    for collection, indexes in INDEXES.items():
        await client[name][collection].create_indexes(indexes)
    yield client, name
    await client.drop_database(name)
    await client.close()


async def test_appends_number_link_and_keep_personal_data_beside_the_entry(
    db_name: tuple[AsyncMongoClient[Document], str],
) -> None:
    client, name = db_name
    store = AuditLogStore(client[name])
    first = [event(i) for i in range(5)]
    entries = await store.append(first)
    assert [e.seq for e in entries] == [0, 1, 2, 3, 4]
    assert entries[0].prev == GENESIS
    assert all(b.prev == a.hash_hex() for a, b in itertools.pairwise(entries))
    assert {e.log for e in entries} == {"tenant:acme"}
    # The same events again (a relay retry): nothing new; new ones continue the chain.
    assert await store.append(first) == []
    more = await store.append([event(5), event(6, tenant=None)])
    assert [(e.log, e.seq) for e in more] == [("tenant:acme", 5), ("platform", 0)]
    head = await store.head("tenant:acme")
    assert head.size == 6
    assert head.last == more[0].hash_hex()
    stored = await store.entries("tenant:acme", start=0, end=10)
    assert [s.entry for s in stored] == [*entries, more[0]]
    one = stored[0]
    assert one.payload is not None
    assert one.salt is not None
    assert one.payload["ip"] == "203.0.113.0"
    assert one.payload["details"] == {"n": 0, "ratio": "0.5"}
    assert personal_data_matches(entry=one.entry, payload=one.payload, salt=one.salt)
    raw = await client[name][ENTRIES].find_one({"_id": one.entry.id})
    assert raw is not None
    assert "203.0.113.0" not in raw["e"], "personal data is never hashed in"


async def test_concurrent_writers_on_one_log_make_one_chain_and_other_logs_do_not_wait(
    db_name: tuple[AsyncMongoClient[Document], str], stack: Stack
) -> None:
    client, name = db_name
    # Two "instances": separate clients, separate stores, writing the same tenant's log at once.
    other = mongo.connect(stack.mongodb_uri)
    try:
        stores = [AuditLogStore(client[name]), AuditLogStore(other[name])]
        batches = [
            [event(i, tag=f"w{w}b{b}-") for i in range(b % 3 + 1)]
            for w in range(2)
            for b in range(20)
        ]
        # Round by round, both instances extend the log from the same head at the same moment
        # (within a round, each instance's writer would group its own batches into one).
        for first in range(0, len(batches), 4):
            round_ = batches[first : first + 4]
            await asyncio.gather(
                *(stores[k % 2].append(batch) for k, batch in enumerate(round_)),
                stores[first % 2].append([event(first, tenant="other")]),
            )
    finally:
        await other.close()
    # The writers did collide (and re-planned from the head that won) — not ran one by one.
    assert stores[0].retries + stores[1].retries > 0
    total = sum(len(batch) for batch in batches)
    stored = await stores[0].entries("tenant:acme", start=0, end=total + 10)
    assert [s.entry.seq for s in stored] == list(range(total))
    assert {s.entry.id for s in stored} == {e["id"] for batch in batches for e in batch}
    prev = GENESIS
    for s in stored:
        assert s.entry.prev == prev
        prev = s.hash
    head = await stores[0].head("tenant:acme")
    assert head.size == total
    assert head.last == prev
    assert head.root() == MemoryTree.from_leaves([bytes.fromhex(s.hash) for s in stored]).root()
    assert (await stores[0].head("tenant:other")).size == len(batches) // 4
    # Each batch's events stay together and in their order (one writer per append).
    for batch in batches:
        seqs = [next(s.entry.seq for s in stored if s.entry.id == e["id"]) for e in batch]
        assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))


def _inclusion(index: int, size: int, nodes: NodeReader) -> list[bytes]:
    return inclusion_proof(nodes=nodes, index=index, size=size)


def _consistency(old: int, size: int, nodes: NodeReader) -> list[bytes]:
    return consistency_proof(nodes=nodes, old_size=old, new_size=size)


async def test_proofs_from_stored_tiles_match_the_whole_tree(
    db_name: tuple[AsyncMongoClient[Document], str],
) -> None:
    client, name = db_name
    store = AuditLogStore(client[name])
    for first in range(0, 1300, 250):  # several batches, crossing tile boundaries (256)
        await store.append([event(i) for i in range(first, first + 250)])
    stored = await store.entries("tenant:acme", start=0, end=2000)
    tree = MemoryTree.from_leaves([bytes.fromhex(s.hash) for s in stored])
    size = tree.size
    assert size == 1500
    for index in (0, 1, 255, 256, 511, 700, 1023, 1024, 1499):
        proof = await store.prove("tenant:acme", functools.partial(_inclusion, index, size))
        assert proof == inclusion_proof(nodes=tree, index=index, size=size)
        leaf = bytes.fromhex(stored[index].hash)
        assert verify_inclusion(leaf=leaf, index=index, size=size, proof=proof, root=tree.root())
    for old in (1, 256, 300, 1024, 1499):
        proof = await store.prove("tenant:acme", functools.partial(_consistency, old, size))
        assert verify_consistency(
            old_size=old,
            new_size=size,
            old_root=tree.root(size=old),
            new_root=tree.root(),
            proof=proof,
        )


async def test_exports_of_the_whole_log_and_of_a_later_range_verify_with_the_key_only(
    db_name: tuple[AsyncMongoClient[Document], str],
) -> None:
    client, name = db_name
    store = AuditLogStore(client[name])
    await store.append([event(i) for i in range(600)])
    checkpoint, note = await store.checkpoint("tenant:acme", signer=SIGNER)
    assert checkpoint.size == 600
    assert open_checkpoint(note=note, key=SIGNER.verifier_key) == checkpoint
    await store.append([event(i) for i in range(600, 700)])
    lines = [line async for line in export_log(store, "tenant:acme", signer=SIGNER)]
    report = verify_export(lines=lines, key=SIGNER.verifier_key)
    assert report.ok, report
    assert report.entries == 700
    assert report.checkpoints == 3  # 512 (the tile boundary), 600 and the end
    later = [line async for line in export_log(store, "tenant:acme", signer=SIGNER, start=300)]
    assert verify_export(lines=later, key=SIGNER.verifier_key).ok
    # An entry changed in the database: the export shows it, the verifier names it.
    await client[name][ENTRIES].update_one(
        {"log": "tenant:acme", "seq": 42},
        [
            {
                "$set": {
                    "e": {
                        "$replaceOne": {"input": "$e", "find": "success", "replacement": "failure"}
                    }
                }
            }
        ],
    )
    tampered = [line async for line in export_log(store, "tenant:acme", signer=SIGNER)]
    report = verify_export(lines=tampered, key=SIGNER.verifier_key)
    assert not report.ok
    assert report.problem is not None
    assert report.problem.seq == 42


async def test_pruning_by_age_keeps_the_rest_verifiable_and_provable(
    db_name: tuple[AsyncMongoClient[Document], str],
) -> None:
    client, name = db_name
    store = AuditLogStore(client[name])
    log = "tenant:acme"
    await store.append([event(i) for i in range(700)])
    assert await store.prune(log, before=START + timedelta(milliseconds=600)) == 0, (
        "nothing is pruned before a tile boundary is signed"
    )
    checkpoint, _ = await store.checkpoint(log, signer=SIGNER)  # also signs the boundary 512
    before = START + timedelta(milliseconds=600)
    assert await store.prune(log, before=before, dry_run=True) == 512
    assert len(await store.entries(log, start=0, end=700)) == 700, "a dry run removes nothing"
    assert await store.prune(log, before=before) == 512
    assert [s.entry.seq for s in await store.entries(log, start=0, end=520)] == list(
        range(512, 520)
    )
    assert await store.prune(log, before=before) == 0, "pruning again is a no-op"
    # The log goes on; the export starts with the pruned record and verifies with the key.
    await store.append([event(i) for i in range(700, 800)])
    lines = [line async for line in export_log(store, log, signer=SIGNER)]
    assert lines[0].startswith(b'{"type":"pruned"') or b'"type": "pruned"' in lines[0]
    report = verify_export(lines=lines, key=SIGNER.verifier_key)
    assert report.ok, report
    assert report.entries == 800 - 512
    later = [line async for line in export_log(store, log, signer=SIGNER, start=600)]
    assert verify_export(lines=later, key=SIGNER.verifier_key).ok
    # Proofs over kept entries and from the pruned-era checkpoint still verify.
    head = await store.head(log)
    leaf = bytes.fromhex((await store.entries(log, start=650, end=651))[0].hash)
    proof = await store.prove(log, functools.partial(_inclusion, 650, head.size))
    assert verify_inclusion(leaf=leaf, index=650, size=head.size, proof=proof, root=head.root())
    consistency = await store.prove(
        log, functools.partial(_consistency, checkpoint.size, head.size)
    )
    assert verify_consistency(
        old_size=checkpoint.size,
        new_size=head.size,
        old_root=checkpoint.root,
        new_root=head.root(),
        proof=consistency,
    )


async def test_erasing_a_subjects_personal_data_keeps_the_log_verifiable(
    db_name: tuple[AsyncMongoClient[Document], str],
) -> None:
    client, name = db_name
    store = AuditLogStore(client[name])
    log = "tenant:acme"
    events = [event(i) for i in range(20)]
    for i, e in enumerate(events):
        e["actor"] = {"type": "user", "id": "usr_erased" if i % 4 == 0 else f"usr_{i}"}
    await store.append(events)
    assert await store.erase_personal_data(log, subject="usr_erased") == 5
    stored = await store.entries(log, start=0, end=20)
    for s in stored:
        erased = s.entry.actor_id == "usr_erased"
        assert (s.payload is None) == erased
        assert s.entry.pd is not None, "the commitment stays, unlinkable without its salt"
    lines = [line async for line in export_log(store, log, signer=SIGNER)]
    assert verify_export(lines=lines, key=SIGNER.verifier_key).ok
    assert await store.erase_personal_data(log, subject="usr_erased") == 0
