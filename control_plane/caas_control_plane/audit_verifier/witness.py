"""Kafka as a second witness: a `platform.audit` message against the entry logged for it.

The relay publishes each audit event as it appends it, and Kafka keeps what it received. An
entry rewritten in MongoDB after publication — even with the chain after it recomputed, which no
hash check can tell from the original — no longer says what its message says. Compared: the
fields the entry holds (id, log, time, action, outcome, actor, target); personal data is in the
entry only as a salted commitment and is not compared.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from caas_control_plane.audit_verifier.core import Inconsistency, Problem
from caas_core.auditlog.append import log_of
from caas_core.auditlog.entry import Entry


def _pair(value: Any) -> tuple[str | None, str | None]:
    """(type, id) as the log records them (append.plan_append's reading of the event)."""
    if not isinstance(value, Mapping):
        return None, None
    kind, ident = value.get("type"), value.get("id")
    return (None if kind is None else str(kind), None if ident is None else str(ident))


def witnessed(message: Mapping[str, Any]) -> dict[str, Any]:
    """The entry fields a message states, as the log records them; raises ValueError when the
    message is not an audit event."""
    at = datetime.fromisoformat(str(message["at"]))
    if at.tzinfo is None:
        raise ValueError("the message's time has no timezone")
    actor_type, actor_id = _pair(message.get("actor"))
    target_type, target_id = _pair(message.get("target"))
    tenant = message.get("tenant")
    return {
        "id": str(message["id"]),
        "log": log_of(None if tenant is None else str(tenant)),
        "at": at,
        "action": str(message["action"]),
        "outcome": str(message["outcome"]),
        "actor": (actor_type or "anonymous", actor_id),
        "target": (target_type, target_id),
    }


def logged(entry: Entry) -> dict[str, Any]:
    """The same fields of a logged entry."""
    return {
        "id": entry.id,
        "log": entry.log,
        "at": entry.at,
        "action": entry.action,
        "outcome": entry.outcome,
        "actor": (entry.actor_type, entry.actor_id),
        "target": (entry.target_type, entry.target_id),
    }


def check_witness(message: Mapping[str, Any], entry: Entry) -> Problem | None:
    """Whether the logged entry says what its Kafka message said (a problem names the fields)."""
    try:
        stated = witnessed(message)
    except (KeyError, TypeError, ValueError) as exc:
        return Problem(
            log=entry.log,
            seq=entry.seq,
            kind=Inconsistency.WITNESS_MISMATCH,
            detail=f"the message of event {entry.id} is not an audit event: {exc}",
        )
    found = logged(entry)
    differ = sorted(name for name, value in stated.items() if found[name] != value)
    if not differ:
        return None
    return Problem(
        log=entry.log,
        seq=entry.seq,
        kind=Inconsistency.WITNESS_MISMATCH,
        detail=f"the entry differs from its message on platform.audit in: {', '.join(differ)}",
    )
