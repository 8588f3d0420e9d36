"""Pure: the status of a RetentionPolicy (conditions, last sweep, topics)."""

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final

from caas_core.domain.conditions import ConditionStatus, DesiredCondition
from caas_core.domain.retention import SweepRun
from caas_operator.shared.conditions import KAFKA_READY, MONGO_READY, READY
from caas_operator.shared.scope import Failure

APPLIED: Final = "Applied"
TOPICS_CONFIGURED: Final = "RetentionSet"
SWEPT: Final = "Swept"


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
