"""Legal holds: records under a hold survive retention sweeps and tenant data deletion.

A hold is scoped to a tenant and optionally narrowed to data classes (messages, sessions, audit,
exports, …) and to subjects (user ids). An empty scope means *everything* of that kind: a hold
with no data classes and no subjects freezes all of the tenant's data.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

COLLECTION: Final = "legal_holds"


@dataclass(frozen=True, slots=True, kw_only=True)
class LegalHold:
    """One hold placed on some of a tenant's data."""

    hold_id: str
    tenant: str
    reason: str
    created_at: datetime
    data_classes: frozenset[str] = frozenset()
    subject_ids: frozenset[str] = frozenset()
    released_at: datetime | None = None

    def active(self, *, now: datetime) -> bool:
        """Whether the hold is in force at `now`."""
        return self.created_at <= now and (self.released_at is None or self.released_at > now)

    def covers(self, *, data_class: str, subject_id: str | None) -> bool:
        """Whether a record of `data_class` about `subject_id` is under this hold.

        A record with no subject is covered only by holds that name no subjects.
        """
        class_covered = not self.data_classes or data_class in self.data_classes
        if not class_covered:
            return False
        if not self.subject_ids:
            return True
        return subject_id is not None and subject_id in self.subject_ids

    def freezes_class(self, data_class: str) -> bool:
        """Whether every record of the class is held (no subject narrowing)."""
        return not self.subject_ids and (not self.data_classes or data_class in self.data_classes)


@dataclass(frozen=True, slots=True, kw_only=True)
class SweepExemption:
    """What a retention sweep of one data class must leave alone."""

    whole_class: bool
    subject_ids: frozenset[str]
    holds: tuple[str, ...]


def exemption(holds: Iterable[LegalHold], *, data_class: str, now: datetime) -> SweepExemption:
    """Combine the active holds that touch `data_class` into what a sweep must skip."""
    relevant = [
        h
        for h in holds
        if h.active(now=now) and (not h.data_classes or data_class in h.data_classes)
    ]
    subjects: frozenset[str] = frozenset().union(*(h.subject_ids for h in relevant))
    return SweepExemption(
        whole_class=any(h.freezes_class(data_class) for h in relevant),
        subject_ids=subjects,
        holds=tuple(sorted(h.hold_id for h in relevant)),
    )


def blocking_tenant_deletion(holds: Iterable[LegalHold], *, now: datetime) -> tuple[LegalHold, ...]:
    """Active holds that forbid dropping the tenant's data (any active hold does)."""
    return tuple(sorted((h for h in holds if h.active(now=now)), key=lambda h: h.hold_id))


def to_document(hold: LegalHold) -> dict[str, Any]:
    """The Mongo document of a hold (`_id` is the hold id)."""
    return {
        "_id": hold.hold_id,
        "tenant": hold.tenant,
        "reason": hold.reason,
        "createdAt": hold.created_at,
        "dataClasses": sorted(hold.data_classes),
        "subjectIds": sorted(hold.subject_ids),
        "releasedAt": hold.released_at,
    }


def from_document(doc: Mapping[str, Any]) -> LegalHold:
    """A hold from its Mongo document."""
    return LegalHold(
        hold_id=doc["_id"],
        tenant=doc["tenant"],
        reason=doc["reason"],
        created_at=doc["createdAt"],
        data_classes=frozenset(doc.get("dataClasses", ())),
        subject_ids=frozenset(doc.get("subjectIds", ())),
        released_at=doc.get("releasedAt"),
    )
