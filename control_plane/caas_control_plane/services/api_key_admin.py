"""`/v1/auth/api-keys`: the REST writer of the one API-key store (KeyWriter.API).

Keys created through ApiKey resources belong to the operator: this side reads them but refuses
to change them (409 naming the resource). A key may only grant scopes its creator holds, so
`keys:manage` cannot be used to mint a more powerful key. Every change is audited and, for
revocations and updates, broadcast so every instance drops its cached copy at once.
"""

from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime

from caas_control_plane.auth.scopes import has_scope, is_valid_scope
from caas_control_plane.ports import ApiKeys
from caas_control_plane.services.api_keys import ApiKeyAuthenticator
from caas_control_plane.services.context import ClientInfo
from caas_control_plane.services.errors import (
    ConflictError,
    InsufficientScopeError,
    InvalidRequestError,
    NotFoundError,
    QuotaExceededError,
    ServiceError,
)
from caas_control_plane.services.revocation import RevocationService
from caas_control_plane.services.tenants import TenantService
from caas_core.domain.api_key_records import (
    ApiKeyNotFoundError,
    ApiKeyRecord,
    ForeignKeyError,
    KeyWriter,
)
from caas_core.domain.api_keys import format_api_key, hash_api_key, new_api_key
from caas_core.domain.audit import Actor, AuditWriter, Outcome

Clock = Callable[[], datetime]


class InvalidScopeError(ServiceError):
    """A scope that does not exist."""

    status = 422
    code = "invalid-scope"
    title = "Invalid scope"


class ApiKeyAdmin:
    """List, create, read, update and revoke a tenant's API keys."""

    def __init__(
        self,
        *,
        store: ApiKeys,
        tenants: TenantService,
        authenticator: ApiKeyAuthenticator,
        revocations: RevocationService,
        audit: AuditWriter,
        clock: Clock,
    ) -> None:
        self._store = store
        self._tenants = tenants
        self._authenticator = authenticator
        self._revocations = revocations
        self._audit = audit
        self._clock = clock

    async def list(self, tenant: str) -> list[ApiKeyRecord]:
        """Every key of the tenant (both writers'), oldest first."""
        return await self._store.list_for_tenant(tenant)

    async def get(self, tenant: str, key_id: str) -> ApiKeyRecord:
        """One key of the tenant; another tenant's key is indistinguishable from none."""
        record = await self._store.get(key_id, tenant=tenant)
        if record is None:
            raise NotFoundError("no such API key")
        return record

    async def create(
        self,
        *,
        caller: ApiKeyRecord,
        name: str,
        scopes: Sequence[str],
        expires_at: datetime | None,
        client: ClientInfo,
    ) -> tuple[ApiKeyRecord, str]:
        """A new REST-owned key; returns the record and the plaintext key (shown this once)."""
        _check_scopes(caller, scopes)
        now = self._clock()
        if expires_at is not None and expires_at <= now:
            raise InvalidRequestError("expiresAt must be in the future")
        plan = await self._tenants.plan(caller.tenant)
        live = [
            k for k in await self._store.list_for_tenant(caller.tenant) if not k.unusable(now=now)
        ]
        if len(live) >= plan.max_api_keys:
            raise QuotaExceededError(
                f"the plan allows {plan.max_api_keys} API keys and the tenant has {len(live)}"
            )
        key = new_api_key()
        record = ApiKeyRecord(
            key_id=key.key_id,
            tenant=caller.tenant,
            name=name,
            key_hash=hash_api_key(key),
            scopes=tuple(dict.fromkeys(scopes)),
            managed_by=KeyWriter.API,
            created_at=now,
            expires_at=expires_at,
        )
        await self._store.insert(record)
        self._authenticator.forget(record.key_id)  # a cached "unknown id" must not linger
        await self._emit("auth.api_key.created", caller, record, client)
        return record, format_api_key(key)

    async def update(
        self,
        *,
        caller: ApiKeyRecord,
        key_id: str,
        name: str | None,
        scopes: Sequence[str] | None,
        expires_at: datetime | None,
        clear_expiry: bool,
        client: ClientInfo,
    ) -> ApiKeyRecord:
        """Change name, scopes or expiry of a REST-owned key of the caller's tenant."""
        current = await self.get(caller.tenant, key_id)
        if scopes is not None:
            _check_scopes(caller, scopes)
        changed = replace(
            current,
            name=current.name if name is None else name,
            scopes=current.scopes if scopes is None else tuple(dict.fromkeys(scopes)),
            expires_at=None if clear_expiry else (expires_at or current.expires_at),
        )
        try:
            saved = await self._store.save(changed, writer=KeyWriter.API)
        except ForeignKeyError as exc:
            raise ConflictError(str(exc)) from None
        except ApiKeyNotFoundError:
            raise NotFoundError("no such API key") from None
        await self._changed(saved, reason="updated")
        await self._emit("auth.api_key.updated", caller, saved, client)
        return saved

    async def revoke(self, *, caller: ApiKeyRecord, key_id: str, client: ClientInfo) -> None:
        """Revoke a REST-owned key of the caller's tenant (idempotent)."""
        current = await self.get(caller.tenant, key_id)
        try:
            revoked = await self._store.revoke(
                current.key_id, writer=KeyWriter.API, now=self._clock()
            )
        except ForeignKeyError as exc:
            raise ConflictError(str(exc)) from None
        except ApiKeyNotFoundError:
            raise NotFoundError("no such API key") from None
        await self._changed(revoked, reason="revoked")
        await self._emit("auth.api_key.revoked", caller, revoked, client)

    async def _changed(self, record: ApiKeyRecord, *, reason: str) -> None:
        self._authenticator.forget(record.key_id)
        await self._revocations.api_key_changed(
            tenant=record.tenant, key_id=record.key_id, reason=reason
        )

    async def _emit(
        self, action: str, caller: ApiKeyRecord, record: ApiKeyRecord, client: ClientInfo
    ) -> None:
        await self._audit.emit(
            client.event(
                action,
                outcome=Outcome.SUCCESS,
                actor=Actor(type="api_key", id=caller.key_id),
                tenant=record.tenant,
                target_type="api_key",
                target_id=record.key_id,
                details={"scopes": list(record.scopes), "name": record.name},
            )
        )


def _check_scopes(caller: ApiKeyRecord, scopes: Sequence[str]) -> None:
    unknown = [scope for scope in scopes if not is_valid_scope(scope)]
    if unknown:
        raise InvalidScopeError(f"unknown scopes: {', '.join(sorted(unknown))}")
    beyond = [scope for scope in scopes if not _covered(caller.scopes, scope)]
    if beyond:
        raise InsufficientScopeError(
            f"a key may only grant scopes it holds; missing: {', '.join(sorted(beyond))}"
        )


def _covered(granted: Sequence[str], scope: str) -> bool:
    if scope == "*":
        return "*" in granted
    resource, _, action = scope.partition(":")
    if action == "*":
        return f"{resource}:*" in granted or "*" in granted
    return has_scope(granted, scope)
