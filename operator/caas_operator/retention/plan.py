"""Pure RetentionPolicy planning: topic changes and whether a sweep is due. Which rules apply is
`caas_operator.shared.retention_rules` (the Tenant's reconcile needs it too)."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from caas_core.domain.retention import Rule, retention_changes, sweep_due, topic_retention


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
