"""RetentionPolicy reconcile on the real stack: Kafka retention.ms, sweeps under legal hold, log."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from caas_core.adapters import kafka
from caas_core.adapters.auditlog_export import export_log
from caas_core.adapters.auditlog_store import AuditLogStore
from caas_core.auditlog.append import log_of
from caas_core.auditlog.checkpoint import CheckpointSigner
from caas_core.auditlog.verify import verify_export
from caas_core.domain.conditions import utc_now
from caas_core.domain.legal_holds import LegalHold
from caas_core.domain.naming import PLATFORM_DATABASE
from caas_core.domain.topics import DAY_MS, TopicSpec, topic_config
from caas_operator.retention.reconcile import reconcile_retention
from caas_operator.retention.sweeper import topic_retention
from caas_operator.shared.status import KindResult
from tests.integration.operator_kinds.conftest import Tenant

SIGNER = CheckpointSigner(name="audit.caas.test", seed=bytes(range(32)))


async def reconcile(
    tenant: Tenant, obj: dict[str, Any], status: dict[str, Any] | None = None, **kw: Any
) -> KindResult:
    meta = obj["metadata"]
    return await reconcile_retention(
        tenant.ctx,
        namespace=tenant.namespace,
        name=meta["name"],
        uid=meta["uid"],
        spec=obj["spec"],
        old_status=status,
        generation=meta.get("generation"),
        trigger="test",
        **kw,
    )


def condition(result: KindResult, kind: str = "Ready") -> dict[str, Any]:
    (found,) = [c for c in result.status["conditions"] if c["type"] == kind]
    return dict(found)


async def make_topics(tenant: Tenant, *suffixes: str) -> list[str]:
    names = [f"tenant.{tenant.name}.{s}" for s in suffixes]
    specs = [
        TopicSpec(
            name=n, partitions=1, replication_factor=1, config=topic_config(retention_ms=7 * DAY_MS)
        )
        for n in names
    ]
    await kafka.ensure_topics(tenant.ctx.clients.kafka, specs)
    return names


async def test_topics_get_the_policy_retention(tenant: Tenant) -> None:
    events, audit, other = await make_topics(tenant, "events", "audit", "other")
    rules = [{"dataClass": "messages", "maxAgeDays": 3}, {"dataClass": "audit", "maxAgeDays": 400}]
    obj = await tenant.create("RetentionPolicy", "default", {"rules": rules})
    result = await reconcile(tenant, obj)
    assert condition(result)["status"] == "True", result.status
    assert condition(result, "KafkaReady")["message"] == "retention.ms set on 2 topic(s)"
    live = await topic_retention(tenant.ctx.clients.kafka, [events, audit, other])
    assert live == {events: str(3 * DAY_MS), audit: str(400 * DAY_MS), other: str(7 * DAY_MS)}
    assert result.status["topics"] == [
        {"name": audit, "retentionMs": 400 * DAY_MS},
        {"name": events, "retentionMs": 3 * DAY_MS},
    ]
    # Drift made by hand is corrected by the next reconcile (the resync timer).
    await kafka.ensure_topics(
        tenant.ctx.clients.kafka,
        [
            TopicSpec(
                name=events, partitions=1, replication_factor=1, config={"retention.ms": "1000"}
            )
        ],
    )
    await reconcile(tenant, obj, result.status)
    assert (await topic_retention(tenant.ctx.clients.kafka, [events]))[events] == str(3 * DAY_MS)


async def test_a_sweep_deletes_expired_records_except_held_ones_and_logs_the_run(
    tenant: Tenant,
) -> None:
    now = utc_now()
    messages = tenant.ctx.clients.mongo[tenant.database]["messages"]
    await messages.insert_many([
        {"_id": "old", "user_id": "u1", "created_at": now - timedelta(days=10)},
        {"_id": "old-no-subject", "created_at": now - timedelta(days=10)},
        {"_id": "old-held", "user_id": "u2", "created_at": now - timedelta(days=10)},
        {"_id": "recent", "user_id": "u1", "created_at": now - timedelta(days=1)},
        {"_id": "undated", "user_id": "u1"},
    ])  # fmt: skip
    sessions = tenant.ctx.clients.mongo[tenant.database]["sessions"]
    await sessions.insert_many([
        {"_id": "s-old", "user_id": "u3", "created_at": now - timedelta(days=40)},
        {"_id": "s-new", "user_id": "u3", "created_at": now - timedelta(days=5)},
    ])  # fmt: skip
    await tenant.ctx.holds.place(
        LegalHold(hold_id=f"hold-{tenant.name}", tenant=tenant.name, reason="litigation",
                  created_at=now - timedelta(days=1), data_classes=frozenset({"messages"}),
                  subject_ids=frozenset({"u2"}))
    )  # fmt: skip
    rules = [
        {"dataClass": "messages", "maxAgeDays": 7},
        {"dataClass": "sessions", "maxAgeDays": 30},
    ]
    obj = await tenant.create("RetentionPolicy", "default", {"rules": rules})
    result = await reconcile(tenant, obj)
    assert condition(result)["status"] == "True", result.status
    left = sorted([d["_id"] async for d in messages.find({})])
    assert left == ["old-held", "recent", "undated"]
    assert [d["_id"] async for d in sessions.find({})] == ["s-new"]
    last = result.status["lastSweep"]
    assert (last["deleted"], last["held"], last["generation"]) == (3, 1, 1)
    assert condition(result, "MongoReady")["message"].endswith(
        "deleted 3 record(s), kept 1 under legal hold"
    )
    log = await tenant.ctx.clients.mongo[PLATFORM_DATABASE]["deletion_logs"].find_one(
        {"_id": last["runId"]}
    )
    assert log is not None
    assert (log["tenant"], log["actor"], log["trigger"], log["status"]) == (
        tenant.name,
        "caas-operator",
        "test",
        "completed",
    )
    assert log["policy"]["name"] == "default"
    assert log["policy"]["generation"] == 1
    by_class = {c["dataClass"]: c for c in log["classes"]}
    assert (by_class["messages"]["deleted"], by_class["messages"]["held"]) == (2, 1)
    assert by_class["messages"]["holds"] == [f"hold-{tenant.name}"]
    assert by_class["sessions"]["deleted"] == 1
    # Not due again until the interval passes (or the policy changes): nothing more is logged.
    again = await reconcile(tenant, obj, result.status)
    assert "lastSweep" not in again.status  # left as it is: no new run
    count = await tenant.ctx.clients.mongo[PLATFORM_DATABASE]["deletion_logs"].count_documents(
        {"tenant": tenant.name}
    )
    assert count == 1


async def test_dry_run_counts_without_deleting(tenant: Tenant) -> None:
    now = utc_now()
    exports = tenant.ctx.clients.mongo[tenant.database]["exports"]
    await exports.insert_one({"_id": "e1", "user_id": "u1", "created_at": now - timedelta(days=9)})
    obj = await tenant.create(
        "RetentionPolicy",
        "trial",
        {"rules": [{"dataClass": "exports", "maxAgeDays": 1}], "dryRun": True},
    )
    result = await reconcile(tenant, obj)
    assert result.status["lastSweep"]["deleted"] == 1
    assert result.status["lastSweep"]["dryRun"] is True
    assert await exports.count_documents({}) == 1


async def test_a_second_policy_for_the_same_class_is_refused(tenant: Tenant) -> None:
    first = await tenant.create(
        "RetentionPolicy", "first", {"rules": [{"dataClass": "messages", "maxAgeDays": 7}]}
    )
    rules = [{"dataClass": "messages", "maxAgeDays": 1}, {"dataClass": "exports", "maxAgeDays": 2}]
    second = await tenant.create("RetentionPolicy", "second", {"rules": rules})
    assert condition(await reconcile(tenant, first))["status"] == "True"
    refused = await reconcile(tenant, second)
    assert (condition(refused)["status"], condition(refused)["reason"]) == (
        "False",
        "ConflictingPolicy",
    )
    assert "messages (governed by first)" in condition(refused)["message"]


async def test_the_audit_rule_prunes_the_tenant_audit_log_as_a_verifiable_prefix(
    tenant: Tenant,
) -> None:
    now = utc_now()
    platform = tenant.ctx.clients.mongo[PLATFORM_DATABASE]
    store = AuditLogStore(platform)
    log = log_of(tenant.name)
    old = [_audit_event(tenant.name, i, at=now - timedelta(days=10)) for i in range(600)]
    recent = [_audit_event(tenant.name, i, at=now - timedelta(hours=1)) for i in range(600, 650)]
    try:
        await store.append(old + recent)
        await store.checkpoint(log, signer=SIGNER)  # the verifier's job: signs 650 and 512
        obj = await tenant.create(
            "RetentionPolicy", "default", {"rules": [{"dataClass": "audit", "maxAgeDays": 1}]}
        )
        result = await reconcile(tenant, obj)
        assert condition(result)["status"] == "True", result.status
        assert result.status["lastSweep"]["deleted"] == 512  # the signed tile boundary
        kept = await store.entries(log, start=0, end=1000)
        assert [s.entry.seq for s in kept] == list(range(512, 650))
        lines = [line async for line in export_log(store, log, signer=SIGNER)]
        report = verify_export(lines=lines, key=SIGNER.verifier_key)
        assert report.ok, report
        assert report.size == 650
    finally:
        await platform["security_audit_logs"].delete_many({"log": log})
        await platform["audit_heads"].delete_many({"_id": log})
        await platform["audit_checkpoints"].delete_many({"log": log})
        await platform["audit_nodes"].delete_many({"_id": {"$regex": f"^{log}/"}})


def _audit_event(tenant: str, i: int, *, at: datetime) -> dict[str, Any]:
    return {
        "id": f"{tenant}-audit-{i}",
        "at": (at + timedelta(milliseconds=i)).isoformat(),
        "action": "auth.token.issued",
        "outcome": "success",
        "actor": {"type": "api_key", "id": "k1"},
        "tenant": tenant,
        "target": {"type": "session", "id": f"ses_{i}"},
        "ip": "203.0.113.7",
    }
