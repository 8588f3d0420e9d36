"""Benchmark: audit appends (batched) against the storage ceiling for the same documents.

    .venv/bin/python bench/audit_append.py     # BENCH_EVENTS=20000 BENCH_BATCH=500 by default

In one run, against the stack's MongoDB (a scratch database, dropped at the end), interleaved
rounds (best of BENCH_ROUNDS) of N audit events in batches of B:

1. the storage ceiling: the entry documents the appender writes (canonical bytes, hashes,
   personal data, query fields — computed beforehand, outside the timing) inserted with plain
   `insert_many` into a collection with the same indexes, no transaction, with the same
   BENCH_IN_FLIGHT (8) batches outstanding as the appends (the relay overlaps its deliveries);
2. `AuditLogStore.append`: the same events through the real path — read the head, skip events
   already logged, hash and link the entries, insert entries and tile nodes, move the head by
   compare-and-set, all in one transaction per log and batch — into one log (the worst case:
   every batch extends the same chain, so nothing runs in parallel) and into 16 tenants' logs
   (batches of different logs proceed concurrently, as the relays of several instances do);
3. both again once the log already holds BENCH_PREFILL entries, to show the cost does not
   grow with the log (the head is one document; tiles are appended, not rewritten).

Also printed: the same inserts one batch at a time (what one sequential writer gets from the
server, which works on several concurrent inserts at once but on one chain's transactions one
after another).

Target (issue 11): appends ≥ 0.8x the ceiling.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo import AsyncMongoClient

from caas_core.adapters.auditlog_store import (
    ENTRIES,
    INDEXES,
    AuditLogStore,
    _entry_document,
)
from caas_core.auditlog.append import Head, log_of, plan_append

N = int(os.environ.get("BENCH_EVENTS", "20000"))
BATCH = int(os.environ.get("BENCH_BATCH", "500"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
PREFILL = int(os.environ.get("BENCH_PREFILL", "200000"))
TENANTS = 16
IN_FLIGHT = int(os.environ.get("BENCH_IN_FLIGHT", "8"))
START = datetime(2026, 12, 1, tzinfo=UTC)


def _events(n: int, *, tenants: int = 1, tag: str) -> list[dict[str, Any]]:
    return [
        {
            "id": f"{tag}-{i:010d}",
            "at": (START + timedelta(milliseconds=i)).isoformat(),
            "action": ("auth.token.issued", "auth.login", "apikey.revoked")[i % 3],
            "outcome": "success" if i % 7 else "failure",
            "actor": {"type": "api_key", "id": f"key_{i % 50:04d}"},
            "tenant": f"bench{i % tenants:02d}",
            "target": {"type": "session", "id": f"ses_{i:010d}"},
            "ip": f"10.0.{i % 256}.{i % 250}",
            "userAgent": "bench/1.0",
            "requestId": f"req-{i}",
            "details": {},
        }
        for i in range(n)
    ]


def _ceiling_documents(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The documents the appender would write for these events (computed untimed)."""
    planned = plan_append(Head(log=log_of(events[0]["tenant"])), events)
    return [_entry_document(r, events[0]["tenant"]) for r in planned.entries]


async def _in_flight(batches: list[Any], write: Callable[[Any], Awaitable[object]]) -> None:
    """Write the batches in order with up to IN_FLIGHT outstanding, as the outbox relay does
    (its deliveries overlap); the same for the ceiling and the appends."""
    slots = asyncio.Semaphore(IN_FLIGHT)

    async def one(batch: Any) -> None:
        async with slots:
            await write(batch)

    tasks = []
    for batch in batches:
        await slots.acquire()  # submit in order
        slots.release()
        tasks.append(asyncio.ensure_future(one(batch)))
        await asyncio.sleep(0)
    await asyncio.gather(*tasks)


async def _timed(run: Callable[[], Awaitable[None]]) -> float:
    started = time.perf_counter()
    await run()
    return time.perf_counter() - started


async def _fresh(client: AsyncMongoClient[dict[str, Any]], name: str) -> None:
    await client.drop_database(name)
    for collection, indexes in INDEXES.items():
        await client[name][collection].create_indexes(indexes)


async def main() -> None:
    uri = os.environ["MONGODB_URI"]
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(uri, tz_aware=True)
    name = f"bench_audit_{uuid.uuid4().hex[:6]}"
    best: dict[str, float] = {}
    try:
        for round_ in range(ROUNDS):
            events = _events(N, tag=f"r{round_}")
            docs = _ceiling_documents(events)

            await _fresh(client, name)
            collection = client[name][ENTRIES]

            async def ceiling(docs: list[dict[str, Any]] = docs, into: Any = collection) -> None:
                await _in_flight(
                    [docs[i : i + BATCH] for i in range(0, len(docs), BATCH)],
                    lambda batch: into.insert_many(batch, ordered=False),
                )

            elapsed = await _timed(ceiling)
            best["ceiling"] = min(best.get("ceiling", elapsed), elapsed)

            # The same documents one batch at a time: what a single writer gets without the
            # server working on several inserts at once (a chain's writer is sequential).
            await _fresh(client, name)
            collection = client[name][ENTRIES]

            async def one_by_one(docs: list[dict[str, Any]] = docs, into: Any = collection) -> None:
                for i in range(0, len(docs), BATCH):
                    await into.insert_many(docs[i : i + BATCH], ordered=False)

            elapsed = await _timed(one_by_one)
            best["sequential"] = min(best.get("sequential", elapsed), elapsed)

            await _fresh(client, name)
            store = AuditLogStore(client[name])

            async def one_log(store: AuditLogStore = store, events: list[Any] = events) -> None:
                await _in_flight(
                    [events[i : i + BATCH] for i in range(0, len(events), BATCH)], store.append
                )

            elapsed = await _timed(one_log)
            best["one log"] = min(best.get("one log", elapsed), elapsed)
            assert (await store.head(log_of("bench00"))).size == N

            await _fresh(client, name)
            store = AuditLogStore(client[name])
            spread = _events(N, tenants=TENANTS, tag=f"s{round_}")

            async def many_logs(store: AuditLogStore = store, events: list[Any] = spread) -> None:
                # As a relay sees them: each batch mixes the tenants' events.
                await _in_flight(
                    [events[i : i + BATCH] for i in range(0, len(events), BATCH)], store.append
                )

            elapsed = await _timed(many_logs)
            best[f"{TENANTS} logs"] = min(best.get(f"{TENANTS} logs", elapsed), elapsed)

        # Growth: the ceiling and the single-log append again once the collection already
        # holds PREFILL entries of the log (indexes, caches and the head as in a grown log).
        await _fresh(client, name)
        store = AuditLogStore(client[name])
        prefill = _events(PREFILL, tag="p")
        for i in range(0, PREFILL, 2000):
            await store.append(prefill[i : i + 2000])
        for round_ in range(ROUNDS):
            docs = _ceiling_documents(_events(N, tag=f"gc{round_}"))
            for doc in docs:
                doc["log"] = f"bench:ceiling{round_}"  # beside the log (log+seq is unique)

            async def ceiling_grown(docs: list[dict[str, Any]] = docs) -> None:
                collection = client[name][ENTRIES]
                await _in_flight(
                    [docs[i : i + BATCH] for i in range(0, len(docs), BATCH)],
                    lambda batch: collection.insert_many(batch, ordered=False),
                )

            elapsed = await _timed(ceiling_grown)
            best["ceiling grown"] = min(best.get("ceiling grown", elapsed), elapsed)
            events = _events(N, tag=f"g{round_}")

            async def grown(events: list[Any] = events, store: AuditLogStore = store) -> None:
                await _in_flight(
                    [events[i : i + BATCH] for i in range(0, len(events), BATCH)], store.append
                )

            elapsed = await _timed(grown)
            best["grown"] = min(best.get("grown", elapsed), elapsed)
    finally:
        await client.drop_database(name)
        await client.close()

    ceiling = N / best["ceiling"]
    grown_ceiling = N / best["ceiling grown"]
    print(f"audit appends: {N:,} events, batches of {BATCH}, best of {ROUNDS} rounds")
    print("| path | events/s | vs ceiling |\n|---|---|---|")
    print(f"| storage ceiling, empty | {ceiling:,.0f} | 1.00 |")
    sequential = N / best["sequential"]
    print(
        f"| the same inserts one batch at a time | {sequential:,.0f} | {sequential / ceiling:.2f} |"
    )
    for label in ("one log", f"{TENANTS} logs"):
        rate = N / best[label]
        print(f"| append, {label}, empty | {rate:,.0f} | {rate / ceiling:.2f} |")
    print(f"| storage ceiling, {PREFILL:,} entries stored | {grown_ceiling:,.0f} | 1.00 |")
    rate = N / best["grown"]
    print(f"| append, one log of {PREFILL:,} entries | {rate:,.0f} | {rate / grown_ceiling:.2f} |")
    print(f"append at {PREFILL:,} entries vs empty: {best['grown'] / best['one log']:.2f}x time")


if __name__ == "__main__":
    asyncio.run(main())
