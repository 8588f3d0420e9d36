"""Pure: which RetentionPolicy governs each data class of a tenant (the oldest naming it).

Shared by the RetentionPolicy reconcile and the Tenant's, which must agree on each topic's
retention.ms instead of overwriting each other on every resync.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from caas_core.domain import retention
from caas_core.domain.retention import PolicyClaim, Rule, conflicts, owners
from caas_operator.shared.scope import Failure


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


def policy_claim(raw: Mapping[str, Any]) -> PolicyClaim | None:
    """Which data classes a listed policy claims; None while it is being deleted."""
    meta = raw.get("metadata") or {}
    if meta.get("deletionTimestamp"):
        return None
    classes = set()
    for rule in (raw.get("spec") or {}).get("rules") or []:
        try:
            classes.add(retention.DataClass(rule.get("dataClass")))
        except ValueError:
            continue
    created = meta.get("creationTimestamp")
    return PolicyClaim(
        name=str(meta.get("name")),
        created_at=created if isinstance(created, datetime) else _parse_time(created),
        data_classes=frozenset(classes),
    )


def _parse_time(raw: object) -> datetime:
    text = str(raw or "9999-12-31T00:00:00Z").replace("Z", "+00:00")
    return datetime.fromisoformat(text)
