"""The audit writer of MongoDB and Kafka: every event is one outbox message for
`platform.audit` whose journal is `caas_platform.security_audit_logs`.

`emit` returns once that message is durable, and the relay records the event in the log (at once,
Kafka up or not) and publishes it (once Kafka is up). Both are keyed by the event id, so a
retried emit never duplicates an event. Tamper evidence (a hash chain, the compliance work)
belongs where the log is written: in the relay, with one chain writer at a time, since every API
instance runs a relay.
"""

from typing import Final

from caas_core.adapters.outbox import OutboxMessage, OutboxStore
from caas_core.domain.audit import AuditEvent

AUDIT_COLLECTION: Final = "security_audit_logs"
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
