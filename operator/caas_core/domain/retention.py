"""Retention decisions: which topics get which retention.ms, what a sweep deletes, its log.

Pure: the operator gathers the rules, the tenant's topics and the legal holds' exemptions, asks
this module what to do, and does it. TTL indexes are not used for retention: they cannot honour
legal holds, and a sweep leaves a log of what it deleted (a TTL deletion leaves none).
"""

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Final

from caas_core.domain.legal_holds import SweepExemption
from caas_core.domain.topics import DAY_MS

DELETION_LOG_COLLECTION: Final = "deletion_logs"
ACTOR: Final = "caas-operator"
MIN_MAX_AGE_DAYS: Final = 1
MAX_AGE_DAYS_LIMIT: Final = 36500  # a century: anything longer means "keep"


class DataClass(StrEnum):
    """Kinds of tenant data a retention rule can govern."""

    MESSAGES = "messages"
    SESSIONS = "sessions"
    AUDIT = "audit"
    EXPORTS = "exports"


@dataclass(frozen=True, slots=True, kw_only=True)
class Backing:
    """Where a data class is stored."""

    # Collection in the tenant's database swept by age; None when Mongo holds none of it.
    collection: str | None
    age_field: str = "created_at"
    # The field naming the person a record is about, matched against legal holds' subjects.
    subject_field: str = "user_id"
    # Tenant topics (tenant.<name>.<suffix>) whose retention.ms follows the rule.
    topic_suffixes: tuple[str, ...] = ()
    # Stored as the tenant's hash-chained audit log: pruned as a verifiable prefix (its
    # oldest entries replaced by a signed checkpoint), never by a filter.
    chained_log: bool = False


BACKINGS: Final[Mapping[DataClass, Backing]] = {
    DataClass.MESSAGES: Backing(collection="messages", topic_suffixes=("messages", "events")),
    DataClass.SESSIONS: Backing(collection="sessions"),
    # The tenant's audit log (caas_platform.security_audit_logs) is pruned as a prefix replaced
    # by its checkpoint (caas_core.auditlog.prune), so what is kept still verifies.
    DataClass.AUDIT: Backing(
        collection=None, age_field="at", topic_suffixes=("audit",), chained_log=True
    ),
    DataClass.EXPORTS: Backing(collection="exports"),
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Rule:
    """One data class's retention: delete after max_age_days, never before min_age_days."""

    data_class: DataClass
    max_age_days: int
    min_age_days: int | None = None

    def __post_init__(self) -> None:
        if not MIN_MAX_AGE_DAYS <= self.max_age_days <= MAX_AGE_DAYS_LIMIT:
            raise ValueError(
                f"maxAgeDays must be between {MIN_MAX_AGE_DAYS} and {MAX_AGE_DAYS_LIMIT}"
            )
        if self.min_age_days is not None and not 0 <= self.min_age_days <= self.max_age_days:
            raise ValueError("minAgeDays must be between 0 and maxAgeDays")

    @property
    def max_age(self) -> timedelta:
        """The maximum age as a duration."""
        return timedelta(days=self.max_age_days)

    @property
    def retention_ms(self) -> int:
        """The maximum age as Kafka's retention.ms."""
        return self.max_age_days * DAY_MS


# --- Several policies in one namespace ---------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class PolicyClaim:
    """Which data classes one RetentionPolicy names."""

    name: str
    created_at: datetime
    data_classes: frozenset[DataClass]


def owners(claims: Iterable[PolicyClaim]) -> dict[DataClass, str]:
    """For each data class, the policy that governs it: the oldest to name it (ties: by name)."""
    result: dict[DataClass, str] = {}
    for claim in sorted(claims, key=lambda c: (c.created_at, c.name)):
        for data_class in sorted(claim.data_classes):
            result.setdefault(data_class, claim.name)
    return result


def conflicts(policy: str, rules: Iterable[Rule], owned: Mapping[DataClass, str]) -> dict[str, str]:
    """Data classes of `policy` that an older policy governs: data class -> that policy."""
    return {
        r.data_class.value: owned[r.data_class]
        for r in rules
        if owned.get(r.data_class, policy) != policy
    }


# --- Kafka -------------------------------------------------------------------------------------


def topic_retention(
    rules: Iterable[Rule], *, topic_prefix: str, topics: Iterable[str]
) -> dict[str, int]:
    """retention.ms per existing tenant topic that some rule's data class is backed by."""
    existing = set(topics)
    wanted: dict[str, int] = {}
    for rule in rules:
        for suffix in BACKINGS[rule.data_class].topic_suffixes:
            name = f"{topic_prefix}{suffix}"
            if name in existing:
                wanted[name] = rule.retention_ms
    return dict(sorted(wanted.items()))


def retention_changes(wanted: Mapping[str, int], live: Mapping[str, str]) -> dict[str, int]:
    """The topics whose live retention.ms differs from the wanted value."""
    return {name: ms for name, ms in wanted.items() if live.get(name) != str(ms)}


# --- Sweeps ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class SweepTarget:
    """What a sweep does for one data class."""

    data_class: DataClass
    collection: str | None
    cutoff: datetime
    max_age_days: int
    # Records matching `delete` go; None when nothing may be deleted (see `skipped`).
    delete: Mapping[str, Any] | None
    # Records older than the cutoff kept only because a hold covers them (for the log's count).
    held: Mapping[str, Any] | None
    holds: tuple[str, ...] = ()
    skipped: str | None = None


def plan_sweep(
    rules: Iterable[Rule], *, exemptions: Mapping[DataClass, SweepExemption], now: datetime
) -> tuple[SweepTarget, ...]:
    """One target per rule: the filter of records past their maximum age and not held."""
    targets: list[SweepTarget] = []
    for rule in sorted(rules, key=lambda r: r.data_class):
        backing = BACKINGS[rule.data_class]
        cutoff = now - rule.max_age
        exemption = exemptions.get(
            rule.data_class, SweepExemption(whole_class=False, subject_ids=frozenset(), holds=())
        )
        common: dict[str, Any] = {
            "data_class": rule.data_class,
            "collection": backing.collection,
            "cutoff": cutoff,
            "max_age_days": rule.max_age_days,
            "holds": exemption.holds,
        }
        expired = {backing.age_field: {"$lt": cutoff}}
        if backing.chained_log:
            held = exemption.whole_class or bool(exemption.subject_ids)
            targets.append(
                SweepTarget(
                    **common,
                    delete=None if held else expired,
                    held=None,
                    skipped="a legal hold covers audit data; the audit log is pruned only as "
                    "a whole prefix"
                    if held
                    else None,
                )
            )
        elif backing.collection is None:
            targets.append(
                SweepTarget(**common, delete=None, held=None, skipped="not stored in MongoDB")
            )
        elif exemption.whole_class:
            targets.append(
                SweepTarget(
                    **common,
                    delete=None,
                    held=expired,
                    skipped=f"legal hold on every {rule.data_class.value} record",
                )
            )
        elif exemption.subject_ids:
            subjects = sorted(exemption.subject_ids)
            targets.append(
                SweepTarget(
                    **common,
                    delete={**expired, backing.subject_field: {"$nin": subjects}},
                    held={**expired, backing.subject_field: {"$in": subjects}},
                )
            )
        else:
            targets.append(SweepTarget(**common, delete=expired, held=None))
    return tuple(targets)


@dataclass(frozen=True, slots=True, kw_only=True)
class ClassResult:
    """What a sweep did for one data class."""

    target: SweepTarget
    deleted: int = 0
    held: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class PolicyRef:
    """The RetentionPolicy resource a run applied."""

    namespace: str
    name: str
    uid: str
    generation: int | None


@dataclass(frozen=True, slots=True, kw_only=True)
class SweepRun:
    """One deletion run, as logged in caas_platform.deletion_logs."""

    run_id: str
    tenant: str
    database: str
    policy: PolicyRef
    trigger: str
    dry_run: bool
    started_at: datetime
    finished_at: datetime
    results: Sequence[ClassResult] = field(default_factory=tuple)
    error: str | None = None

    @property
    def deleted(self) -> int:
        """Records deleted (or, in a dry run, that would have been)."""
        return sum(r.deleted for r in self.results)

    @property
    def held(self) -> int:
        """Records past their age kept because of legal holds."""
        return sum(r.held for r in self.results)


def deletion_log(run: SweepRun) -> dict[str, Any]:
    """The deletion_logs document: who deleted what, when, how many, under which policy."""
    return {
        "_id": run.run_id,
        "kind": "retention_sweep",
        "actor": ACTOR,
        "trigger": run.trigger,
        "tenant": run.tenant,
        "database": run.database,
        "policy": {
            "namespace": run.policy.namespace,
            "name": run.policy.name,
            "uid": run.policy.uid,
            "generation": run.policy.generation,
        },
        "dryRun": run.dry_run,
        "startedAt": run.started_at,
        "finishedAt": run.finished_at,
        "status": "failed" if run.error else "completed",
        "error": run.error,
        "deleted": run.deleted,
        "held": run.held,
        "classes": [
            {
                "dataClass": r.target.data_class.value,
                "collection": r.target.collection,
                "maxAgeDays": r.target.max_age_days,
                "cutoff": r.target.cutoff,
                "deleted": r.deleted,
                "held": r.held,
                "holds": list(r.target.holds),
                "skipped": r.target.skipped,
            }
            for r in run.results
        ],
    }


def sweep_due(
    *,
    last_started: datetime | None,
    last_generation: int | None,
    generation: int | None,
    interval: timedelta,
    now: datetime,
) -> bool:
    """A sweep is due when none ran, the policy changed since, or the interval has passed."""
    if last_started is None or last_generation != generation:
        return True
    return now - last_started >= interval
