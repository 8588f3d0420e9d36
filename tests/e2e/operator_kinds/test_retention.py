"""`kubectl apply` of a RetentionPolicy: topic retention.ms, a sweep honouring holds, a log."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from confluent_kafka.admin import AdminClient, ConfigResource, ResourceType
from pymongo import MongoClient

from caas_core.domain.naming import PLATFORM_DATABASE
from caas_core.domain.topics import DAY_MS
from tests.conftest import Stack
from tests.e2e.operator_kinds.conftest import apply, resource, wait_condition


def retention_ms(stack: Stack, topic: str) -> str:
    admin = AdminClient({"bootstrap.servers": stack.kafka_bootstrap})
    (future,) = admin.describe_configs([ConfigResource(ResourceType.TOPIC, topic)]).values()
    return str(future.result(timeout=30)["retention.ms"].value)


def test_policy_sets_topic_retention_and_sweeps_honouring_holds(
    running_platform: Stack, make_tenant: Callable[..., str]
) -> None:
    stack = running_platform
    topics = [{"suffix": "events", "retentionMs": 7 * DAY_MS}, {"suffix": "audit"}]
    tenant = make_tenant(kafka={"topics": topics})
    namespace = f"tenant-{tenant}"
    now = datetime.now(UTC)
    client: MongoClient[dict[str, object]] = MongoClient(stack.mongodb_uri, tz_aware=True)
    try:
        messages = client[f"tenant_{tenant.replace('-', '_')}"]["messages"]
        messages.insert_many([
            {"_id": "old", "user_id": "u1", "created_at": now - timedelta(days=10)},
            {"_id": "old-held", "user_id": "u2", "created_at": now - timedelta(days=10)},
            {"_id": "recent", "user_id": "u1", "created_at": now - timedelta(days=1)},
        ])  # fmt: skip
        platform = client[PLATFORM_DATABASE]
        platform["legal_holds"].insert_one({
            "_id": f"hold-{tenant}", "tenant": tenant, "reason": "litigation",
            "createdAt": now - timedelta(hours=1), "dataClasses": ["messages"],
            "subjectIds": ["u2"], "releasedAt": None,
        })  # fmt: skip
        rules = [
            {"dataClass": "messages", "maxAgeDays": 3},
            {"dataClass": "audit", "maxAgeDays": 90},
        ]
        apply(stack, resource("RetentionPolicy", "default", namespace, {"rules": rules}))
        obj = wait_condition(stack, "retentionpolicy", "default", namespace)
        assert retention_ms(stack, f"tenant.{tenant}.events") == str(3 * DAY_MS)
        assert retention_ms(stack, f"tenant.{tenant}.audit") == str(90 * DAY_MS)
        assert sorted(d["_id"] for d in messages.find({})) == ["old-held", "recent"]
        last = obj["status"]["lastSweep"]
        assert (last["deleted"], last["held"]) == (1, 1)
        log = platform["deletion_logs"].find_one({"_id": last["runId"]})
        assert log is not None
        assert (log["tenant"], log["actor"], log["deleted"], log["held"]) == (
            tenant, "caas-operator", 1, 1,
        )  # fmt: skip
        assert log["policy"]["name"] == "default"
        assert log["policy"]["generation"] == obj["metadata"]["generation"]
    finally:
        client[PLATFORM_DATABASE]["legal_holds"].delete_one({"_id": f"hold-{tenant}"})
        client[PLATFORM_DATABASE]["deletion_logs"].delete_many({"tenant": tenant})
        client.close()


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        (
            {"dataClass": "messages", "maxAgeDays": 7, "minAgeDays": 30},
            "minAgeDays must not exceed maxAgeDays",
        ),
        ({"dataClass": "messages", "maxAgeDays": -1}, "should be greater than or equal to 1"),
        (
            {"dataClass": "messages", "maxAgeDays": 7, "minAgeDays": -2},
            "should be greater than or equal to 0",
        ),
        (
            {"dataClass": "blobs", "maxAgeDays": 7},
            'supported values: "messages", "sessions", "audit", "exports"',
        ),
    ],
)
def test_the_apiserver_refuses_invalid_policies(
    running_platform: Stack, rule: dict[str, object], message: str
) -> None:
    obj = resource("RetentionPolicy", "bad", "default", {"rules": [rule]})
    out = apply(running_platform, obj, check=False, dry_run=True)
    assert "is invalid" in out, out
    assert message in out, out
