"""FastAPI dependency aliases, one per service (the composition root puts them on app.state).

Routers name what they use (`TokensDep`, `SessionsDep`, …), never the composition root: a
router's signature says which services it may reach.
"""

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Annotated, TypeVar

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from caas_control_plane.auth import scopes
from caas_control_plane.health import BackendHealth
from caas_control_plane.problems import PROBLEM_BASE, ProblemError
from caas_control_plane.runtime import Runtime
from caas_control_plane.services.access import AccessTokenError
from caas_control_plane.services.api_key_admin import ApiKeyAdmin
from caas_control_plane.services.api_keys import api_key_subject
from caas_control_plane.services.audit_log import AuditLogService
from caas_control_plane.services.authz_admin import AuthzAdmin
from caas_control_plane.services.authz_decisions import DecisionService
from caas_control_plane.services.context import ClientInfo, Principal
from caas_control_plane.services.events import EventPublisher
from caas_control_plane.services.keys import KeyService
from caas_control_plane.services.mfa import MfaService
from caas_control_plane.services.rate_limits import (
    API_CALLS,
    TOKENS_ISSUED,
    lock_key,
)
from caas_control_plane.services.sessions import SessionService
from caas_control_plane.services.signing_key_admin import SigningKeyAdmin
from caas_control_plane.services.tenants import TenantService
from caas_control_plane.services.token_control import TokenControl
from caas_control_plane.services.tokens import TokenService
from caas_control_plane.services.webhook_deliveries import WebhookDeliveries
from caas_control_plane.services.webhooks import WebhookAdmin
from caas_control_plane.settings import ApiSettings
from caas_core.domain.api_key_records import ApiKeyRecord
from caas_core.domain.identifiers import visible

T = TypeVar("T")
API_KEY_HEADER = "X-API-Key"
_api_key_header = APIKeyHeader(
    name=API_KEY_HEADER,
    auto_error=False,
    scheme_name="ApiKey",
    description="A tenant back end's API key (`caas_sk_…`).",
)
_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="AccessToken",
    bearerFormat="JWT",
    description="An SDK user's access token (EdDSA JWT).",
)


async def _health(request: Request) -> BackendHealth:
    health: BackendHealth = request.app.state.health
    return health


async def _settings(request: Request) -> ApiSettings:
    settings: ApiSettings = request.app.state.settings
    return settings


async def _runtime(request: Request) -> Runtime:
    runtime: Runtime | None = getattr(request.app.state, "runtime", None)
    if runtime is None:
        raise ProblemError(
            status=503,
            title="Service starting",
            detail="the authentication runtime is not running",
            type_=f"{PROBLEM_BASE}backend-unavailable",
            headers={"Retry-After": "5"},
        )
    return runtime


async def _client(request: Request) -> ClientInfo:
    return ClientInfo(
        ip=request.client.host if request.client else None,
        # Shown to users in their session list: no control or format characters (a tab is
        # legal in a header value; a header may also carry bytes read as Latin-1 controls).
        user_agent=visible((request.headers.get("user-agent") or "")[:256]) or None,
        request_id=getattr(request.state, "request_id", None),
    )


HealthDep = Annotated[BackendHealth, Depends(_health)]
SettingsDep = Annotated[ApiSettings, Depends(_settings)]
# Private: only the per-service aliases below reach into the runtime.
_RuntimeDep = Annotated[Runtime, Depends(_runtime)]
ClientDep = Annotated[ClientInfo, Depends(_client)]


def _part(pick: Callable[[Runtime], T]) -> Callable[[Request], Awaitable[T]]:
    """A dependency answering one part of the runtime (a service, the clock).

    It reads the runtime itself rather than depending on `_RuntimeDep`: FastAPI resolves every
    dependency node per request (~10 µs each, measured with bench/auth_issuance.py), and the
    request is no node.
    """

    async def dependency(request: Request) -> T:
        return pick(await _runtime(request))

    return dependency


TokensDep = Annotated[TokenService, Depends(_part(lambda r: r.tokens))]
TokenControlDep = Annotated[TokenControl, Depends(_part(lambda r: r.control))]
KeysDep = Annotated[KeyService, Depends(_part(lambda r: r.keys))]
SigningKeyAdminDep = Annotated[SigningKeyAdmin, Depends(_part(lambda r: r.signing_key_admin))]
ApiKeyAdminDep = Annotated[ApiKeyAdmin, Depends(_part(lambda r: r.key_admin))]
TenantsDep = Annotated[TenantService, Depends(_part(lambda r: r.tenants))]
SessionsDep = Annotated[SessionService, Depends(_part(lambda r: r.sessions))]
MfaDep = Annotated[MfaService, Depends(_part(lambda r: r.mfa))]
AuthzAdminDep = Annotated[AuthzAdmin, Depends(_part(lambda r: r.authz_admin))]
AuthzDecisionsDep = Annotated[DecisionService, Depends(_part(lambda r: r.authz_decisions))]
AuditLogDep = Annotated[AuditLogService, Depends(_part(lambda r: r.audit_service))]
WebhookAdminDep = Annotated[WebhookAdmin, Depends(_part(lambda r: r.webhook_admin))]
WebhookDeliveriesDep = Annotated[WebhookDeliveries, Depends(_part(lambda r: r.webhook_deliveries))]
EventPublisherDep = Annotated[EventPublisher, Depends(_part(lambda r: r.event_publisher))]
# The runtime's clock (token lifetimes in answers are counted from it).
ClockDep = Annotated[Callable[[], datetime], Depends(_part(lambda r: r.clock))]


def _log_tenant(request: Request, tenant: str) -> None:
    # The request log line names the tenant once a credential was verified.
    request.state.tenant = tenant


async def _principal(
    runtime: _RuntimeDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
    request: Request,
) -> Principal:
    if credentials is None:
        raise AccessTokenError("a Bearer access token is required", reason="missing")
    principal = await runtime.guard.authenticate(credentials.credentials)
    _log_tenant(request, principal.tenant)
    await runtime.limits.charge_user(tenant=principal.tenant, user_id=principal.user_id)
    return principal


async def _optional_principal(
    runtime: _RuntimeDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
    request: Request,
) -> Principal | None:
    if credentials is None:
        return None
    principal = await runtime.guard.authenticate(credentials.credentials)
    _log_tenant(request, principal.tenant)
    await runtime.limits.charge_user(tenant=principal.tenant, user_id=principal.user_id)
    return principal


# An SDK user: verified signature and claims, not revoked (checked in memory on every request).
CurrentPrincipal = Annotated[Principal, Depends(_principal)]
OptionalPrincipal = Annotated[Principal | None, Depends(_optional_principal)]


def _lock(client: ClientInfo) -> str | None:
    """The lockout key of API-key presentations from this client's address."""
    bucket = client.address_bucket
    return None if bucket is None else lock_key(api_key_subject(bucket))


def _api_key(scope: str) -> Callable[..., Awaitable[ApiKeyRecord]]:
    # Usage counted in the rate limiter's round trip: tokens:issue is the SDK token endpoint.
    counts = (API_CALLS, TOKENS_ISSUED) if scope == scopes.TOKENS_ISSUE else (API_CALLS,)

    async def dependency(
        runtime: _RuntimeDep,
        client: ClientDep,
        presented: Annotated[str | None, Security(_api_key_header)],
        request: Request,
    ) -> ApiKeyRecord:
        record = await runtime.api_keys.authenticate(presented, scope=scope, client=client)
        _log_tenant(request, record.tenant)
        await runtime.limits.charge_key(
            tenant=record.tenant, key_id=record.key_id, counts=counts, lock=_lock(client)
        )
        return record

    return dependency


async def _optional_revoker(
    runtime: _RuntimeDep,
    client: ClientDep,
    presented: Annotated[str | None, Security(_api_key_header)],
    request: Request,
) -> ApiKeyRecord | None:
    if presented is None:
        return None
    record = await runtime.api_keys.authenticate(
        presented, scope=scopes.TOKENS_REVOKE, client=client
    )
    _log_tenant(request, record.tenant)
    await runtime.limits.charge_key(tenant=record.tenant, key_id=record.key_id, lock=_lock(client))
    return record


def _optional_key(scope: str) -> Callable[..., Awaitable[ApiKeyRecord | None]]:
    async def dependency(
        runtime: _RuntimeDep,
        client: ClientDep,
        presented: Annotated[str | None, Security(_api_key_header)],
        request: Request,
    ) -> ApiKeyRecord | None:
        if presented is None:
            return None
        record = await runtime.api_keys.authenticate(presented, scope=scope, client=client)
        _log_tenant(request, record.tenant)
        await runtime.limits.charge_key(
            tenant=record.tenant, key_id=record.key_id, lock=_lock(client)
        )
        return record

    return dependency


async def _ip_limited(runtime: _RuntimeDep, client: ClientDep) -> None:
    await runtime.limits.charge_ip(client.address_bucket)


# An unauthenticated /v1 call (refresh: its credential is in the body), limited per client IP.
IpLimited = Depends(_ip_limited)


# A tenant back end holding an API key with the named scope.
TokenIssuerKey = Annotated[ApiKeyRecord, Depends(_api_key(scopes.TOKENS_ISSUE))]
TokenRevokerKey = Annotated[ApiKeyRecord, Depends(_api_key(scopes.TOKENS_REVOKE))]
IntrospectorKey = Annotated[ApiKeyRecord, Depends(_api_key(scopes.TOKENS_INTROSPECT))]
OptionalRevokerKey = Annotated[ApiKeyRecord | None, Depends(_optional_revoker)]
KeyManagerKey = Annotated[ApiKeyRecord, Depends(_api_key(scopes.KEYS_MANAGE))]
TenantReaderKey = Annotated[ApiKeyRecord, Depends(_api_key(scopes.TENANT_READ))]
TenantWriterKey = Annotated[ApiKeyRecord, Depends(_api_key(scopes.TENANT_WRITE))]
SessionAdminKey = Annotated[ApiKeyRecord, Depends(_api_key(scopes.SESSIONS_ADMIN))]
AuditReaderKey = Annotated[ApiKeyRecord, Depends(_api_key(scopes.AUDIT_READ))]
AuthzManagerKey = Annotated[ApiKeyRecord, Depends(_api_key(scopes.AUTHZ_MANAGE))]
AuthzCheckerKey = Annotated[ApiKeyRecord, Depends(_api_key(scopes.AUTHZ_CHECK))]
WebhookReaderKey = Annotated[ApiKeyRecord, Depends(_api_key(scopes.WEBHOOKS_READ))]
WebhookWriterKey = Annotated[ApiKeyRecord, Depends(_api_key(scopes.WEBHOOKS_WRITE))]
EventPublisherKey = Annotated[ApiKeyRecord, Depends(_api_key(scopes.EVENTS_PUBLISH))]
OptionalSessionAdminKey = Annotated[
    ApiKeyRecord | None, Depends(_optional_key(scopes.SESSIONS_ADMIN))
]


def require_tenant(principal: Principal, tenant: str) -> None:
    """Tenant isolation at the edge: another tenant's resource looks like no resource at all."""
    if principal.tenant != tenant:
        raise ProblemError(status=404, detail="no such resource")
