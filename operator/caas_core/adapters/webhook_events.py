"""Webhook events into the outbox: each event is one outbox message (its id the event's id, its
Kafka key the tenant, its topic `platform.events` or `events`), so it reaches Kafka at least
once even while Kafka is down (an API instance's relay publishes the outbox)."""

from collections.abc import Sequence
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from caas_core.adapters.outbox import OutboxMessage, OutboxStore
from caas_core.domain.webhook_events import WebhookEvent


def event_message(event: WebhookEvent) -> OutboxMessage:
    """The outbox message publishing `event` (the envelope is the payload)."""
    return OutboxMessage.new(
        topic=event.topic.value,
        payload=event.envelope(),
        key=event.key,
        id=event.id,
        now=event.timestamp,
    )


class OutboxEvents:
    """Publishes events through the outbox (the `Events` port of the control plane)."""

    def __init__(self, outbox: OutboxStore) -> None:
        self._outbox = outbox

    async def publish(self, events: Sequence[WebhookEvent]) -> None:
        """Store the events durably; an id stored before is kept as it is (idempotent)."""
        await self._outbox.enqueue([event_message(e) for e in events])


async def publish_events(
    database: AsyncDatabase[dict[str, Any]], events: Sequence[WebhookEvent]
) -> None:
    """Queue events in the platform database's outbox (the operator, which runs no relay)."""
    await OutboxEvents(OutboxStore(database)).publish(events)
