"""Authentication of tenant back ends by API key (hash lookup, constant-time check, scopes)."""

import time
from collections.abc import Callable
from datetime import datetime
from typing import Final

from caas_control_plane.ports import ApiKeys, LockoutPolicy, Lockouts
from caas_control_plane.services.context import ClientInfo
from caas_control_plane.services.errors import (
    InsufficientScopeError,
    InvalidCredentialsError,
    LockedError,
)
from caas_core.authz.platform import key_allows
from caas_core.domain.api_key_records import ApiKeyRecord
from caas_core.domain.api_keys import ApiKeyFormatError, parse_api_key, verify_api_key
from caas_core.domain.audit import Actor, AuditWriter, Outcome

_CACHE_LIMIT: Final = 10_000


def api_key_subject(ip: str) -> str:
    """The lockout subject of API-key presentations from one client address."""
    return f"apikey:{ip}"


class ApiKeyCache:
    """Stored key records for a few seconds, so a busy key costs no MongoDB read per request.

    Entries fetched before the key's last known change (a revocation or update, from this
    instance or broadcast on `auth.revocation.events`) are refetched; keys changed by the other
    writer (the operator, which broadcasts nothing) are seen at the latest after `ttl`. Unknown
    ids are cached too (as None), so probing costs the same as using a key.
    """

    def __init__(
        self, *, ttl: float, changed_at: Callable[[str], float] = lambda _key_id: 0.0
    ) -> None:
        self._ttl = ttl
        self._changed_at = changed_at
        self._entries: dict[str, tuple[ApiKeyRecord | None, float]] = {}

    def get(self, key_id: str) -> tuple[bool, ApiKeyRecord | None]:
        """(hit, record): a hit may hold None (a known-unknown id)."""
        entry = self._entries.get(key_id)
        if entry is None:
            return False, None
        record, fetched = entry
        if time.time() - fetched > self._ttl or fetched <= self._changed_at(key_id):
            del self._entries[key_id]
            return False, None
        return True, record

    def put(self, key_id: str, record: ApiKeyRecord | None, *, fetched: float) -> None:
        """Remember what the store said at `fetched` (epoch seconds)."""
        if self._ttl <= 0:
            return
        if len(self._entries) >= _CACHE_LIMIT:
            self._entries.clear()  # crude but bounded; a refill costs one read per key
        self._entries[key_id] = (record, fetched)

    def evict(self, key_id: str) -> None:
        """Forget one key (this instance just changed it)."""
        self._entries.pop(key_id, None)


class ApiKeyAuthenticator:
    """`X-API-Key` -> the usable key record; failures say nothing about why (no oracle)."""

    def __init__(
        self,
        *,
        store: ApiKeys,
        audit: AuditWriter,
        clock: Callable[[], datetime],
        cache: ApiKeyCache | None = None,
        lockout: Lockouts | None = None,
        lockout_policy: LockoutPolicy | None = None,
    ) -> None:
        self._store = store
        self._lockout = lockout
        self._lockout_policy = lockout_policy
        self._cache = cache or ApiKeyCache(ttl=0)
        self._audit = audit
        self._clock = clock

    async def authenticate(
        self, presented: str | None, *, scope: str, client: ClientInfo
    ) -> ApiKeyRecord:
        """The record of a valid, unexpired, unrevoked key holding `scope`."""
        if not presented:
            raise InvalidCredentialsError("an X-API-Key header is required")
        record = await self._lookup(presented)
        if record is None:
            await self._audit.emit(
                client.event(
                    "auth.api_key.rejected",
                    outcome=Outcome.FAILURE,
                    actor=Actor(type="api_key", id=_key_id(presented)),
                )
            )
            await self._failed(client)
            raise InvalidCredentialsError("the API key is not valid")
        # Scopes are the engine's built-in roles: one authorization mechanism for the platform
        # and the tenants (each key's answer per scope is remembered: the roles are fixed).
        allowed = key_allows(
            tenant=record.tenant, key_id=record.key_id, granted=tuple(record.scopes), required=scope
        )
        if not allowed:
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

    async def _lookup(self, presented: str) -> ApiKeyRecord | None:
        """The usable record for a presented key: cached lookup, constant-time hash compare."""
        try:
            key = parse_api_key(presented)
        except ApiKeyFormatError:
            return None
        hit, record = self._cache.get(key.key_id)
        if not hit:
            fetched = time.time()
            record = await self._store.get(key.key_id)
            self._cache.put(key.key_id, record, fetched=fetched)
        # Unknown ids run the same hash and comparison as known ones (no timing oracle).
        matches = verify_api_key(key, stored_hash=None if record is None else record.key_hash)
        if record is None or not matches or record.unusable(now=self._clock()) is not None:
            return None
        return record

    async def _failed(self, client: ClientInfo) -> None:
        """Count a failed presentation against the client address; lock it at the limit."""
        bucket = client.address_bucket
        if self._lockout is None or self._lockout_policy is None or bucket is None:
            return
        seconds = await self._lockout.failure(api_key_subject(bucket), policy=self._lockout_policy)
        if seconds > 0:
            raise LockedError(
                "too many invalid API keys from this address; retry later",
                headers={"Retry-After": str(max(1, int(seconds + 0.999)))},
            )

    def forget(self, key_id: str) -> None:
        """Drop this instance's cached copy of a key (it was just changed here)."""
        self._cache.evict(key_id)


def _key_id(presented: str) -> str | None:
    """The public id of a presented key, when it is well-formed (for the audit trail)."""
    try:
        return parse_api_key(presented).key_id
    except ApiKeyFormatError:
        return None
