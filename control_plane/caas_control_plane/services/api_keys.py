"""Authentication of tenant back ends by API key (hash lookup, constant-time check, scopes)."""

from collections.abc import Callable
from datetime import datetime

from caas_control_plane.auth.scopes import has_scope
from caas_control_plane.services.context import ClientInfo
from caas_control_plane.services.errors import (
    InsufficientScopeError,
    InvalidCredentialsError,
    RateLimitedError,
)
from caas_control_plane.stores.rate_limit import Limit, RateLimiter
from caas_core.adapters.api_key_store import ApiKeyStore
from caas_core.audit import Actor, AuditWriter, Outcome
from caas_core.domain.api_key_records import ApiKeyRecord
from caas_core.domain.api_keys import ApiKeyFormatError, parse_api_key


class ApiKeyAuthenticator:
    """`X-API-Key` -> the usable key record; failures say nothing about why (no oracle)."""

    def __init__(
        self,
        *,
        store: ApiKeyStore,
        audit: AuditWriter,
        clock: Callable[[], datetime],
        limiter: RateLimiter | None = None,
        per_key_per_minute: int = 0,
        burst: int = 1,
        per_tenant_per_minute: int = 0,
    ) -> None:
        self._store = store
        self._audit = audit
        self._clock = clock
        self._limiter = limiter
        self._per_key = per_key_per_minute
        self._burst = burst
        self._per_tenant = per_tenant_per_minute

    async def authenticate(
        self, presented: str | None, *, scope: str, client: ClientInfo
    ) -> ApiKeyRecord:
        """The record of a valid, unexpired, unrevoked key holding `scope`."""
        if not presented:
            raise InvalidCredentialsError("an X-API-Key header is required")
        # The store parses, looks the id up and hashes/compares in constant time, doing the same
        # work for unknown ids; expiry, revocation and rotation overlap are honoured there.
        record = await self._store.authenticate(presented, now=self._clock())
        if record is None:
            await self._audit.emit(
                client.event(
                    "auth.api_key.rejected",
                    outcome=Outcome.FAILURE,
                    actor=Actor(type="api_key", id=_key_id(presented)),
                )
            )
            raise InvalidCredentialsError("the API key is not valid")
        if not has_scope(record.scopes, scope):
            await self._audit.emit(
                client.event(
                    "auth.api_key.scope_denied",
                    outcome=Outcome.FAILURE,
                    actor=Actor(type="api_key", id=record.key_id),
                    tenant=record.tenant,
                    details={"scope": scope},
                )
            )
            raise InsufficientScopeError(f"the API key lacks the scope {scope!r}")
        return record

    async def charge(self, record: ApiKeyRecord) -> None:
        """Count one request against the key's and its tenant's rate limits (one Redis trip)."""
        if self._limiter is None:
            return
        verdict = await self._limiter.hit(
            [
                Limit(key=f"key:{record.key_id}", per_minute=self._per_key, burst=self._burst),
                Limit(
                    key=f"tenant:{record.tenant}",
                    per_minute=self._per_tenant,
                    burst=max(self._burst, self._per_tenant // 6),
                ),
            ]
        )
        if not verdict.allowed:
            seconds = max(1, int(verdict.retry_after + 0.999))
            which = "tenant" if verdict.limit and verdict.limit.key.startswith("tenant:") else "key"
            raise RateLimitedError(
                f"rate limit of this API {which} exceeded; retry in {seconds}s",
                headers={"Retry-After": str(seconds)},
            )


def _key_id(presented: str) -> str | None:
    """The public id of a presented key, when it is well-formed (for the audit trail)."""
    try:
        return parse_api_key(presented).key_id
    except ApiKeyFormatError:
        return None
