"""The audit writer of MongoDB and Kafka: every event is one outbox message for
`platform.audit` whose journal is the tamper-evident log (`caas_platform.security_audit_logs`).

`emit` returns once that message is durable. The relay (every API instance runs one) then appends
the event to its log's hash chain and Merkle tree (`AuditLogStore.append`: at once, Kafka up or
not) and publishes it (once Kafka is up). Both are keyed by the event id, so a retried emit or a
message relayed twice never duplicates an entry.
"""

from collections.abc import Sequence
from typing import Final

from caas_core.adapters.auditlog_store import ENTRIES, AuditLogStore
from caas_core.adapters.outbox import OutboxMessage, OutboxStore
from caas_core.domain.audit import AuditEvent

AUDIT_COLLECTION: Final = ENTRIES
AUDIT_TOPIC: Final = "platform.audit"


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


def chain_audit_journal(*, outbox: OutboxStore, log: AuditLogStore) -> None:
    """Make this process's relay append audit messages to their logs' chains: every process
    that runs a relay must, or it would journal audit messages as plain, unchained documents."""

    async def append(messages: Sequence[OutboxMessage]) -> None:
        await log.append([{**message.payload, "id": message.id} for message in messages])

    outbox.journal_with(AUDIT_COLLECTION, append)
