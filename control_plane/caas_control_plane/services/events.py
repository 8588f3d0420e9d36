"""Events into Kafka: a tenant's own (`POST /v1/events` → `events`) and the platform's
(`platform.events`), both through the outbox (durable before the call returns, published at
least once with the event's id, also while Kafka is down).

The platform's events are derived from audited actions at the audit seam (`EventingAuditWriter`
wraps the audit writer; the table is `caas_core.domain.platform_events`), so every service that
audits an action also emits its event without knowing about webhooks.
"""

import asyncio
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, ClassVar

from caas_control_plane.ports import Events
from caas_control_plane.services.errors import ServiceError
from caas_core.domain.audit import AuditEvent, AuditWriter
from caas_core.domain.platform_events import platform_event_for
from caas_core.domain.webhook_events import (
    MAX_DATA_BYTES,
    EventTypeError,
    WebhookEvent,
    data_problem,
    data_size,
    tenant_event,
)

Clock = Callable[[], datetime]


class EventFieldError(ServiceError):
    """A published event's field is refused: 422 naming it."""

    status: ClassVar[int] = 422
    code: ClassVar[str] = "invalid-event"
    title: ClassVar[str] = "Invalid event"

    def __init__(self, detail: str, *, field: str) -> None:
        super().__init__(detail)
        self.field = field


class EventTooLargeError(EventFieldError):
    """The event's `data` is larger than the limit (stated in the detail)."""

    status: ClassVar[int] = 413
    code: ClassVar[str] = "event-too-large"
    title: ClassVar[str] = "Event too large"


class EventPublisher:
    """Publishes a tenant's own events."""

    def __init__(self, *, events: Events, clock: Clock) -> None:
        self._events = events
        self._clock = clock

    async def publish(
        self, *, tenant: str, type_: str, data: Mapping[str, Any], event_id: str | None
    ) -> WebhookEvent:
        """Queue one event of the caller's tenant; the tenant comes from its key, never the
        body (a tenant cannot publish into another's stream)."""
        problem = data_problem(data)
        if problem is not None:
            raise EventFieldError(problem, field="data")
        size = data_size(data)
        if size > MAX_DATA_BYTES:
            raise EventTooLargeError(
                f"data is {size} bytes serialised as JSON; the limit is {MAX_DATA_BYTES} bytes",
                field="data",
            )
        try:
            event = tenant_event(type_, tenant=tenant, data=data, now=self._clock(), id=event_id)
        except EventTypeError as exc:
            raise EventFieldError(str(exc), field="type") from None
        await self._events.publish([event])
        return event


class EventingAuditWriter:
    """An AuditWriter that also queues the platform event of an audited action (if it has
    one); both are outbox inserts, sent together so they share one group commit."""

    def __init__(self, audit: AuditWriter, events: Events) -> None:
        self._audit = audit
        self._events = events

    async def emit(self, event: AuditEvent) -> None:
        """Record the audit event and, when the action is a platform event, queue it."""
        platform = platform_event_for(event)
        if platform is None:
            await self._audit.emit(event)
            return
        await asyncio.gather(self._audit.emit(event), self._events.publish([platform]))
