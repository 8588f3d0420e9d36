"""The audit verifier against a real API, MongoDB and Kafka: it reaches the head, raises a
tampered entry once (counter and `security.audit.integrity` event), and after a Kafka outage
during audit writes finds every event logged in order and catches up on the backlog."""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import httpx
import pytest
from confluent_kafka import Consumer, TopicPartition
from pymongo import AsyncMongoClient

from caas_control_plane.audit_verifier.runner import VerifierProcess
from caas_control_plane.audit_verifier.service import INTEGRITY_ACTION, Timing
from caas_control_plane.audit_verifier.states import VerifiedStates
from caas_core.adapters.audit import AUDIT_TOPIC
from caas_core.adapters.auditlog_store import ENTRIES, AuditLogStore, StoredEntry
from caas_core.adapters.auditlog_store import INDEXES as AUDIT_LOG_INDEXES
from caas_core.auditlog.append import log_of
from caas_core.domain.naming import PLATFORM_DATABASE
from tests.conftest import Stack
from tests.integration.control_plane.conftest import (
    CLOSED_PORT_URL,
    Tenant,
    free_port,
    make_settings,
    running_app,
)

T = TypeVar("T")
Mongo = AsyncMongoClient[dict[str, Any]]


async def eventually(check: Callable[[], Awaitable[T | None]], *, what: str, within: float) -> T:
    """Poll `check` until it returns something (not None), or fail naming `what`."""
    deadline = time.monotonic() + within
    while True:
        found = await check()
        if found is not None:
            return found
        if time.monotonic() > deadline:
            pytest.fail(f"not within {within:.0f}s: {what}", pytrace=False)
        await asyncio.sleep(0.2)


@asynccontextmanager
async def verifier(
    stack: Stack,
    *,
    kafka: str | None = None,
    database: str = PLATFORM_DATABASE,
    relay: bool = True,
    group: str | None = None,
    scan: float = 0.5,
    **env: str,
) -> AsyncIterator[tuple[VerifierProcess, str]]:
    """A verifier's run loop in-process (its own consumer group, /metrics on a free port)."""
    port = free_port()
    settings = make_settings(
        stack,
        CAAS_AUDIT_VERIFIER_PORT=str(port),
        CAAS_AUDIT_VERIFIER_GROUP=group or f"it-audit-verifier-{secrets.token_hex(4)}",
        **({"KAFKA_BOOTSTRAP_SERVERS": kafka} if kafka else {}),
        **env,
    )
    process = await VerifierProcess.start(
        settings,
        database=database,
        relay=relay,
        # A new group of a test starts at the end of the topic (not at 30 days of other tests);
        # a group with committed offsets starts from them.
        offset_reset="latest",
        # Small reads: every log here spans several (progress stored between them).
        timing=Timing(scan=scan, checkpoint=1.0, reverify=0, append_wait=5.0, batch=4),
    )
    try:
        yield process, f"http://127.0.0.1:{port}"
    finally:
        await process.stop()


def metric(text: str, name: str, log: str) -> float | None:
    """One labelled sample of a Prometheus exposition."""
    prefix = f'{name}{{log="{log}"}} '
    for line in text.splitlines():
        if line.startswith(prefix):
            return float(line.removeprefix(prefix))
    return None


async def scrape(url: str) -> str:
    async with httpx.AsyncClient(timeout=5) as client:
        response = await client.get(f"{url}/metrics")
    assert response.status_code == 200
    return response.text


async def login(client: httpx.AsyncClient, tenant: Tenant, user: str) -> str:
    """One audited action (auth.token.issued); its session id is the entry's target id."""
    response = await client.post(
        "/v1/auth/sdk/token", headers=tenant.headers, json={"userId": user}
    )
    assert response.status_code == 200, response.text
    session: str = response.json()["sessionId"]
    return session


async def test_a_verifier_reaches_the_head_of_a_log_written_by_a_real_api(
    stack: Stack, tenant: Tenant, mongo: Mongo
) -> None:
    log = log_of(tenant.name)
    store = AuditLogStore(mongo[PLATFORM_DATABASE])
    async with verifier(stack, scan=3600) as (process, url):
        await asyncio.to_thread(process.consumer.assigned.wait, 60)
        async with running_app(make_settings(stack)) as (_, client):
            for i in range(6):
                await login(client, tenant, f"u-{i}")

        async def verified_to_head() -> int | None:
            head = await store.head(log)
            state = process.verifier.state(log)
            seen = metric(await scrape(url), "caas_audit_witnessed_messages_total", log)
            done = head.size >= 6 and state.size == head.size and (seen or 0) >= head.size
            return state.size if done else None

        # The passes are an hour apart here: the Kafka messages brought the log to the head.
        size = await eventually(verified_to_head, what=f"{log} verified to its head", within=60)
        text = await scrape(url)
        assert metric(text, "caas_audit_verified_entries", log) == size
        assert metric(text, "caas_audit_verify_lag_entries", log) == 0
        assert metric(text, "caas_audit_integrity_failures_total", log) is None
        assert process.verifier.state(log).consistent
        async with httpx.AsyncClient(timeout=5) as http:
            health = await http.get(f"{url}/healthz")
        assert health.status_code == 200, health.text
    # The progress is stored: a restarted verifier resumes at the head, not at 0.
    stored = await VerifiedStates(mongo[PLATFORM_DATABASE]).load()
    assert stored[log].size == size
    assert stored[log].last == (await store.head(log)).last


async def test_a_tampered_entry_is_raised_once_with_a_counter_and_an_audit_event(
    stack: Stack, mongo: Mongo
) -> None:
    # A database of its own: a tampered log must not stay behind in the shared platform's.
    name = f"it_audit_verifier_{secrets.token_hex(4)}"
    db = mongo[name]
    log = log_of(f"tampered-{secrets.token_hex(3)}")
    tenant = log.removeprefix("tenant:")
    try:
        store = AuditLogStore(db)
        await store.append(
            [
                {
                    "id": f"evt-{i}",
                    "at": f"2026-12-01T03:00:{i:02d}+00:00",
                    "action": "apikey.created",
                    "outcome": "success",
                    "actor": {"type": "api_key", "id": "k-admin"},
                    "tenant": tenant,
                    "target": {"type": "api_key", "id": f"k-{i}"},
                }
                for i in range(10)
            ]
        )
        # Entry 7 says another action; its stored hash is left as it was.
        doc = await db[ENTRIES].find_one({"log": log, "seq": 7})
        assert doc is not None
        await db[ENTRIES].update_one(
            {"_id": doc["_id"]},
            {"$set": {"e": doc["e"].replace('"apikey.created"', '"apikey.deleted"')}},
        )
        # The admin user reaches the test database; Kafka is unreachable: the integrity event
        # is logged by the verifier's own relay all the same (and published to no one).
        async with verifier(
            stack, kafka=CLOSED_PORT_URL, database=name, MONGODB_URI=stack.mongodb_uri
        ) as (process, url):

            async def raised() -> str | None:
                text = await scrape(url)
                count = metric(text, "caas_audit_integrity_failures_total", log)
                return text if count else None

            text = await eventually(raised, what="the tampered entry raised", within=30)
            assert metric(text, "caas_audit_integrity_failures_total", log) == 1
            assert metric(text, "caas_audit_integrity_problem", log) == 1
            state = process.verifier.state(log)
            assert state.size == 7  # verified up to the tampered entry, not past it
            assert state.problem is not None
            assert (state.problem.kind, state.problem.seq) == ("modified", 7)

            async def logged() -> dict[str, Any] | None:
                return await db[ENTRIES].find_one(
                    {"log": "platform", "action": INTEGRITY_ACTION, "target.id": log}
                )

            event = await eventually(logged, what="security.audit.integrity logged", within=30)
            assert event["outcome"] == "failure"
            assert event["actor"] == {"type": "system", "id": "caas-audit-verifier"}
            details = event["personal"]["payload"]["details"]
            assert (details["log"], details["seq"], details["kind"]) == (log, 7, "modified")

            # Not raised again by the passes that follow, nor signed over.
            passes = process.verifier.last_pass

            async def two_more_passes() -> bool | None:
                last = process.verifier.last_pass
                return True if last and passes and last - passes > 1.0 else None

            await eventually(two_more_passes, what="more passes", within=30)
            text = await scrape(url)
            assert metric(text, "caas_audit_integrity_failures_total", log) == 1
            assert await db["audit_checkpoints"].count_documents({"log": log}) == 0
            # An entry changed after it was verified: found when the log is verified from 0.
            await db[ENTRIES].update_one(
                {"log": log, "seq": 2},
                {"$set": {"hash": "0" * 64}},
            )
            await process.verifier.reverify(log)
            text = await scrape(url)
            assert metric(text, "caas_audit_integrity_failures_total", log) == 2
            assert process.verifier.state(log).flagged is not None
            assert process.verifier.state(log).flagged.seq == 2  # type: ignore[union-attr]
            # The platform log itself (the events above) verifies and gets checkpoints.

            async def platform_signed() -> int | None:
                state = process.verifier.state("platform")
                return state.signed if state.signed >= 1 else None

            await eventually(platform_signed, what="a checkpoint of the platform log", within=30)
    finally:
        await mongo.drop_database(name)


async def test_a_log_rewritten_consistently_is_caught_by_its_kafka_message(
    stack: Stack, mongo: Mongo
) -> None:
    name = f"it_audit_verifier_{secrets.token_hex(4)}"
    db = mongo[name]
    tenant = f"rewritten-{secrets.token_hex(3)}"
    log = log_of(tenant)
    published = [
        {
            "id": f"evt-{i}",
            "at": f"2026-12-01T04:00:{i:02d}+00:00",
            "action": "apikey.created",
            "outcome": "success",
            "actor": {"type": "api_key", "id": "k-admin"},
            "tenant": tenant,
            "target": {"type": "api_key", "id": f"k-{i}"},
            "ip": "10.0.0.1",
        }
        for i in range(5)
    ]
    try:
        # What MongoDB holds says entry 3 revoked a key; what was published said it created
        # one. The stored chain is consistent (hashes, links, head): only Kafka can tell.
        stored = [dict(e) for e in published]
        stored[3] = {**stored[3], "action": "apikey.revoked"}
        await AuditLogStore(db).append(stored)
        async with verifier(
            stack, kafka=CLOSED_PORT_URL, database=name, MONGODB_URI=stack.mongodb_uri
        ) as (process, url):
            await process.verifier.on_messages(published)  # as the consumer hands them over
            state = process.verifier.state(log)
            assert state.size == 5  # the chain itself verifies
            assert state.flagged is not None
            assert (state.flagged.kind, state.flagged.seq) == ("witness-mismatch", 3)
            assert "action" in state.flagged.detail
            text = await scrape(url)
            assert metric(text, "caas_audit_integrity_failures_total", log) == 1
            assert metric(text, "caas_audit_witnessed_messages_total", log) == 5
            # Redelivered (at-least-once): compared again, not raised again.
            await process.verifier.on_messages(published)
            text = await scrape(url)
            assert metric(text, "caas_audit_integrity_failures_total", log) == 1
    finally:
        await mongo.drop_database(name)


async def test_kafka_down_during_audit_writes_loses_nothing_and_the_verifier_catches_up(
    stack: Stack, tenant: Tenant, mongo: Mongo
) -> None:
    store = AuditLogStore(mongo[PLATFORM_DATABASE])
    # Listen before anything happens: on a shared stack another relay may publish the backlog
    # as soon as it is due. The verifier group that will read it after the outage has its
    # offsets committed at today's end, as a deployed verifier's group has: it reads
    # everything published since, whenever it starts.
    group = f"it-audit-verifier-{secrets.token_hex(4)}"
    ends = _commit_topic_end(stack, group=group)
    watcher = Consumer(
        {
            "bootstrap.servers": stack.kafka_bootstrap,
            "group.id": f"it-audit-order-{secrets.token_hex(3)}",
            "enable.auto.commit": False,
        }
    )
    watcher.assign(ends)
    try:
        await _outage_then_recovery(stack, tenant, store, watcher, group=group)
    finally:
        watcher.close()


def _commit_topic_end(stack: Stack, *, group: str) -> list[TopicPartition]:
    """Commit `group`'s offsets at the end of platform.audit; the end offsets."""
    committer = Consumer(
        {"bootstrap.servers": stack.kafka_bootstrap, "group.id": group, "enable.auto.commit": False}
    )
    try:
        partitions = committer.list_topics(AUDIT_TOPIC, timeout=10).topics[AUDIT_TOPIC].partitions
        ends = []
        for p in partitions:
            _, high = committer.get_watermark_offsets(TopicPartition(AUDIT_TOPIC, p), timeout=10)
            ends.append(TopicPartition(AUDIT_TOPIC, p, high))
        committer.commit(offsets=ends, asynchronous=False)
    finally:
        committer.close()
    return ends


async def _outage_then_recovery(
    stack: Stack, tenant: Tenant, store: AuditLogStore, watcher: Consumer, *, group: str
) -> None:
    log = log_of(tenant.name)
    # The platform cannot reach Kafka: an API instance and a verifier pointed at a closed port
    # (the shared stack's Kafka itself stays up for everyone else's tests).
    down = make_settings(stack, KAFKA_BOOTSTRAP_SERVERS=CLOSED_PORT_URL)
    # No relay in this verifier: it would only hold other tests' messages back meanwhile.
    async with (
        verifier(stack, kafka=CLOSED_PORT_URL, relay=False) as (blind, _),
        running_app(down) as (_, client),
    ):
        sessions = [await login(client, tenant, f"u-{i}") for i in range(12)]

        # The relay appends to the log without Kafka (held back only by its own limit of
        # batches awaiting Kafka's answer, so this takes a few delivery timeouts).
        async def all_logged() -> list[StoredEntry] | None:
            head = await store.head(log)
            stored = await store.entries(log, start=0, end=head.size)
            issued = [e for e in stored if e.entry.action == "auth.token.issued"]
            return stored if len(issued) == len(sessions) else None

        entries = await eventually(all_logged, what="every event logged", within=60)
        # Nothing lost, and in the order the requests were made.
        issued = [e.entry.target_id for e in entries if e.entry.action == "auth.token.issued"]
        assert issued == sessions
        assert [e.entry.seq for e in entries] == list(range(len(entries)))
        head = await store.head(log)
        assert head.size == len(entries)

        # Verified while Kafka is still down: by the periodic passes, no message needed.
        async def verified_blind() -> int | None:
            state = blind.verifier.state(log)
            return state.size if state.size == head.size else None

        await eventually(verified_blind, what="verified with Kafka down", within=30)
        assert blind.consumer.handled == 0
    ids = [e.entry.id for e in entries]

    # Kafka is back: a verifier that reaches it resumes from the stored state (not from 0)...
    async with verifier(stack, group=group, scan=3600) as (
        back,
        url,
    ):
        assert back.verifier.state(log).size == head.size
        # ...and an API instance with Kafka relays the backlog the outbox kept.
        async with running_app(make_settings(stack)):
            arrived: list[str] = []

            async def backlog_published() -> bool | None:
                while (message := watcher.poll(0.1)) is not None:
                    if message.error() is None:
                        event = json.loads(message.value())
                        if event.get("tenant") == tenant.name:
                            arrived.append(event["id"])
                return True if set(ids) <= set(arrived) else None

            # Leases of messages held by the stopped instance run out after 30 s, retries
            # back off up to 60 s.
            await eventually(backlog_published, what="the backlog on Kafka", within=150)

            async def witnessed() -> float | None:
                seen = metric(await scrape(url), "caas_audit_witnessed_messages_total", log)
                return seen if seen is not None and seen >= len(ids) else None

            await eventually(witnessed, what="the backlog compared with the log", within=60)
        state = back.verifier.state(log)
        assert state.size == (await store.head(log)).size
        assert state.consistent
    # Every event of the tenant reached platform.audit once Kafka was back, in the log's
    # order: the relay publishes a key's messages in enqueue order (held back behind older
    # ones waiting for a retry), and the stopped instance handed its in-flight ones back.
    assert set(ids) <= set(arrived)
    firsts = list(dict.fromkeys(arrived))  # a redelivery's duplicate keeps its first place
    assert [i for i in firsts if i in set(ids)] == ids


async def test_a_pruned_log_verifies_from_its_pruned_record(stack: Stack, mongo: Mongo) -> None:
    name = f"it_audit_pruned_{secrets.token_hex(4)}"
    store = AuditLogStore(mongo[name])
    for collection, indexes in AUDIT_LOG_INDEXES.items():
        await mongo[name][collection].create_indexes(indexes)
    signer = make_settings(stack).audit_signer()  # the key the verifier knows
    log = log_of("pruned")
    start = datetime(2026, 1, 1, tzinfo=UTC)
    try:
        await store.append([_event(i, at=start + timedelta(seconds=i)) for i in range(700)])
        await store.checkpoint(log, signer=signer)  # 700, and the tile boundary 512
        assert await store.prune(log, before=start + timedelta(seconds=600)) == 512
        async with verifier(
            stack,
            database=name,
            relay=False,
            kafka=CLOSED_PORT_URL,
            MONGODB_URI=stack.mongodb_uri,  # a scratch database: the API's user may not read it
        ) as (process, _):
            state = await process.verifier.verify(log)
            assert state.size == 700
            assert state.consistent
            await process.verifier.reverify(log)
            assert process.verifier.state(log).consistent
            # A pruned record that is not what the key signed is an integrity problem.
            await mongo[name]["audit_heads"].update_one(
                {"_id": log}, {"$set": {"pruned.last": "00" * 32}}
            )
            await process.verifier.reverify(log)
            flagged = process.verifier.state(log).flagged
            assert flagged is not None
            assert flagged.kind == "bad-checkpoint"
    finally:
        await mongo.drop_database(name)


def _event(i: int, *, at: datetime) -> dict[str, Any]:
    return {
        "id": f"pruned-{i}",
        "at": at.isoformat(),
        "action": "auth.token.issued",
        "outcome": "success",
        "actor": {"type": "api_key", "id": "k"},
        "tenant": "pruned",
        "target": {"type": "session", "id": f"ses_{i}"},
    }
