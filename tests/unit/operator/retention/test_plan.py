"""Retention decisions: topics, sweep filters under legal holds, conflicts, the deletion log."""

from datetime import UTC, datetime, timedelta

import pytest

from caas_core.domain.legal_holds import LegalHold, SweepExemption, exemption
from caas_core.domain.retention import (
    ClassResult,
    DataClass,
    PolicyClaim,
    PolicyRef,
    Rule,
    SweepRun,
    conflicts,
    deletion_log,
    owners,
    plan_sweep,
    retention_changes,
    sweep_due,
    topic_retention,
)
from caas_core.domain.topics import DAY_MS
from caas_operator.retention.plan import due, last_sweep, plan_topics
from caas_operator.retention.status import conditions, sweep_message, sweep_status
from caas_operator.shared.retention_rules import applicable_rules
from caas_operator.shared.scope import Failure

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
PREFIX = "tenant.acme."
MESSAGES = Rule(data_class=DataClass.MESSAGES, max_age_days=30, min_age_days=7)
SESSIONS = Rule(data_class=DataClass.SESSIONS, max_age_days=90)
AUDIT = Rule(data_class=DataClass.AUDIT, max_age_days=365)


def test_rules_validate_their_ages() -> None:
    for bad in (
        {"max_age_days": 0},
        {"max_age_days": 5, "min_age_days": 6},
        {"max_age_days": 5, "min_age_days": -1},
    ):
        with pytest.raises(ValueError):
            Rule(data_class=DataClass.MESSAGES, **bad)  # type: ignore[arg-type]
    assert MESSAGES.retention_ms == 30 * DAY_MS


def test_topic_retention_only_for_existing_backed_topics() -> None:
    topics = [f"{PREFIX}events", f"{PREFIX}audit", f"{PREFIX}other", "tenant.other.events"]
    wanted = topic_retention([MESSAGES, SESSIONS, AUDIT], topic_prefix=PREFIX, topics=topics)
    assert wanted == {f"{PREFIX}audit": 365 * DAY_MS, f"{PREFIX}events": 30 * DAY_MS}
    live = {f"{PREFIX}audit": str(365 * DAY_MS), f"{PREFIX}events": "604800000"}
    assert retention_changes(wanted, live) == {f"{PREFIX}events": 30 * DAY_MS}
    plan = plan_topics([MESSAGES], topic_prefix=PREFIX, live={}, topics=topics)
    assert plan.changes == plan.wanted == {f"{PREFIX}events": 30 * DAY_MS}


def hold(
    hold_id: str, *, classes: set[str] = frozenset(), subjects: set[str] = frozenset(), **kw: object
) -> LegalHold:  # type: ignore[assignment]
    return LegalHold(
        hold_id=hold_id,
        tenant="acme",
        reason="litigation",
        created_at=NOW - timedelta(days=1),
        data_classes=frozenset(classes),
        subject_ids=frozenset(subjects),
        **kw,
    )  # type: ignore[arg-type]


def test_sweep_filters_delete_expired_records_not_under_hold() -> None:
    holds = [hold("h1", classes={"messages"}, subjects={"u2", "u1"})]
    exemptions = {
        r.data_class: exemption(holds, data_class=r.data_class.value, now=NOW)
        for r in (MESSAGES, SESSIONS)
    }
    messages, sessions = plan_sweep([SESSIONS, MESSAGES], exemptions=exemptions, now=NOW)
    cutoff = NOW - timedelta(days=30)
    assert messages.collection == "messages"
    assert messages.cutoff == cutoff
    assert messages.delete == {"created_at": {"$lt": cutoff}, "user_id": {"$nin": ["u1", "u2"]}}
    assert messages.held == {"created_at": {"$lt": cutoff}, "user_id": {"$in": ["u1", "u2"]}}
    assert messages.holds == ("h1",)
    assert sessions.delete == {"created_at": {"$lt": NOW - timedelta(days=90)}}
    assert sessions.held is None
    assert sessions.holds == ()


def test_a_hold_on_the_whole_class_skips_it_and_released_holds_do_not_count() -> None:
    holds = [hold("all"), hold("old", released_at=NOW - timedelta(hours=1))]
    ex = exemption(holds, data_class="messages", now=NOW)
    (target,) = plan_sweep([MESSAGES], exemptions={DataClass.MESSAGES: ex}, now=NOW)
    assert target.delete is None
    assert target.skipped == "legal hold on every messages record"
    assert target.held == {"created_at": {"$lt": NOW - timedelta(days=30)}}
    assert target.holds == ("all",)


def test_the_audit_log_is_pruned_by_age_as_a_prefix_unless_a_hold_covers_audit_data() -> None:
    (target,) = plan_sweep([AUDIT], exemptions={}, now=NOW)
    assert target.collection is None  # not a tenant collection: the chained log, by prefix
    assert target.delete == {"at": {"$lt": NOW - timedelta(days=365)}}
    assert target.skipped is None
    for held in (
        SweepExemption(whole_class=True, subject_ids=frozenset(), holds=("all",)),
        SweepExemption(whole_class=False, subject_ids=frozenset({"u1"}), holds=("one",)),
    ):
        (target,) = plan_sweep([AUDIT], exemptions={DataClass.AUDIT: held}, now=NOW)
        assert target.delete is None
        assert target.skipped is not None
        assert "whole prefix" in target.skipped


def test_oldest_policy_governs_a_class() -> None:
    claims = [
        PolicyClaim(
            name="late",
            created_at=NOW,
            data_classes=frozenset({DataClass.MESSAGES, DataClass.EXPORTS}),
        ),
        PolicyClaim(
            name="early",
            created_at=NOW - timedelta(days=1),
            data_classes=frozenset({DataClass.MESSAGES}),
        ),
    ]
    owned = owners(claims)
    assert owned == {DataClass.MESSAGES: "early", DataClass.EXPORTS: "late"}
    exports = Rule(data_class=DataClass.EXPORTS, max_age_days=3)
    assert conflicts("late", [MESSAGES, exports], owned) == {"messages": "early"}
    scoped = applicable_rules("late", [MESSAGES, exports], claims)
    assert scoped.rules == (exports,)
    assert scoped.conflict is not None
    assert scoped.conflict.reason == "ConflictingPolicy"
    assert "messages (governed by early)" in scoped.conflict.message
    assert applicable_rules("early", [MESSAGES], claims).conflict is None


def test_sweep_schedule() -> None:
    every = timedelta(hours=1)
    assert sweep_due(last_started=None, last_generation=None, generation=1, interval=every, now=NOW)
    assert sweep_due(last_started=NOW, last_generation=1, generation=2, interval=every, now=NOW)
    assert not sweep_due(
        last_started=NOW - timedelta(minutes=59),
        last_generation=2,
        generation=2,
        interval=every,
        now=NOW,
    )
    assert sweep_due(
        last_started=NOW - every, last_generation=2, generation=2, interval=every, now=NOW
    )
    status = {"lastSweep": {"startedAt": "2025-03-01T11:30:00Z", "generation": 2}}
    assert last_sweep(status) == (NOW - timedelta(minutes=30), 2)
    assert not due(status, generation=2, interval=3600, now=NOW)
    assert due(status, generation=3, interval=3600, now=NOW)
    assert due({"lastSweep": {"startedAt": "garbage"}}, generation=2, interval=3600, now=NOW)


def test_deletion_log_says_who_what_when_how_many() -> None:
    ex = SweepExemption(whole_class=False, subject_ids=frozenset({"u1"}), holds=("h1",))
    (target,) = plan_sweep([MESSAGES], exemptions={DataClass.MESSAGES: ex}, now=NOW)
    run = SweepRun(
        run_id="r1",
        tenant="acme",
        database="tenant_acme",
        policy=PolicyRef(namespace="tenant-acme", name="default", uid="u", generation=3),
        trigger="timer",
        dry_run=False,
        started_at=NOW,
        finished_at=NOW + timedelta(seconds=2),
        results=(ClassResult(target=target, deleted=5, held=2),),
    )
    doc = deletion_log(run)
    assert doc["_id"] == "r1"
    assert doc["actor"] == "caas-operator"
    assert doc["trigger"] == "timer"
    assert doc["policy"] == {
        "namespace": "tenant-acme",
        "name": "default",
        "uid": "u",
        "generation": 3,
    }
    assert (doc["deleted"], doc["held"], doc["status"]) == (5, 2, "completed")
    assert doc["classes"] == [
        {
            "dataClass": "messages",
            "collection": "messages",
            "maxAgeDays": 30,
            "cutoff": NOW - timedelta(days=30),
            "deleted": 5,
            "held": 2,
            "holds": ["h1"],
            "skipped": None,
        }
    ]
    status = sweep_status(run)
    assert status["runId"] == "r1"
    assert status["generation"] == 3
    assert status["deleted"] == 5
    assert sweep_message(status) == "last sweep r1 deleted 5 record(s), kept 2 under legal hold"
    assert sweep_message(None) == "no sweep yet"


def test_conditions_first_failure_names_ready() -> None:
    ok = conditions(kafka=None, kafka_message="k", mongo=None, mongo_message="m", conflict=None)
    assert [(c.type, c.status.value, c.reason) for c in ok] == [
        ("Ready", "True", "Applied"),
        ("KafkaReady", "True", "RetentionSet"),
        ("MongoReady", "True", "Swept"),
    ]
    down = Failure(reason="KafkaUnavailable", message="broker down", retryable=True)
    bad = conditions(kafka=down, kafka_message="", mongo=None, mongo_message="m", conflict=None)
    assert (bad[0].reason, bad[0].message) == ("KafkaUnavailable", "broker down")
