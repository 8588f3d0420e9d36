"""The one audit-writer interface for security-relevant actions, and its MongoDB/outbox writer.

Every event is one outbox message for `platform.audit` whose journal is
`caas_platform.security_audit_logs`: `emit` returns once that message is durable, and the relay
records the event in the log (at once, Kafka up or not) and publishes it (once Kafka is up). Both
are keyed by the event id, so a retried emit never duplicates an event. Tamper evidence (a hash
chain, the compliance work) belongs where the log is written: in the relay, with one chain
writer at a time, since every API instance runs a relay.
"""

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Final, Protocol

from caas_core.adapters.outbox import OutboxMessage, OutboxStore

AUDIT_COLLECTION: Final = "security_audit_logs"
AUDIT_TOPIC: Final = "platform.audit"


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


class MongoAuditWriter:
    """Audit events as `platform.audit` outbox messages journaled in the audit log."""

    def __init__(self, *, outbox: OutboxStore) -> None:
        self._outbox = outbox

    async def emit(self, event: AuditEvent) -> None:
        """Store the event's outbox message (group-committed with the others in flight)."""
        message = OutboxMessage.new(
            topic=AUDIT_TOPIC,
            payload=event.to_dict(),
            key=event.tenant or "platform",
            id=event.id,
            now=event.at,
            journal=AUDIT_COLLECTION,
        )
        await self._outbox.enqueue([message])


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
