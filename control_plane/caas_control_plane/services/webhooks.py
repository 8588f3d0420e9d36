"""`/v1/webhooks`: the REST writer (WebhookWriter.API) of the endpoint store shared with Webhook
resources.

Endpoints of a Webhook resource are listed and readable here but refused for change (409 naming
the resource), as the operator refuses REST endpoints. A URL passes the same checks as the
resource's (`validate_webhook_url`: https, a public name, every resolved address public). The
signing secret is generated here, returned once (create, rotation) and stored only sealed.
Every change is audited; nothing is written when a check fails. Delivery options
(`maxConcurrency`, `rateLimitPerSecond`, `ordered`) are checked against the bounds the
dispatcher accepts (`webhook_records`); None leaves the dispatcher's default.
"""

from collections.abc import Awaitable, Callable, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, ClassVar, Final, Literal

from caas_control_plane.ports import WebhookEndpoints
from caas_control_plane.services.context import ClientInfo
from caas_control_plane.services.errors import (
    ConflictError,
    NotFoundError,
    QuotaExceededError,
    ServiceError,
)
from caas_core.domain.api_key_records import ApiKeyRecord
from caas_core.domain.audit import Actor, AuditWriter, Outcome
from caas_core.domain.webhook_records import (
    EndpointChangedError,
    ForeignEndpointError,
    WebhookEndpoint,
    WebhookQuotaError,
    WebhookWriter,
    delivery_option_errors,
    fingerprint,
    new_endpoint_id,
    new_signing_secret,
    unknown_event_filters,
)
from caas_core.domain.webhook_secrets import SecretSealer, StoredSecret, current_secret, rotate
from caas_core.domain.webhook_urls import (
    IPNetwork,
    Resolver,
    WebhookUrlError,
    validate_webhook_url,
)
from caas_core.resources.tenant import PlanSpec

Clock = Callable[[], datetime]
PlanOf = Callable[[str], Awaitable[PlanSpec]]
DeliveryField = Literal["max_concurrency", "rate_limit_per_second", "ordered"]
DELIVERY_FIELDS: Final[tuple[DeliveryField, ...]] = (
    "max_concurrency",
    "rate_limit_per_second",
    "ordered",
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Delivery:
    """An endpoint's delivery options (None: the dispatcher's default)."""

    max_concurrency: int | None = None
    rate_limit_per_second: float | None = None
    ordered: bool | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class WebhookPolicy:
    """How long a replaced secret keeps signing; whether http URLs and which private networks
    pass (development only: the settings refuse both elsewhere, as for the dispatcher)."""

    overlap: timedelta
    allow_insecure_http: bool = False
    allow_networks: tuple[IPNetwork, ...] = ()  # development's local receivers only


class WebhookFieldError(ServiceError):
    """A field of the request is refused (a URL, an event filter): 422 naming the field."""

    status: ClassVar[int] = 422
    code: ClassVar[str] = "invalid-webhook"
    title: ClassVar[str] = "Invalid webhook"

    def __init__(self, detail: str, *, field: str, reason: str | None = None) -> None:
        super().__init__(detail)
        self.field = field
        self.reason = reason


class WebhookOwnerError(ConflictError):
    """The endpoint belongs to a Webhook resource: change it there (409 naming the owner)."""

    def __init__(self, detail: str, *, owner: str) -> None:
        super().__init__(detail)
        self.owner = owner


@dataclass(frozen=True, slots=True, kw_only=True)
class WithSecret:
    """An endpoint and its new signing secret, shown this once."""

    endpoint: WebhookEndpoint
    secret: str
    previous_expires_at: datetime | None = None  # rotation: when the replaced secret stops


class WebhookAdmin:
    """List, create, read, update, delete and rotate a tenant's webhook endpoints."""

    def __init__(
        self,
        *,
        store: WebhookEndpoints,
        plan: PlanOf,
        sealer: SecretSealer,
        resolve: Resolver,
        audit: AuditWriter,
        policy: WebhookPolicy,
        clock: Clock,
    ) -> None:
        self._store = store
        self._plan = plan
        self._sealer = sealer
        self._resolve = resolve
        self._audit = audit
        self._policy = policy
        self._clock = clock

    async def list(self, tenant: str) -> list[WebhookEndpoint]:
        """Every endpoint of the tenant (both writers'), by id."""
        return await self._store.list_for_tenant(tenant)

    async def get(self, tenant: str, endpoint_id: str) -> WebhookEndpoint:
        """One endpoint of the tenant; another tenant's is indistinguishable from none."""
        endpoint = await self._store.get(endpoint_id, tenant=tenant)
        if endpoint is None:
            raise NotFoundError("no such webhook endpoint")
        return endpoint

    async def create(
        self,
        *,
        caller: ApiKeyRecord,
        url: str,
        event_types: Sequence[str],
        description: str | None,
        enabled: bool,
        client: ClientInfo,
        delivery: Delivery | None = None,
    ) -> WithSecret:
        """A new REST-owned endpoint with a fresh signing secret (returned this once)."""
        options = _delivery(delivery or Delivery())
        checked = await self._check_url(url)
        filters = _filters(event_types)
        plan = await self._plan(caller.tenant)
        now = self._clock()
        endpoint_id = new_endpoint_id()
        secret = new_signing_secret()
        endpoint = WebhookEndpoint(
            endpoint_id=endpoint_id,
            tenant=caller.tenant,
            url=checked,
            event_types=filters,
            enabled=enabled,
            secret_ref=None,
            secret_fingerprint=fingerprint(secret),
            managed_by=WebhookWriter.API,
            created_at=now,
            updated_at=now,
            description=description,
            secrets=(self._stored(secret, endpoint_id=endpoint_id, now=now),),
            max_concurrency=options.max_concurrency,
            rate_limit_per_second=options.rate_limit_per_second,
            ordered=options.ordered,
        )
        try:
            await self._store.register(endpoint, writer=WebhookWriter.API, quota=plan.max_webhooks)
        except WebhookQuotaError as exc:
            raise QuotaExceededError(str(exc)) from None
        try:
            await self._emit("webhook.endpoint.created", caller, endpoint, client)
        except BaseException:
            # Unaudited, and its secret would never be shown: take the endpoint back.
            await self._store.unregister(endpoint_id, writer=WebhookWriter.API)
            raise
        return WithSecret(endpoint=endpoint, secret=secret)

    async def update(
        self,
        *,
        caller: ApiKeyRecord,
        endpoint_id: str,
        url: str | None,
        event_types: Sequence[str] | None,
        description: str | None,
        clear_description: bool,
        enabled: bool | None,
        client: ClientInfo,
        delivery: Delivery | None = None,
        delivery_fields: AbstractSet[DeliveryField] = frozenset(),
    ) -> WebhookEndpoint:
        """Change a REST-owned endpoint's URL, filters, description, switch or delivery
        options (those named in `delivery_fields` take `delivery`'s value; None restores the
        dispatcher's default)."""
        current = await self._owned(caller.tenant, endpoint_id)
        given = delivery or Delivery()

        def pick(name: DeliveryField) -> Any:
            return getattr(given if name in delivery_fields else current, name)

        options = _delivery(
            Delivery(
                max_concurrency=pick("max_concurrency"),
                rate_limit_per_second=pick("rate_limit_per_second"),
                ordered=pick("ordered"),
            )
        )
        checked = None if url is None else await self._check_url(url)
        changed = replace(
            current,
            url=current.url if checked is None else checked,
            event_types=current.event_types if event_types is None else _filters(event_types),
            description=None if clear_description else (description or current.description),
            enabled=current.enabled if enabled is None else enabled,
            max_concurrency=options.max_concurrency,
            rate_limit_per_second=options.rate_limit_per_second,
            ordered=options.ordered,
            updated_at=self._clock(),
            disabled_at=None,  # the owner's change resumes delivery (the store clears it too)
            disabled_reason=None,
        )
        await self._save(changed, expect=current.updated_at)
        await self._emit("webhook.endpoint.updated", caller, changed, client)
        return changed

    async def delete(self, *, caller: ApiKeyRecord, endpoint_id: str, client: ClientInfo) -> None:
        """Remove a REST-owned endpoint of the caller's tenant."""
        current = await self._owned(caller.tenant, endpoint_id)
        try:
            removed = await self._store.unregister(
                current.endpoint_id, writer=WebhookWriter.API, tenant=caller.tenant
            )
        except ForeignEndpointError as exc:
            raise _owner_error(exc) from None
        if not removed:
            raise NotFoundError("no such webhook endpoint")
        await self._emit("webhook.endpoint.deleted", caller, current, client)

    async def rotate_secret(
        self,
        *,
        caller: ApiKeyRecord,
        endpoint_id: str,
        overlap: timedelta | None,
        client: ClientInfo,
    ) -> WithSecret:
        """A new current secret (returned this once); the replaced one signs on for the
        overlap window (the policy's unless given; zero retires it at once)."""
        current = await self._owned(caller.tenant, endpoint_id)
        window = self._policy.overlap if overlap is None else overlap
        now = self._clock()
        secret = new_signing_secret()
        stored = rotate(
            current.secrets,
            self._stored(secret, endpoint_id=current.endpoint_id, now=now),
            now=now,
            overlap=window,
        )
        changed = replace(
            current, secrets=stored, secret_fingerprint=fingerprint(secret), updated_at=now
        )
        await self._save(changed, expect=current.updated_at)
        previous = next((s.expires_at for s in stored if s.expires_at is not None), None)
        try:
            await self._emit(
                "webhook.secret.rotated", caller, changed, client,
                overlapSeconds=int(window.total_seconds()),
            )  # fmt: skip
        except BaseException:
            # Unaudited, and the new secret would never be shown: the old secrets sign on.
            await self._store.register(current, writer=WebhookWriter.API)
            raise
        return WithSecret(endpoint=changed, secret=secret, previous_expires_at=previous)

    async def _owned(self, tenant: str, endpoint_id: str) -> WebhookEndpoint:
        endpoint = await self.get(tenant, endpoint_id)
        if endpoint.managed_by is not WebhookWriter.API:
            raise _owner_error(ForeignEndpointError(endpoint, WebhookWriter.API))
        return endpoint

    async def _save(self, endpoint: WebhookEndpoint, *, expect: datetime) -> None:
        try:
            await self._store.register(endpoint, writer=WebhookWriter.API, expect=expect)
        except ForeignEndpointError as exc:
            raise _owner_error(exc) from None
        except EndpointChangedError:
            raise ConflictError(
                f"webhook endpoint {endpoint.endpoint_id} changed or was deleted meanwhile; "
                "read it again and retry"
            ) from None

    async def _check_url(self, url: str) -> str:
        try:
            checked = await validate_webhook_url(
                url,
                allow_insecure_http=self._policy.allow_insecure_http,
                resolve=self._resolve,
                allow_networks=self._policy.allow_networks,
            )
        except WebhookUrlError as exc:
            raise WebhookFieldError(exc.message, field="url", reason=exc.problem.value) from None
        return checked.url

    def _stored(self, secret: str, *, endpoint_id: str, now: datetime) -> StoredSecret:
        return StoredSecret(
            sealed=self._sealer.seal(secret, endpoint_id=endpoint_id),
            fingerprint=fingerprint(secret),
            created_at=now,
        )

    async def _emit(
        self,
        action: str,
        caller: ApiKeyRecord,
        endpoint: WebhookEndpoint,
        client: ClientInfo,
        **extra: object,
    ) -> None:
        current = current_secret(endpoint.secrets)
        await self._audit.emit(
            client.event(
                action,
                outcome=Outcome.SUCCESS,
                actor=Actor(type="api_key", id=caller.key_id),
                tenant=endpoint.tenant,
                target_type="webhook_endpoint",
                target_id=endpoint.endpoint_id,
                details={
                    "url": endpoint.url,
                    "eventTypes": list(endpoint.event_types),
                    "enabled": endpoint.enabled,
                    "secretFingerprint": None if current is None else current.fingerprint,
                    "maxConcurrency": endpoint.max_concurrency,
                    "rateLimitPerSecond": endpoint.rate_limit_per_second,
                    "ordered": endpoint.ordered,
                    **extra,
                },
            )
        )


def _filters(event_types: Sequence[str]) -> tuple[str, ...]:
    for index, value in enumerate(event_types):
        if unknown_event_filters([value]):
            raise WebhookFieldError(
                f"unknown event type {value!r}: use *, <category>.*, a type listed at "
                "GET /v1/webhooks/event-types, or custom.<name>",
                field=f"eventTypes[{index}]",
                reason="UnknownEventType",
            )
    return tuple(sorted(set(event_types)))


def _delivery(options: Delivery) -> Delivery:
    """The options, or WebhookFieldError naming the first one out of the dispatcher's bounds."""
    refused = delivery_option_errors(
        max_concurrency=options.max_concurrency,
        rate_limit_per_second=options.rate_limit_per_second,
    )
    if refused:
        field, message = refused[0]
        raise WebhookFieldError(message, field=field, reason="OutOfRange")
    rate = options.rate_limit_per_second
    return replace(options, rate_limit_per_second=None if rate is None else float(rate))


def _owner_error(exc: ForeignEndpointError) -> WebhookOwnerError:
    return WebhookOwnerError(str(exc), owner=exc.endpoint.owner)
