"""`POST /v1/events`: a tenant back end publishes its own events (X-API-Key with
`events:publish`) into Kafka `events`, from where the dispatcher delivers them to the tenant's
endpoints."""

from datetime import datetime
from typing import Annotated, Any, Final

from fastapi import APIRouter
from pydantic import Field, StringConstraints

from caas_control_plane.deps import EventPublisherDep, EventPublisherKey
from caas_control_plane.problems import (
    PROBLEM_BASE,
    InvalidParam,
    ProblemError,
    validation_problem,
)
from caas_control_plane.schemas import COMMON, CamelModel, problems
from caas_control_plane.services.events import EventFieldError, EventTooLargeError
from caas_core.domain.webhook_events import (
    CUSTOM_TYPE_PATTERN,
    EVENT_ID_PATTERN,
    MAX_DATA_BYTES,
    TENANT_EVENT_TYPES,
    TYPE_MAX_LENGTH,
)

router = APIRouter(prefix="/v1/events", tags=["events"])
_TYPES: Final = list(TENANT_EVENT_TYPES)

EventType = Annotated[
    str,
    StringConstraints(min_length=1, max_length=TYPE_MAX_LENGTH),
    Field(
        description=(
            "A tenant event type of the catalogue (GET /v1/webhooks/event-types, origin "
            "`tenant`) or a custom.<name> type; platform types are refused."
        ),
        json_schema_extra={"anyOf": [{"enum": _TYPES}, {"pattern": CUSTOM_TYPE_PATTERN}]},
        examples=["message.created", "custom.order.paid"],
    ),
]
EventId = Annotated[
    str,
    StringConstraints(min_length=1, max_length=64, pattern=EVENT_ID_PATTERN),
    Field(
        description="Your idempotency key: the event's id (`evt_…`, what receivers dedupe by) is "
        "derived from it and your tenant, so publishing it again gives the same id."
    ),
]


class EventPublish(CamelModel):
    """One event of the caller's tenant."""

    type: EventType
    data: dict[str, Any] = Field(
        default_factory=dict,
        description=(
            f"The event's payload: a JSON object of at most {MAX_DATA_BYTES} bytes. Integers "
            "must lie within ±(2^53-1) and text must be valid Unicode (422 naming `data` "
            "otherwise): every receiver reads them back exactly."
        ),
    )
    id: EventId | None = None


class EventAccepted(CamelModel):
    """The event as queued: durable, published to Kafka at least once under this id."""

    id: str
    type: str
    tenant: str
    timestamp: datetime
    topic: str


@router.post(
    "",
    status_code=202,
    response_model=EventAccepted,
    responses=problems(**COMMON),
    summary="Publish one of the tenant's own events",
)
async def publish_event(
    body: EventPublish, caller: EventPublisherKey, publisher: EventPublisherDep
) -> EventAccepted:
    """Stored durably before the answer (delivered to subscribed endpoints asynchronously)."""
    try:
        event = await publisher.publish(
            tenant=caller.tenant, type_=body.type, data=body.data, event_id=body.id
        )
    except EventTooLargeError as exc:
        raise ProblemError(
            status=413, title=exc.title, detail=exc.detail, type_=f"{PROBLEM_BASE}{exc.code}",
            errors=[InvalidParam(location="body", field=exc.field, detail=exc.detail).model_dump()],
            limitBytes=MAX_DATA_BYTES,
        ) from None  # fmt: skip
    except EventFieldError as exc:
        param = InvalidParam(location="body", field=exc.field, detail=exc.detail)
        raise ProblemError(**validation_problem([param], total=1)) from None
    return EventAccepted(
        id=event.id,
        type=event.type,
        tenant=event.tenant,
        timestamp=event.timestamp,
        topic=event.topic.value,
    )
