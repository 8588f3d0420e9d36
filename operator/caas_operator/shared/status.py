"""Pure: what the namespaced kinds share about Secrets they own and status written the Tenant
handlers' way (only on change, one Event per Ready transition)."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from caas_core.domain.conditions import (
    ConditionStatus,
    DesiredCondition,
    dump_conditions,
    find_condition,
    parse_conditions,
    set_conditions,
)
from caas_core.domain.naming import (
    API_GROUP,
    MANAGED_BY,
    MANAGED_BY_LABEL,
    TENANT_LABEL,
    TenantNames,
)
from caas_operator.shared.conditions import READY
from caas_operator.shared.scope import Failure


@dataclass(frozen=True, slots=True, kw_only=True)
class ObservedSecret:
    """A Secret at the name a resource writes to."""

    owned: bool  # carries a controller ownerReference to this very resource (by uid)
    resource_version: str | None
    annotations: Mapping[str, str]
    data: Mapping[str, str] = field(repr=False)


def object_labels(names: TenantNames, *, kind_label: str, name: str) -> dict[str, str]:
    """Labels of an object made for a namespaced resource."""
    return {
        TENANT_LABEL: names.tenant,
        MANAGED_BY_LABEL: MANAGED_BY,
        f"{API_GROUP}/{kind_label}": name,
    }


def condition(
    type_: str, failure: Failure | None, *, ok_reason: str, ok_message: str
) -> DesiredCondition:
    """A condition that is True with ok_reason, or False with the failure's reason."""
    if failure is None:
        return DesiredCondition(
            type=type_, status=ConditionStatus.TRUE, reason=ok_reason, message=ok_message
        )
    return DesiredCondition(
        type=type_, status=ConditionStatus.FALSE, reason=failure.reason, message=failure.message
    )


def build_status(
    *,
    old_status: Mapping[str, Any] | None,
    conditions: Sequence[DesiredCondition],
    generation: int | None,
    now: datetime,
    fields: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Conditions merged with the old ones (transition times kept), plus the kind's fields."""
    merged = set_conditions(
        parse_conditions((old_status or {}).get("conditions")),
        conditions,
        observed_generation=generation,
        now=now,
    )
    status: dict[str, Any] = {"conditions": dump_conditions(merged)}
    if generation is not None:
        status["observedGeneration"] = generation
    return status | dict(fields or {})


@dataclass(frozen=True, slots=True, kw_only=True)
class KindResult:
    """The status to write, and whether the handler should retry."""

    status: dict[str, Any]
    retry: bool = False
    summary: str = ""


def result(status: dict[str, Any], failures: Sequence[Failure]) -> KindResult:
    """A KindResult: retried when any failure is retryable."""
    return KindResult(
        status=status,
        retry=any(f.retryable for f in failures),
        summary="; ".join(f"{f.reason}: {f.message}" for f in failures),
    )


def failed_result(
    old_status: Mapping[str, Any] | None,
    generation: int | None,
    now: datetime,
    *,
    failure: Failure,
    ok_reason: str,
    fields: Mapping[str, Any] | None = None,
) -> KindResult:
    """The outcome of a reconcile that stopped at `failure`: Ready=False with its reason."""
    status = build_status(
        old_status=old_status,
        conditions=[ready(failure, ok_reason=ok_reason, ok_message="")],
        generation=generation,
        now=now,
        fields=fields,
    )
    return result(status, [failure])


@dataclass(frozen=True, slots=True, kw_only=True)
class ReadyChange:
    """A change of the Ready condition worth announcing as a Kubernetes Event."""

    ready: bool
    reason: str
    message: str


def ready_change(
    old_status: Mapping[str, Any] | None, new_status: Mapping[str, Any]
) -> ReadyChange | None:
    """Ready's new state if its status or reason changed, else None (events are for humans)."""
    old = find_condition(parse_conditions((old_status or {}).get("conditions")), READY)
    new = find_condition(parse_conditions(new_status.get("conditions")), READY)
    if new is None or (old is not None and (old.status, old.reason) == (new.status, new.reason)):
        return None
    return ReadyChange(
        ready=new.status is ConditionStatus.TRUE, reason=new.reason, message=new.message
    )


def ready(failure: Failure | None, *, ok_reason: str, ok_message: str) -> DesiredCondition:
    """The Ready condition."""
    return condition(READY, failure, ok_reason=ok_reason, ok_message=ok_message)
