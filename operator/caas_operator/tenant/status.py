"""Pure Tenant status: outcomes of a reconcile become conditions, drift records and events."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Final

from caas_core.domain.conditions import (
    Condition,
    ConditionStatus,
    DesiredCondition,
    dump_conditions,
    find_condition,
    parse_conditions,
    set_conditions,
)
from caas_core.domain.naming import PAUSED_ANNOTATION
from caas_core.resources.tenant import MAX_DRIFT_RECORDS, DriftAction
from caas_operator.shared.conditions import (
    BACKEND_CONDITIONS,
    PROVISIONED,
    READY,
    SYNCED,
    Finding,
    StepOutcome,
)

RECONCILE_SUCCESS: Final = "ReconcileSuccess"
RECONCILE_ERROR: Final = "ReconcileError"
PAUSED: Final = "Paused"
DELETING: Final = "Deleting"
DELETION_BLOCKED: Final = "DeletionBlocked"
_EVENT_MESSAGE_MAX: Final = 1000


class EventType(StrEnum):
    """Kubernetes Event types."""

    NORMAL = "Normal"
    WARNING = "Warning"


@dataclass(frozen=True, slots=True, kw_only=True)
class EventSpec:
    """An Event to post about the Tenant."""

    type: EventType
    reason: str
    message: str


def desired_conditions(outcomes: Sequence[StepOutcome]) -> tuple[DesiredCondition, ...]:
    """Ready, Synced and the per-backend conditions; Ready's reason is the first failure's."""
    by_type = {o.condition: o for o in outcomes}
    # Steps that report straight into Ready (Kubernetes, reading state) come first: the
    # backends depend on them, so their failure is the one to explain.
    ordered = [o for o in outcomes if o.condition not in BACKEND_CONDITIONS]
    ordered += [by_type[c] for c in BACKEND_CONDITIONS if c in by_type]
    backend = [
        DesiredCondition(
            type=o.condition,
            status=ConditionStatus.TRUE if o.ok else ConditionStatus.FALSE,
            reason=o.reason,
            message=o.message,
        )
        for o in ordered
        if o.condition != READY
    ]
    failed = [o for o in ordered if not o.ok]
    if not failed:
        ready = DesiredCondition(
            type=READY,
            status=ConditionStatus.TRUE,
            reason=PROVISIONED,
            message="Namespace, credentials, database, topics and access are in place",
        )
        synced = DesiredCondition(
            type=SYNCED,
            status=ConditionStatus.TRUE,
            reason=RECONCILE_SUCCESS,
            message="The spec is applied to every backend",
        )
    else:
        first = failed[0]
        label = "" if first.condition == READY else f"{first.condition}: "
        ready = DesiredCondition(
            type=READY,
            status=ConditionStatus.FALSE,
            reason=first.reason,
            message=f"{label}{first.message}",
        )
        synced = DesiredCondition(
            type=SYNCED,
            status=ConditionStatus.FALSE,
            reason=RECONCILE_ERROR,
            message="; ".join(
                f"{o.condition if o.condition != READY else 'Kubernetes'}: {o.reason}"
                for o in failed
            ),
        )
    return (ready, synced, *backend)


def drift_records(
    old: object, findings: Sequence[Finding], *, now: datetime
) -> list[dict[str, Any]]:
    """The status.drift list with new findings appended, keeping the newest records only."""
    existing = [r for r in old if isinstance(r, Mapping)] if isinstance(old, list) else []
    added = [
        {
            "backend": f.backend.value,
            "object": f.object,
            "found": f.found,
            "action": (DriftAction.CORRECTED if f.corrected else DriftAction.REPORTED).value,
            "detectedAt": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        for f in findings
    ]
    return [dict(r) for r in existing + added][-MAX_DRIFT_RECORDS:]


def tenant_status(
    *,
    old_status: Mapping[str, Any] | None,
    outcomes: Sequence[StepOutcome],
    generation: int | None,
    now: datetime,
    owned: Mapping[str, str] | None = None,
    topics: Sequence[str] | None = None,
) -> dict[str, Any]:
    """The status to write: conditions merged with the old ones, names, and drift.

    `owned` names the backend objects this reconcile found to be the tenant's (status keys
    namespace, database, redisUser, kafkaUser); names of objects someone else owns are never
    written, since the status is the operator's record of what it made. `topics` None (Kafka
    unreachable) leaves the listed topics as they were.
    """
    old = old_status or {}
    conditions = set_conditions(
        parse_conditions(old.get("conditions")),
        desired_conditions(outcomes),
        observed_generation=generation,
        now=now,
    )
    status: dict[str, Any] = {"conditions": dump_conditions(conditions)}
    if generation is not None:
        status["observedGeneration"] = generation
    status |= dict(owned or {})
    if topics is not None:
        status["topics"] = list(topics)
    findings = [f for o in outcomes for f in o.findings]
    if findings:
        status["drift"] = drift_records(old.get("drift"), findings, now=now)
    return status


def with_condition(
    old_status: Mapping[str, Any] | None,
    desired: Sequence[DesiredCondition],
    *,
    generation: int | None,
    now: datetime,
    observed: bool = True,
) -> dict[str, Any]:
    """Only the given conditions changed (pause, deletion); every other condition is kept.

    `observed=False` leaves status.observedGeneration alone: the spec was not acted on.
    """
    conditions = set_conditions(
        parse_conditions((old_status or {}).get("conditions")),
        desired,
        observed_generation=generation,
        now=now,
    )
    status: dict[str, Any] = {"conditions": dump_conditions(conditions)}
    if generation is not None and observed:
        status["observedGeneration"] = generation
    return status


def paused_status(
    old_status: Mapping[str, Any] | None, *, generation: int | None, now: datetime
) -> dict[str, Any]:
    """Synced=False/Paused; Ready keeps reporting the last known state of the backends."""
    paused = DesiredCondition(
        type=SYNCED,
        status=ConditionStatus.FALSE,
        reason=PAUSED,
        message=(
            f"Reconciliation is paused by the annotation {PAUSED_ANNOTATION}=true: no backend "
            "is changed, drift is neither checked nor corrected, deletion waits; remove the "
            "annotation to resume"
        ),
    )
    return with_condition(old_status, [paused], generation=generation, now=now, observed=False)


def invalid_status(
    old_status: Mapping[str, Any] | None,
    *,
    reason: str,
    message: str,
    generation: int | None,
    now: datetime,
) -> dict[str, Any]:
    """Ready and Synced False with the validation problem; backend conditions left as they were."""
    desired = [
        DesiredCondition(type=READY, status=ConditionStatus.FALSE, reason=reason, message=message),
        DesiredCondition(type=SYNCED, status=ConditionStatus.FALSE, reason=reason, message=message),
    ]
    return with_condition(old_status, desired, generation=generation, now=now)


def deletion_status(
    old_status: Mapping[str, Any] | None,
    *,
    blocked_message: str | None,
    generation: int | None,
    now: datetime,
) -> dict[str, Any]:
    """Ready=False/Deleting, and Synced=False/DeletionBlocked while a legal hold keeps the data."""
    desired = [
        DesiredCondition(
            type=READY,
            status=ConditionStatus.FALSE,
            reason=DELETING,
            message="The Tenant is being deleted; access to every backend is revoked",
        )
    ]
    if blocked_message is not None:
        desired.append(
            DesiredCondition(
                type=SYNCED,
                status=ConditionStatus.FALSE,
                reason=DELETION_BLOCKED,
                message=blocked_message,
            )
        )
    return with_condition(old_status, desired, generation=generation, now=now)


def condition_of(status: Mapping[str, Any] | None, condition_type: str) -> Condition | None:
    """One condition of a status, if present."""
    return find_condition(parse_conditions((status or {}).get("conditions")), condition_type)


def _changed(old: Condition | None, new: Condition | None) -> bool:
    if new is None:
        return False
    return old is None or (old.status, old.reason) != (new.status, new.reason)


def _clip(text: str) -> str:
    return text if len(text) <= _EVENT_MESSAGE_MAX else text[: _EVENT_MESSAGE_MAX - 1] + "…"


_ACTION_REASONS: Final = {
    READY: "KubernetesUpdated",
    "MongoReady": "MongoUpdated",
    "KafkaReady": "KafkaUpdated",
    "RedisReady": "RedisUpdated",
}


def plan_events(
    old_status: Mapping[str, Any] | None,
    new_status: Mapping[str, Any],
    outcomes: Sequence[StepOutcome] = (),
) -> list[EventSpec]:
    """Events for what changed: actions taken, drift, failures and recoveries, Ready and pause.

    A reconcile that changes nothing yields no events, so converged tenants stay quiet.
    """
    events: list[EventSpec] = []
    for outcome in outcomes:
        if outcome.actions:
            events.append(
                EventSpec(
                    type=EventType.NORMAL,
                    reason=_ACTION_REASONS.get(outcome.condition, "Updated"),
                    message=_clip("; ".join(outcome.actions)),
                )
            )
        corrected = [f.describe() for f in outcome.findings if f.corrected]
        reported = [f.describe() for f in outcome.findings if not f.corrected]
        if corrected:
            events.append(
                EventSpec(
                    type=EventType.WARNING,
                    reason="DriftCorrected",
                    message=_clip("; ".join(corrected)),
                )
            )
        if reported:
            events.append(
                EventSpec(
                    type=EventType.WARNING,
                    reason="DriftDetected",
                    message=_clip("; ".join(reported) + " (needs a human)"),
                )
            )
    backend_failures = 0
    for condition_type in BACKEND_CONDITIONS:
        old = condition_of(old_status, condition_type)
        new = condition_of(new_status, condition_type)
        if new is not None and new.status is ConditionStatus.FALSE and _changed(old, new):
            backend_failures += 1
            events.append(
                EventSpec(
                    type=EventType.WARNING,
                    reason=new.reason,
                    message=_clip(f"{condition_type}: {new.message}"),
                )
            )
    old_ready, new_ready = condition_of(old_status, READY), condition_of(new_status, READY)
    if _changed(old_ready, new_ready) and new_ready is not None:
        ok = new_ready.status is ConditionStatus.TRUE
        # A backend failure was just announced; Ready repeating it adds nothing.
        if ok or not backend_failures:
            events.append(
                EventSpec(
                    # Deleting was asked for: worth a note, not a warning.
                    type=EventType.NORMAL
                    if ok or new_ready.reason == DELETING
                    else EventType.WARNING,
                    reason=new_ready.reason,
                    message=_clip(new_ready.message),
                )
            )
    old_synced, new_synced = condition_of(old_status, SYNCED), condition_of(new_status, SYNCED)
    if _changed(old_synced, new_synced) and new_synced is not None:
        if new_synced.reason in {PAUSED, DELETION_BLOCKED}:
            events.append(
                EventSpec(
                    type=EventType.WARNING
                    if new_synced.reason == DELETION_BLOCKED
                    else EventType.NORMAL,
                    reason=new_synced.reason,
                    message=_clip(new_synced.message),
                )
            )
        elif old_synced is not None and old_synced.reason == PAUSED:
            events.append(
                EventSpec(
                    type=EventType.NORMAL,
                    reason="Resumed",
                    message=f"Reconciliation resumed ({PAUSED_ANNOTATION} removed)",
                )
            )
    return events


def needs_retry(outcomes: Sequence[StepOutcome]) -> bool:
    """Whether any failure is worth retrying."""
    return any(not o.ok and o.retryable for o in outcomes)


def summary(outcomes: Sequence[StepOutcome]) -> str:
    """The failures in one line (handler errors and logs)."""
    return "; ".join(f"{o.condition}: {o.reason}: {o.message}" for o in outcomes if not o.ok)
