"""The one audit-writer interface for security-relevant actions and the event it records.

Where events are written is an adapter's business (`caas_core.adapters.audit`: an outbox message
journaled in `caas_platform.security_audit_logs`); services see only `AuditWriter`.
"""

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Protocol


class Outcome(StrEnum):
    """How the audited action ended."""

    SUCCESS = "success"
    FAILURE = "failure"  # refused: bad credentials, reuse detected, …
    ERROR = "error"  # could not complete


@dataclass(frozen=True, slots=True, kw_only=True)
class Actor:
    """Who acted: a user (by tenant and id), an API key, the platform itself, or unknown."""

    type: str  # "user", "api_key", "system", "anonymous"
    id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditEvent:
    """One security-relevant action. Never holds secrets: ids and hashes' prefixes only."""

    action: str  # dotted verb, e.g. "auth.token.issued"
    outcome: Outcome
    actor: Actor
    tenant: str | None = None
    target_type: str | None = None
    target_id: str | None = None
    ip: str | None = None
    user_agent: str | None = None
    request_id: str | None = None
    details: Mapping[str, Any] = field(default_factory=dict)
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (the Kafka payload and the stored document's body)."""
        return {
            "id": self.id,
            "at": self.at.isoformat(),
            "action": self.action,
            "outcome": self.outcome.value,
            "actor": {"type": self.actor.type, "id": self.actor.id},
            "tenant": self.tenant,
            "target": {"type": self.target_type, "id": self.target_id},
            "ip": self.ip,
            "userAgent": self.user_agent,
            "requestId": self.request_id,
            "details": dict(self.details),
        }


class AuditWriter(Protocol):
    """Records security events; `emit` returns once the event is durable."""

    async def emit(self, event: AuditEvent) -> None:
        """Store the event durably (and schedule its publication)."""


class MemoryAuditWriter:
    """Keeps events in a list: for unit tests and tools without a database."""

    def __init__(self) -> None:
        self.events: list[AuditEvent] = []

    async def emit(self, event: AuditEvent) -> None:
        """Remember the event."""
        self.events.append(event)

    def actions(self) -> list[str]:
        """The actions emitted so far, in order."""
        return [event.action for event in self.events]
