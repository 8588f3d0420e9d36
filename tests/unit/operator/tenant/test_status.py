"""Outcomes become conditions (Ready, Synced, per backend), drift records and events."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from caas_core.domain.naming import tenant_names
from caas_core.resources.tenant import MAX_DRIFT_RECORDS, DriftBackend
from caas_operator.shared.conditions import (
    KAFKA_READY,
    MONGO_READY,
    READY,
    REDIS_READY,
    SYNCED,
    Finding,
    StepOutcome,
)
from caas_operator.tenant.status import (
    EventType,
    condition_of,
    deletion_status,
    desired_conditions,
    drift_records,
    invalid_status,
    needs_retry,
    paused_status,
    plan_events,
    tenant_status,
)

pytestmark = pytest.mark.unit

NAMES = tenant_names("acme")
T0 = datetime(2024, 1, 1, tzinfo=UTC)


def _ok(condition: str, *actions: str) -> StepOutcome:
    return StepOutcome(condition=condition, ok=True, reason="Fine", message="ok", actions=actions)


def _down(condition: str, reason: str = "Down", *, retryable: bool = True) -> StepOutcome:
    return StepOutcome(
        condition=condition, ok=False, reason=reason, message="broken", retryable=retryable
    )


ALL_OK = [_ok(READY), _ok(MONGO_READY), _ok(KAFKA_READY), _ok(REDIS_READY)]


def _status(outcomes: list[StepOutcome], old: dict[str, Any] | None = None, **kw: Any) -> Any:
    return tenant_status(old_status=old, outcomes=outcomes, generation=1, now=T0, **kw)


def test_all_ok_means_ready_and_synced() -> None:
    ready, synced, *backends = desired_conditions(ALL_OK)
    assert (ready.type, ready.status, ready.reason) == (READY, "True", "Provisioned")
    assert (synced.type, synced.status, synced.reason) == (SYNCED, "True", "ReconcileSuccess")
    assert [c.type for c in backends] == [MONGO_READY, KAFKA_READY, REDIS_READY]


def test_first_failing_backend_names_the_ready_reason_and_synced_lists_all() -> None:
    outcomes = [
        _ok(MONGO_READY),
        _down(REDIS_READY, "RedisUnavailable"),
        _down(KAFKA_READY, "KafkaUnavailable"),
    ]
    ready, synced, *_ = desired_conditions(outcomes)
    assert (ready.status, ready.reason) == ("False", "KafkaUnavailable")
    assert ready.message == "KafkaReady: broken"
    assert (synced.status, synced.reason) == ("False", "ReconcileError")
    assert synced.message == "KafkaReady: KafkaUnavailable; RedisReady: RedisUnavailable"


def test_kubernetes_failure_wins_over_backends() -> None:
    outcomes = [_down(READY, "KubernetesError"), _down(MONGO_READY, "MongoUnavailable")]
    conditions = desired_conditions(outcomes)
    assert conditions[0].reason == "KubernetesError"
    assert conditions[0].message == "broken"
    assert [c.type for c in conditions] == [READY, SYNCED, MONGO_READY]


def test_status_carries_generation_conditions_and_names() -> None:
    owned = {
        "namespace": NAMES.namespace,
        "database": NAMES.database,
        "redisUser": NAMES.redis_user,
        "kafkaUser": NAMES.kafka_user,
    }
    status = _status(ALL_OK, owned=owned, topics=["tenant.acme.events"])
    assert status["observedGeneration"] == 1
    assert {c["observedGeneration"] for c in status["conditions"]} == {1}
    assert [c["type"] for c in status["conditions"]] == [
        READY,
        SYNCED,
        MONGO_READY,
        KAFKA_READY,
        REDIS_READY,
    ]
    assert status["namespace"] == "tenant-acme"
    assert status["database"] == "tenant_acme"
    assert status["redisUser"] == "tenant-acme"
    assert status["kafkaUser"] == "tenant-acme"
    assert status["topics"] == ["tenant.acme.events"]
    assert "drift" not in status
    # Names of objects not found to be ours are never written; unknown topics stay as they were.
    partial = _status(ALL_OK, owned={"namespace": NAMES.namespace})
    assert "database" not in partial
    assert "topics" not in partial


def test_status_keeps_transition_times_of_unchanged_conditions() -> None:
    first = _status(ALL_OK)
    second = tenant_status(
        old_status=first,
        outcomes=[_ok(MONGO_READY), _ok(KAFKA_READY), _down(REDIS_READY)],
        generation=1,
        now=T0 + timedelta(hours=1),
    )
    times = {c["type"]: c["lastTransitionTime"] for c in second["conditions"]}
    assert times[MONGO_READY] == "2024-01-01T00:00:00Z"
    assert times[REDIS_READY] == "2024-01-01T01:00:00Z"
    assert times[READY] == "2024-01-01T01:00:00Z"


def test_a_converged_reconcile_changes_nothing_and_posts_nothing() -> None:
    owned = {"namespace": NAMES.namespace, "database": NAMES.database}
    first = _status(ALL_OK, owned=owned, topics=["tenant.acme.events"])
    again = tenant_status(
        old_status=first,
        outcomes=ALL_OK,
        generation=1,
        now=T0 + timedelta(hours=5),
        owned=owned,
        topics=["tenant.acme.events"],
    )
    assert again == first
    assert plan_events(first, again, ALL_OK) == []


def test_drift_is_recorded_newest_last_and_bounded() -> None:
    finding = Finding(
        backend=DriftBackend.KAFKA,
        object="topic tenant.acme.events",
        found="retention.ms was 1000, want 3600000; corrected",
        corrected=True,
    )
    outcome = StepOutcome(
        condition=KAFKA_READY, ok=True, reason="TopicsReady", message="", findings=(finding,)
    )
    status = _status([outcome])
    assert status["drift"] == [
        {
            "backend": "Kafka",
            "object": "topic tenant.acme.events",
            "found": "retention.ms was 1000, want 3600000; corrected",
            "action": "Corrected",
            "detectedAt": "2024-01-01T00:00:00Z",
        }
    ]
    many = drift_records(status["drift"] * 30, [finding], now=T0)
    assert len(many) == MAX_DRIFT_RECORDS
    events = plan_events(None, status, [outcome])
    drift_events = [e for e in events if e.reason == "DriftCorrected"]
    assert len(drift_events) == 1
    assert drift_events[0].type is EventType.WARNING
    assert "retention.ms was 1000" in drift_events[0].message


def test_actions_become_normal_events_per_backend() -> None:
    outcomes = [
        _ok(READY, "created namespace tenant-acme"),
        _ok(KAFKA_READY, "created topic tenant.acme.events", "allowed TOPIC tenant.acme.* READ"),
        _ok(MONGO_READY),
        _ok(REDIS_READY),
    ]
    events = plan_events(None, _status(outcomes), outcomes)
    reasons = [(e.type, e.reason) for e in events]
    assert (EventType.NORMAL, "KubernetesUpdated") in reasons
    assert (EventType.NORMAL, "KafkaUpdated") in reasons
    assert (EventType.NORMAL, "Provisioned") in reasons
    kafka = next(e for e in events if e.reason == "KafkaUpdated")
    assert kafka.message == "created topic tenant.acme.events; allowed TOPIC tenant.acme.* READ"


def test_backend_failures_are_announced_once() -> None:
    ok = _status(ALL_OK)
    outcomes = [_ok(MONGO_READY), _down(KAFKA_READY, "KafkaUnavailable"), _ok(REDIS_READY)]
    down = tenant_status(old_status=ok, outcomes=outcomes, generation=1, now=T0)
    events = plan_events(ok, down, outcomes)
    assert [(e.type, e.reason) for e in events] == [(EventType.WARNING, "KafkaUnavailable")]
    again = tenant_status(old_status=down, outcomes=outcomes, generation=1, now=T0)
    assert plan_events(down, again, outcomes) == []
    back = tenant_status(old_status=down, outcomes=ALL_OK, generation=1, now=T0)
    assert [(e.type, e.reason) for e in plan_events(down, back, ALL_OK)] == [
        (EventType.NORMAL, "Provisioned")
    ]


def test_pause_keeps_ready_and_says_so_in_synced() -> None:
    ok = _status(ALL_OK)
    paused = paused_status(ok, generation=2, now=T0 + timedelta(minutes=1))
    assert "observedGeneration" not in paused
    synced = condition_of(paused, SYNCED)
    assert synced is not None
    assert (synced.status, synced.reason) == ("False", "Paused")
    assert "platform.caas.io/paused" in synced.message
    ready = condition_of(paused, READY)
    assert ready is not None
    assert ready.status == "True"
    assert [e.reason for e in plan_events(ok, paused)] == ["Paused"]
    resumed = _status(ALL_OK, old=paused)
    assert [e.reason for e in plan_events(paused, resumed, ALL_OK)] == ["Resumed"]


def test_invalid_spec_sets_ready_and_synced_false() -> None:
    status = invalid_status(None, reason="InvalidSpec", message="bad", generation=3, now=T0)
    for kind in (READY, SYNCED):
        condition = condition_of(status, kind)
        assert condition is not None
        assert (condition.status, condition.reason, condition.message) == (
            "False",
            "InvalidSpec",
            "bad",
        )
    assert [e.reason for e in plan_events(None, status)] == ["InvalidSpec"]


def test_blocked_deletion_is_a_warning_once() -> None:
    ok = _status(ALL_OK)
    blocked = deletion_status(ok, blocked_message="hold h1", generation=1, now=T0)
    assert condition_of(blocked, READY).reason == "Deleting"  # type: ignore[union-attr]
    assert condition_of(blocked, SYNCED).reason == "DeletionBlocked"  # type: ignore[union-attr]
    events = plan_events(ok, blocked)
    assert (EventType.WARNING, "DeletionBlocked") in [(e.type, e.reason) for e in events]
    assert plan_events(blocked, deletion_status(blocked, blocked_message="hold h1",
                                                generation=1, now=T0)) == []  # fmt: skip


def test_only_retryable_failures_ask_for_a_retry() -> None:
    assert not needs_retry(ALL_OK)
    assert needs_retry([_down(KAFKA_READY)])
    assert not needs_retry([_down(KAFKA_READY, "TopicDrift", retryable=False)])
