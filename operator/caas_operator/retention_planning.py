"""Pure RetentionPolicy reconcile: which rules apply, topic changes, whether a sweep is due,
and the conditions that follow."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from caas_core.domain.conditions import ConditionStatus, DesiredCondition
from caas_core.domain.retention import (
    PolicyClaim,
    Rule,
    SweepRun,
    conflicts,
    owners,
    retention_changes,
    sweep_due,
    topic_retention,
)
from caas_operator.namespaced import Failure
from caas_operator.planning import KAFKA_READY, MONGO_READY, READY

APPLIED: Final = "Applied"
TOPICS_CONFIGURED: Final = "RetentionSet"
SWEPT: Final = "Swept"


@dataclass(frozen=True, slots=True, kw_only=True)
class RetentionScope:
    """Which of the policy's rules it may apply, and the conflicts that keep the others out."""

    rules: tuple[Rule, ...]
    conflict: Failure | None


def applicable_rules(
    name: str, rules: Sequence[Rule], claims: Sequence[PolicyClaim]
) -> RetentionScope:
    """Rules for data classes no older policy in the namespace governs."""
    owned = owners(claims)
    taken = conflicts(name, rules, owned)
    kept = tuple(r for r in rules if r.data_class.value not in taken)
    if not taken:
        return RetentionScope(rules=kept, conflict=None)
    detail = ", ".join(f"{cls} (governed by {owner})" for cls, owner in sorted(taken.items()))
    return RetentionScope(
        rules=kept,
        conflict=Failure(
            reason="ConflictingPolicy",
            message=f"an older RetentionPolicy already governs {detail}; those rules are ignored",
        ),
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class TopicPlan:
    """retention.ms wanted per tenant topic, and the topics whose live value differs."""

    wanted: Mapping[str, int]
    changes: Mapping[str, int]


def plan_topics(
    rules: Sequence[Rule], *, topic_prefix: str, live: Mapping[str, str], topics: Sequence[str]
) -> TopicPlan:
    """What to set on the tenant's topics."""
    wanted = topic_retention(rules, topic_prefix=topic_prefix, topics=topics)
    return TopicPlan(wanted=wanted, changes=retention_changes(wanted, live))


def last_sweep(status: Mapping[str, Any] | None) -> tuple[datetime | None, int | None]:
    """(startedAt, generation) of the last sweep recorded in the status."""
    raw = (status or {}).get("lastSweep")
    if not isinstance(raw, Mapping):
        return None, None
    started = raw.get("startedAt")
    generation = raw.get("generation")
    when = None
    if isinstance(started, str):
        try:
            when = datetime.fromisoformat(started.replace("Z", "+00:00"))
        except ValueError:
            when = None
    return when, generation if isinstance(generation, int) else None


def due(
    status: Mapping[str, Any] | None, *, generation: int | None, interval: float, now: datetime
) -> bool:
    """Whether this reconcile should sweep."""
    started, swept_generation = last_sweep(status)
    return sweep_due(
        last_started=started,
        last_generation=swept_generation,
        generation=generation,
        interval=timedelta(seconds=interval),
        now=now,
    )


def _iso(moment: datetime) -> str:
    return moment.replace(microsecond=0).isoformat().replace("+00:00", "Z")


def sweep_status(run: SweepRun) -> dict[str, Any]:
    """status.lastSweep for a finished run."""
    return {
        "runId": run.run_id,
        "startedAt": _iso(run.started_at),
        "finishedAt": _iso(run.finished_at),
        "generation": run.policy.generation,
        "deleted": run.deleted,
        "held": run.held,
        "dryRun": run.dry_run,
    }


def sweep_message(last: Mapping[str, Any] | None) -> str:
    """One line about the last sweep, from status.lastSweep (the same text on every reconcile)."""
    if not isinstance(last, Mapping):
        return "no sweep yet"
    verb = "would delete" if last.get("dryRun") else "deleted"
    held = last.get("held") or 0
    kept = f", kept {held} under legal hold" if held else ""
    return f"last sweep {last.get('runId')} {verb} {last.get('deleted', 0)} record(s){kept}"


def conditions(
    *,
    kafka: Failure | None,
    kafka_message: str,
    mongo: Failure | None,
    mongo_message: str,
    conflict: Failure | None,
) -> tuple[DesiredCondition, ...]:
    """Ready (first failure: conflict, Kafka, MongoDB) plus KafkaReady and MongoReady."""
    kafka_condition = _condition(KAFKA_READY, kafka, TOPICS_CONFIGURED, kafka_message)
    mongo_condition = _condition(MONGO_READY, mongo, SWEPT, mongo_message)
    first = conflict or kafka or mongo
    if first is None:
        ready = DesiredCondition(
            type=READY,
            status=ConditionStatus.TRUE,
            reason=APPLIED,
            message=f"{kafka_message}; {mongo_message}",
        )
    else:
        ready = _condition(READY, first, APPLIED, "")
    return ready, kafka_condition, mongo_condition


def _condition(type_: str, failure: Failure | None, reason: str, message: str) -> DesiredCondition:
    if failure is None:
        return DesiredCondition(
            type=type_, status=ConditionStatus.TRUE, reason=reason, message=message
        )
    return DesiredCondition(
        type=type_, status=ConditionStatus.FALSE, reason=failure.reason, message=failure.message
    )


def topics_status(wanted: Mapping[str, int]) -> list[dict[str, Any]]:
    """status.topics."""
    return [{"name": name, "retentionMs": ms} for name, ms in sorted(wanted.items())]
