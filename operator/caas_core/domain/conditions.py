"""Status conditions following the Kubernetes API conventions (metav1.Condition)."""

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Final

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.alias_generators import to_camel

# The upstream validation patterns of metav1.Condition, so the CRD rejects what Kubernetes would.
CONDITION_TYPE_PATTERN: Final = (
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
    r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$"
)
CONDITION_REASON_PATTERN: Final = r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$"
# Our own reasons are stricter: one CamelCase word, as the conventions recommend.
_CAMEL_CASE_RE: Final = re.compile(r"^[A-Z][A-Za-z0-9]*$")
_PASCAL_TYPE_RE: Final = re.compile(r"^[A-Z][A-Za-z0-9]*$")
MESSAGE_MAX_LENGTH: Final = 32768


class ConditionStatus(StrEnum):
    """The tri-state status of a condition."""

    TRUE = "True"
    FALSE = "False"
    UNKNOWN = "Unknown"


class Condition(BaseModel):
    """One observation of an aspect of an object's state (the metav1.Condition shape)."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True)

    type: str = Field(
        description="Type of the condition in CamelCase, for example Ready.",
        max_length=316,
        pattern=CONDITION_TYPE_PATTERN,
    )
    status: ConditionStatus = Field(description="Status of the condition: True, False or Unknown.")
    reason: str = Field(
        description="Machine-readable CamelCase reason for the last transition.",
        min_length=1,
        max_length=1024,
        pattern=CONDITION_REASON_PATTERN,
    )
    message: str = Field(
        default="",
        description="Human-readable details about the last transition.",
        max_length=MESSAGE_MAX_LENGTH,
    )
    last_transition_time: datetime = Field(
        description="When the condition last changed from one status to another.",
    )
    observed_generation: int | None = Field(
        default=None,
        description="The .metadata.generation that the condition was set based upon.",
        ge=0,
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class DesiredCondition:
    """A condition as a reconcile wants it, before the transition time is decided."""

    type: str
    status: ConditionStatus
    reason: str
    message: str = ""

    def __post_init__(self) -> None:
        if not _PASCAL_TYPE_RE.fullmatch(self.type):
            raise ValueError(f"condition type {self.type!r} must be PascalCase")
        if not _CAMEL_CASE_RE.fullmatch(self.reason):
            raise ValueError(f"condition reason {self.reason!r} must be one CamelCase word")


def utc_now() -> datetime:
    """Current time at the one-second precision of Kubernetes timestamps."""
    return datetime.now(UTC).replace(microsecond=0)


def parse_conditions(raw: object) -> tuple[Condition, ...]:
    """Read conditions from a status, skipping malformed entries rather than failing a reconcile."""
    if not isinstance(raw, Sequence) or isinstance(raw, str | bytes):
        return ()
    parsed: list[Condition] = []
    for item in raw:
        try:
            parsed.append(Condition.model_validate(item))
        except ValidationError:
            continue
    return tuple(parsed)


def dump_conditions(conditions: Iterable[Condition]) -> list[dict[str, Any]]:
    """Conditions in their Kubernetes JSON form."""
    return [c.model_dump(mode="json", by_alias=True, exclude_none=True) for c in conditions]


def find_condition(conditions: Iterable[Condition], condition_type: str) -> Condition | None:
    """The condition of the given type, if present."""
    return next((c for c in conditions if c.type == condition_type), None)


def set_condition(
    conditions: Sequence[Condition],
    desired: DesiredCondition,
    *,
    observed_generation: int | None,
    now: datetime,
) -> tuple[Condition, ...]:
    """Set one condition, keeping lastTransitionTime unless the status flips; order is kept."""
    previous = find_condition(conditions, desired.type)
    # The transition time records when the status last flipped, not when we last looked.
    keep_time = previous is not None and previous.status == desired.status
    transition = previous.last_transition_time if previous and keep_time else now
    updated = Condition(
        type=desired.type,
        status=desired.status,
        reason=desired.reason,
        message=desired.message[:MESSAGE_MAX_LENGTH],
        last_transition_time=transition.replace(microsecond=0),
        observed_generation=observed_generation,
    )
    if previous is None:
        return (*conditions, updated)
    return tuple(updated if c.type == desired.type else c for c in conditions)


def set_conditions(
    conditions: Sequence[Condition],
    desired: Iterable[DesiredCondition],
    *,
    observed_generation: int | None,
    now: datetime,
) -> tuple[Condition, ...]:
    """Set several conditions at once (see set_condition)."""
    result = tuple(conditions)
    for item in desired:
        result = set_condition(result, item, observed_generation=observed_generation, now=now)
    return result


def status_differs(old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> bool:
    """Tell whether writing `new` would change the status; keys not in `new` are not ours."""
    current = old or {}
    return any(current.get(key) != value for key, value in new.items())
