"""`/v1/webhooks`: a tenant back end manages its webhook endpoints (X-API-Key with
`webhooks:read` / `webhooks:write`); `GET /v1/webhooks/event-types` lists the catalogue."""

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Annotated, Final

from fastapi import APIRouter, Path, Response
from pydantic import AfterValidator, BeforeValidator, Field, StrictBool, StringConstraints
from starlette.convertors import StringConvertor, register_url_convertor

from caas_control_plane.deps import ClientDep, WebhookAdminDep, WebhookReaderKey, WebhookWriterKey
from caas_control_plane.problems import (
    PROBLEM_BASE,
    InvalidParam,
    ProblemError,
    validation_problem,
)
from caas_control_plane.schemas import (
    COMMON,
    CamelModel,
    Text,
    json_integer,
    json_number,
    problems,
)
from caas_control_plane.services.webhooks import (
    DELIVERY_FIELDS,
    Delivery,
    WebhookFieldError,
    WebhookOwnerError,
)
from caas_core.domain.webhook_events import (
    ALL_EVENTS,
    CATALOGUE,
    CUSTOM_TYPE_PATTERN,
    EVENT_CATEGORIES,
    TYPE_MAX_LENGTH,
    unknown_event_filters,
)
from caas_core.domain.webhook_records import (
    ENDPOINT_ID_PATTERN,
    MAX_CONCURRENCY,
    MAX_RATE_PER_SECOND,
    MIN_CONCURRENCY,
    WebhookEndpoint,
)
from caas_core.domain.webhook_urls import URL_MAX_LENGTH

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])
_NO_STORE: Final = {"Cache-Control": "no-store"}
MAX_FILTERS: Final = 64
MAX_OVERLAP_SECONDS: Final = 30 * 24 * 3600


class _EndpointSegment(StringConvertor):
    """An endpoint id segment, never the collection's own `event-types`: so
    `PUT /v1/webhooks/event-types` is a 405 naming GET, not an endpoint id refused."""

    regex = r"(?!event-types(?:/|$))[^/]+"


register_url_convertor("webhook_endpoint", _EndpointSegment())
_KNOWN_FILTERS: Final = [
    ALL_EVENTS,
    *(t.name for t in CATALOGUE),
    *(f"{c}.*" for c in EVENT_CATEGORIES),
]


def _known_filter(value: str) -> str:
    if unknown_event_filters([value]):
        raise ValueError(
            "unknown event type: use *, <category>.*, a type listed at "
            "GET /v1/webhooks/event-types, or custom.<name>"
        )
    return value


# Published exactly as enforced: one of the catalogue's filters, or a custom.<name> type.
EventFilter = Annotated[
    str,
    StringConstraints(min_length=1, max_length=TYPE_MAX_LENGTH),
    AfterValidator(_known_filter),
    Field(
        json_schema_extra={"anyOf": [{"enum": _KNOWN_FILTERS}, {"pattern": CUSTOM_TYPE_PATTERN}]},
        examples=["message.created"],
    ),
]
Url = Annotated[
    str,
    StringConstraints(min_length=1, max_length=URL_MAX_LENGTH),
    Field(
        description=(
            "An https URL whose host is a public name or address: loopback, private, "
            "link-local, metadata and single-label hosts are refused, and so is a name "
            "resolving to any such address (checked now and at every delivery)."
        ),
        examples=["https://hooks.example.com/caas"],
    ),
]
EndpointId = Annotated[str, Path(min_length=6, max_length=69, pattern=ENDPOINT_ID_PATTERN)]
Filters = Annotated[list[EventFilter], Field(min_length=1, max_length=MAX_FILTERS)]
OverlapSeconds = Annotated[
    int,
    Field(ge=0, le=MAX_OVERLAP_SECONDS),
    BeforeValidator(json_integer),
]

MaxConcurrency = Annotated[
    int,
    Field(
        ge=MIN_CONCURRENCY,
        le=MAX_CONCURRENCY,
        description=(
            "Attempts in flight to this endpoint per dispatcher process; null: the "
            "dispatcher's default (CAAS_WEBHOOK_MAX_CONCURRENCY, 32)."
        ),
        examples=[4],
    ),
    BeforeValidator(json_integer),
]
RateLimit = Annotated[
    float,
    Field(
        gt=0,
        le=MAX_RATE_PER_SECOND,
        description=(
            "Attempts per second to this endpoint per dispatcher process; null: the "
            "dispatcher's default (CAAS_WEBHOOK_RATE_LIMIT_PER_SECOND, unlimited)."
        ),
        examples=[50],
    ),
    BeforeValidator(json_number),
]
Ordered = Annotated[
    StrictBool,
    Field(
        description=(
            "true: events with the same key (the tenant) are delivered one at a time, in "
            "order, a failing one holding back the next; null or false: unordered."
        )
    ),
]


class WebhookPublic(CamelModel):
    """An endpoint, never its secret."""

    id: str
    url: str
    event_types: list[str]
    enabled: bool = Field(description="The owner's switch: false pauses delivery.")
    description: str | None = None
    managed_by: str = Field(description="`api` (REST) or `operator` (a Webhook resource).")
    resource: str | None = Field(default=None, description="namespace/name of its Webhook.")
    secret_fingerprint: str = Field(description="Identifies the current signing secret.")
    previous_secret_expires_at: datetime | None = Field(
        default=None,
        description="After a rotation: when the replaced secret stops (or stopped) signing.",
    )
    disabled_at: datetime | None = Field(
        default=None, description="Set when delivery was stopped (410, sustained failure)."
    )
    disabled_reason: str | None = None
    max_concurrency: MaxConcurrency | None = None
    rate_limit_per_second: RateLimit | None = None
    ordered: Ordered | None = None
    created_at: datetime
    updated_at: datetime


class WebhookCreated(WebhookPublic):
    """A new endpoint: `secret` (`whsec_…`) is shown this once and never again."""

    secret: str


class WebhookCreate(CamelModel):
    """A new REST-owned endpoint."""

    url: Url
    event_types: Filters
    description: Text | None = None
    enabled: bool = True
    max_concurrency: MaxConcurrency | None = None
    rate_limit_per_second: RateLimit | None = None
    ordered: Ordered | None = None


class WebhookUpdate(CamelModel):
    """Fields to change; omitted ones stay (`description: null` removes it; `null` for a
    delivery option restores the dispatcher's default). Any change resumes delivery to an
    endpoint the dispatcher disabled."""

    url: Url | None = None
    event_types: Filters | None = None
    description: Text | None = None
    enabled: bool | None = None
    max_concurrency: MaxConcurrency | None = None
    rate_limit_per_second: RateLimit | None = None
    ordered: Ordered | None = None


class SecretRotate(CamelModel):
    """How long the replaced secret keeps signing (default: the server's setting)."""

    overlap_seconds: OverlapSeconds | None = None


class SecretRotated(CamelModel):
    """The new current secret, shown this once; the previous one signs until the time given."""

    id: str
    secret: str
    secret_fingerprint: str
    previous_secret_expires_at: datetime | None


class WebhookList(CamelModel):
    """The tenant's endpoints."""

    items: list[WebhookPublic]


class EventTypePublic(CamelModel):
    """One declared event type."""

    type: str
    category: str
    origin: str = Field(
        description="`platform`: emitted by the platform (platform.events); `tenant`: "
        "published by the tenant with POST /v1/events (events)."
    )
    description: str


class EventTypeList(CamelModel):
    """The catalogue, and how custom types are spelled."""

    items: list[EventTypePublic]
    filters: list[str] = Field(description="Every filter value an endpoint may use.")
    custom_type_pattern: str = Field(description="Tenant-defined types (`custom.order.paid`).")


def _public(endpoint: WebhookEndpoint) -> WebhookPublic:
    previous = sorted(s.expires_at for s in endpoint.secrets if s.expires_at is not None)
    return WebhookPublic(
        id=endpoint.endpoint_id,
        url=endpoint.url,
        event_types=list(endpoint.event_types),
        enabled=endpoint.enabled,
        description=endpoint.description,
        managed_by=endpoint.managed_by.value,
        resource=None
        if endpoint.source is None
        else f"{endpoint.source.namespace}/{endpoint.source.name}",
        secret_fingerprint=endpoint.secret_fingerprint,
        previous_secret_expires_at=previous[-1] if previous else None,
        disabled_at=endpoint.disabled_at,
        disabled_reason=endpoint.disabled_reason,
        max_concurrency=endpoint.max_concurrency,
        rate_limit_per_second=endpoint.rate_limit_per_second,
        ordered=endpoint.ordered,
        created_at=endpoint.created_at,
        updated_at=endpoint.updated_at,
    )


@contextmanager
def _refusals() -> Iterator[None]:
    """The service's refusals as problems naming the field (422) or the owner (409)."""
    try:
        yield
    except WebhookFieldError as exc:
        param = InvalidParam(location="body", field=exc.field, detail=exc.detail)
        raise ProblemError(**validation_problem([param], total=1), reason=exc.reason) from None
    except WebhookOwnerError as exc:
        raise ProblemError(
            status=409, title=exc.title, detail=exc.detail, type_=f"{PROBLEM_BASE}{exc.code}",
            owner=exc.owner,
        ) from None  # fmt: skip


_OWNED: Final = "Managed by a Webhook resource (the problem's `owner` names it)"


@router.get("/event-types", response_model=EventTypeList, responses=problems(**COMMON))
async def event_types(caller: WebhookReaderKey) -> EventTypeList:
    """Every event type an endpoint can subscribe to (the one catalogue)."""
    del caller  # authenticated and rate-limited like every route; the list is the same for all
    return EventTypeList(
        items=[
            EventTypePublic(
                type=t.name, category=t.category, origin=t.origin.value, description=t.description
            )
            for t in CATALOGUE
        ],
        filters=_KNOWN_FILTERS,
        custom_type_pattern=CUSTOM_TYPE_PATTERN,
    )


@router.get("", response_model=WebhookList, responses=problems(**COMMON))
async def list_webhooks(caller: WebhookReaderKey, admin: WebhookAdminDep) -> WebhookList:
    """Every endpoint of the caller's tenant, both writers'."""
    return WebhookList(items=[_public(e) for e in await admin.list(caller.tenant)])


@router.post(
    "",
    status_code=201,
    response_model=WebhookCreated,
    responses=problems(**COMMON),
    summary="Register an endpoint (the signing secret is returned once)",
)
async def create_webhook(
    body: WebhookCreate,
    caller: WebhookWriterKey,
    admin: WebhookAdminDep,
    client: ClientDep,
    response: Response,
) -> WebhookCreated:
    """The URL is checked now (and again at every delivery); the plan caps how many exist."""
    with _refusals():
        created = await admin.create(
            caller=caller, url=body.url, event_types=body.event_types,
            description=body.description, enabled=body.enabled, client=client,
            delivery=Delivery(
                max_concurrency=body.max_concurrency,
                rate_limit_per_second=body.rate_limit_per_second, ordered=body.ordered,
            ),
        )  # fmt: skip
    response.headers.update(_NO_STORE)
    return WebhookCreated(**_public(created.endpoint).model_dump(), secret=created.secret)


@router.get(
    "/{endpoint_id:webhook_endpoint}",
    response_model=WebhookPublic,
    responses=problems(**COMMON, _404="No such endpoint"),
)
async def get_webhook(
    endpoint_id: EndpointId, caller: WebhookReaderKey, admin: WebhookAdminDep
) -> WebhookPublic:
    """One endpoint of the caller's tenant."""
    return _public(await admin.get(caller.tenant, endpoint_id))


@router.put(
    "/{endpoint_id:webhook_endpoint}",
    response_model=WebhookPublic,
    responses=problems(**COMMON, _404="No such endpoint", _409=_OWNED),
)
async def update_webhook(
    endpoint_id: EndpointId,
    body: WebhookUpdate,
    caller: WebhookWriterKey,
    admin: WebhookAdminDep,
    client: ClientDep,
) -> WebhookPublic:
    """Change a REST-owned endpoint."""
    with _refusals():
        endpoint = await admin.update(
            caller=caller, endpoint_id=endpoint_id, url=body.url, event_types=body.event_types,
            description=body.description,
            clear_description="description" in body.model_fields_set and body.description is None,
            enabled=body.enabled, client=client,
            delivery=Delivery(
                max_concurrency=body.max_concurrency,
                rate_limit_per_second=body.rate_limit_per_second, ordered=body.ordered,
            ),
            delivery_fields={f for f in DELIVERY_FIELDS if f in body.model_fields_set},
        )  # fmt: skip
    return _public(endpoint)


@router.delete(
    "/{endpoint_id:webhook_endpoint}",
    status_code=204,
    responses=problems(**COMMON, _404="No such endpoint", _409=_OWNED),
)
async def delete_webhook(
    endpoint_id: EndpointId, caller: WebhookWriterKey, admin: WebhookAdminDep, client: ClientDep
) -> Response:
    """Remove a REST-owned endpoint; nothing more is delivered to it."""
    with _refusals():
        await admin.delete(caller=caller, endpoint_id=endpoint_id, client=client)
    return Response(status_code=204)


@router.post(
    "/{endpoint_id:webhook_endpoint}/rotate-secret",
    response_model=SecretRotated,
    responses=problems(**COMMON, _404="No such endpoint", _409=_OWNED),
    summary="Rotate the signing secret (the new one is returned once)",
)
async def rotate_secret(
    endpoint_id: EndpointId,
    *,
    caller: WebhookWriterKey,
    admin: WebhookAdminDep,
    client: ClientDep,
    response: Response,
    body: SecretRotate | None = None,
) -> SecretRotated:
    """Deliveries are signed with both secrets until the replaced one's window ends."""
    seconds = None if body is None else body.overlap_seconds
    with _refusals():
        rotated = await admin.rotate_secret(
            caller=caller, endpoint_id=endpoint_id, client=client,
            overlap=None if seconds is None else timedelta(seconds=seconds),
        )  # fmt: skip
    response.headers.update(_NO_STORE)
    return SecretRotated(
        id=rotated.endpoint.endpoint_id,
        secret=rotated.secret,
        secret_fingerprint=rotated.endpoint.secret_fingerprint,
        previous_secret_expires_at=rotated.previous_expires_at,
    )
