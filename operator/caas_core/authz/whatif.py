"""What-if: which recent decisions a proposed change would flip, before it is applied.

A change (policies added, replaced or removed; optionally a new entity graph for role
assignments and hierarchy edits) is compiled into a candidate version, and the recent decision
log is replayed against it. Decisions are cheap (microseconds), so replaying thousands of
records is an interactive check, and nothing of the candidate is kept.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from caas_core.authz.entities import EntityGraph
from caas_core.authz.evaluate import Decision, Request, authorize
from caas_core.authz.index import CompiledPolicySet, compile_policy_set
from caas_core.authz.policy import Policy


@dataclass(frozen=True, slots=True)
class Change:
    """Policies to add or replace (by id) and ids to remove."""

    upsert: tuple[Policy, ...] = ()
    remove: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Record:
    """One logged decision: the request and what was answered."""

    request: Request
    allowed: bool
    determining: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Flip:
    """A logged decision the change would turn around, and the decision it would become."""

    record: Record
    after: Decision


def apply_change(policies: Iterable[Policy], change: Change) -> list[Policy]:
    """The policy list after `change` (order kept; replaced policies stay where they were)."""
    removed = set(change.remove)
    replacing = {policy.id: policy for policy in change.upsert}
    kept = [replacing.pop(p.id, p) for p in policies if p.id not in removed]
    return [*kept, *replacing.values()]


def propose(current: CompiledPolicySet, change: Change, *, version: str) -> CompiledPolicySet:
    """The candidate version: `current` with `change` applied, compiled (and so validated)."""
    return compile_policy_set(
        tenant=current.tenant,
        version=version,
        policies=apply_change(current.policies.values(), change),
        actions=current.actions,
    )


def flips(
    *, proposed: CompiledPolicySet, entities: EntityGraph, records: Iterable[Record]
) -> list[Flip]:
    """Every record whose answer (allow/deny) differs under `proposed`, in log order."""
    out = []
    for record in records:
        after = authorize(policy_set=proposed, entities=entities, request=record.request)
        if after.allowed != record.allowed:
            out.append(Flip(record=record, after=after))
    return out


def what_if(
    *,
    current: CompiledPolicySet,
    entities: EntityGraph,
    change: Change,
    records: Iterable[Record],
    proposed_entities: EntityGraph | None = None,
) -> list[Flip]:
    """The decisions of `records` that `change` (and `proposed_entities`, if given) would flip."""
    proposed = propose(current, change, version=f"{current.version}+what-if")
    return flips(proposed=proposed, entities=proposed_entities or entities, records=records)
