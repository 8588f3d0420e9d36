"""`/v1/webhooks/{id}/logs|stats|replay|recover` and `/v1/webhooks/dlq/replay`: a tenant's view
of its deliveries and the ways to send messages again (X-API-Key: `webhooks:read` to look,
`webhooks:write` to resend)."""

from datetime import datetime
from typing import Annotated, Any, Final

from fastapi import APIRouter, Path, Query, Response
from pydantic import Field

from caas_control_plane.deps import (
    ClientDep,
    WebhookDeliveriesDep,
    WebhookReaderKey,
    WebhookWriterKey,
)
from caas_control_plane.schemas import COMMON, CamelModel, Instant, problems
from caas_control_plane.services.webhook_deliveries import MAX_PAGE, Resent
from caas_core.domain.webhook_events import EVENT_ID_PATTERN
from caas_core.domain.webhook_records import ENDPOINT_ID_PATTERN

router = APIRouter(prefix="/v1/webhooks", tags=["webhook deliveries"])
_NO_STORE: Final = {"Cache-Control": "no-store"}
EndpointId = Annotated[str, Path(min_length=6, max_length=69, pattern=ENDPOINT_ID_PATTERN)]
EventId = Annotated[str, Path(min_length=1, max_length=64, pattern=EVENT_ID_PATTERN)]
_RESEND = problems(
    **COMMON,
    _404="No such endpoint (or no attempt of that event)",
    _409="The endpoint does not deliver (disabled): enable it first",
)


class AttemptPublic(CamelModel):
    """One delivery attempt."""

    id: str = Field(description="`<webhook-id>:<round>:<attempt>`")
    webhook_id: str = Field(description="The `webhook-id` header: the same for every attempt")
    event_id: str
    event_type: str
    round: int = Field(description="1, then one more per replay or recover")
    attempt: int = Field(description="Attempts of the round, from 1")
    state: str = Field(description="delivered, retrying, dead or endpoint_disabled")
    status: int | None = Field(description="The receiver's HTTP status, if it answered")
    failure: str | None = Field(description="Why there was no status (timeout, connect, …)")
    detail: str | None
    latency_ms: float
    response: str | None = Field(description="The response body's first 1,024 characters")
    next_retry_at: datetime | None
    replayed_at: datetime | None
    at: datetime


class AttemptPage(CamelModel):
    """Attempts, newest first; `nextCursor` fetches the next page (null: the last one)."""

    items: list[AttemptPublic]
    next_cursor: str | None


class StatsPublic(CamelModel):
    """An endpoint's last 24 hours."""

    since: datetime
    attempts: int
    delivered: int
    retrying: int
    dead: int
    success_rate: float | None = Field(description="delivered / attempts; null: no attempts")
    delivering: bool = Field(description="False while disabled (by its owner or a 410)")
    last_attempts: list[AttemptPublic]


class RecoverRequest(CamelModel):
    """Which failed messages to send again."""

    since: Instant = Field(description="Messages that died at or after this instant")


class DlqReplayRequest(CamelModel):
    """Which dead letters to send again."""

    since: Instant = Field(description="Messages that died at or after this instant")
    endpoint_id: str | None = Field(
        default=None, pattern=ENDPOINT_ID_PATTERN, description="Only this endpoint's"
    )


class ResentPublic(CamelModel):
    """What was scheduled (delivered by the dispatcher within moments)."""

    scheduled: int
    event_ids: list[str]
    more: bool = Field(description="More remain: call again")


def _attempt(doc: dict[str, Any]) -> AttemptPublic:
    return AttemptPublic(
        id=doc["_id"], webhook_id=doc["webhookId"], event_id=doc["eventId"],
        event_type=doc["eventType"], round=doc["round"], attempt=doc["attempt"],
        state=doc["state"], status=doc.get("status"), failure=doc.get("failure"),
        detail=doc.get("detail"), latency_ms=doc.get("latencyMs", 0.0),
        response=doc.get("response"), next_retry_at=doc.get("nextRetryAt"),
        replayed_at=doc.get("replayedAt"), at=doc["at"],
    )  # fmt: skip


def _resent(resent: Resent) -> ResentPublic:
    return ResentPublic(scheduled=resent.scheduled, event_ids=resent.event_ids, more=resent.more)


@router.get(
    "/{endpoint_id}/logs",
    response_model=AttemptPage,
    responses=problems(**COMMON, _400="A cursor this API did not issue", _404="No such endpoint"),
)
async def logs(
    endpoint_id: EndpointId,
    *,
    caller: WebhookReaderKey,
    deliveries: WebhookDeliveriesDep,
    response: Response,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
    cursor: Annotated[str | None, Query(min_length=1, max_length=512)] = None,
    event_id: Annotated[
        str | None, Query(alias="eventId", min_length=1, max_length=64, pattern=EVENT_ID_PATTERN)
    ] = None,
) -> AttemptPage:
    """The endpoint's delivery attempts, newest first."""
    page = await deliveries.logs(
        caller.tenant, endpoint_id, limit=limit, cursor=cursor, event_id=event_id
    )
    response.headers.update(_NO_STORE)
    return AttemptPage(items=[_attempt(d) for d in page.items], next_cursor=page.next_cursor)


@router.get(
    "/{endpoint_id}/stats",
    response_model=StatsPublic,
    responses=problems(**COMMON, _404="No such endpoint"),
)
async def stats(
    endpoint_id: EndpointId, caller: WebhookReaderKey, deliveries: WebhookDeliveriesDep
) -> StatsPublic:
    """Success rate and attempts by state over the last 24 hours, and the last attempts."""
    found = await deliveries.stats(caller.tenant, endpoint_id)
    return StatsPublic(
        since=found.since, attempts=found.attempts, delivered=found.delivered,
        retrying=found.retrying, dead=found.dead, success_rate=found.success_rate,
        delivering=found.delivering, last_attempts=[_attempt(d) for d in found.last],
    )  # fmt: skip


@router.post(
    "/{endpoint_id}/replay/{event_id}",
    status_code=202,
    response_model=ResentPublic,
    responses=_RESEND,
)
async def replay(
    endpoint_id: EndpointId,
    event_id: EventId,
    caller: WebhookWriterKey,
    deliveries: WebhookDeliveriesDep,
    client: ClientDep,
) -> ResentPublic:
    """Send one message to the endpoint again (same `webhook-id`, a new round of attempts)."""
    resent = await deliveries.replay(
        caller=caller, endpoint_id=endpoint_id, event_id=event_id, client=client
    )
    return _resent(resent)


@router.post(
    "/{endpoint_id}/recover",
    status_code=202,
    response_model=ResentPublic,
    responses=_RESEND,
)
async def recover(
    endpoint_id: EndpointId,
    body: RecoverRequest,
    caller: WebhookWriterKey,
    deliveries: WebhookDeliveriesDep,
    client: ClientDep,
) -> ResentPublic:
    """Send every message that failed at the endpoint since `since` again (once each)."""
    resent = await deliveries.recover(
        caller=caller, endpoint_id=endpoint_id, since=body.since, client=client
    )
    return _resent(resent)


@router.post("/dlq/replay", status_code=202, response_model=ResentPublic, responses=_RESEND)
async def replay_dead_letters(
    body: DlqReplayRequest,
    caller: WebhookWriterKey,
    deliveries: WebhookDeliveriesDep,
    client: ClientDep,
) -> ResentPublic:
    """Send the tenant's dead letters (internal.dlq) since `since` again, to every endpoint
    that delivers now (or to the one named)."""
    resent = await deliveries.replay_dead_letters(
        caller=caller, since=body.since, endpoint_id=body.endpoint_id, client=client
    )
    return _resent(resent)
