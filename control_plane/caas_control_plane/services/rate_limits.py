"""Per-request rate limits on every `/v1` route: one GCRA round trip to Redis per request.

Who is charged depends on how the caller authenticated:

- an API key: the key and its tenant;
- an SDK user's access token: the user and their tenant;
- nothing yet (the refresh endpoint, whose credential is the refresh token itself): the client IP.

A request refused by one limit is not charged to the others (the Lua script checks all first).
"""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final, Protocol

from caas_control_plane.ports import Limit, RateLimits, Usage, lock_key
from caas_control_plane.services.errors import LockedError, RateLimitedError

__all__ = ["API_CALLS", "TOKENS_ISSUED", "RatePolicy", "RequestLimits", "lock_key", "usage_key"]

API_CALLS: Final = "apiCalls"
TOKENS_ISSUED: Final = "tokensIssued"


def usage_key(tenant: str, *, now: datetime | None = None) -> str:
    """The usage hash of a tenant's calendar month (UTC)."""
    return f"{tenant}:{(now or datetime.now(UTC)):%Y%m}"


class ClientRateLike(Protocol):
    """A tenant plan's per-client rate."""

    @property
    def per_minute(self) -> int:
        """Average requests per minute."""

    @property
    def burst(self) -> int:
        """Requests allowed at once."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RatePolicy:
    """Average requests per minute (0: unlimited) and the burst each subject may spend at once."""

    per_key: int
    per_user: int
    per_tenant: int
    per_ip: int
    burst: int


class RequestLimits:
    """Charges a request to its callers' limits, or raises RateLimitedError with Retry-After."""

    def __init__(
        self,
        limiter: RateLimits | None,
        *,
        policy: RatePolicy,
        client_rate: Callable[[str], Awaitable[ClientRateLike | None]] | None = None,
    ) -> None:
        self._limiter = limiter
        self._policy = policy
        self._client_rate = client_rate

    async def _client(self, tenant: str, *, per_minute: int) -> tuple[int, int]:
        """(per minute, burst) for one client of `tenant`: its plan's rate once synced."""
        if self._client_rate is not None:
            rate = await self._client_rate(tenant)
            if rate is not None:
                return rate.per_minute, rate.burst
        return per_minute, self._policy.burst

    def _tenant(self, tenant: str) -> Limit:
        per = self._policy.per_tenant
        burst = max(self._policy.burst, per // 6)
        return Limit(key=f"tenant:{tenant}", per_minute=per, burst=burst)

    async def charge_key(
        self,
        *,
        tenant: str,
        key_id: str,
        counts: tuple[str, ...] = (API_CALLS,),
        lock: str | None = None,
    ) -> None:
        """One request by an API key of `tenant`; `counts` are the usage counters it adds to;
        refused while the lockout key `lock` (the client address's) is set."""
        per_minute, burst = await self._client(tenant, per_minute=self._policy.per_key)
        key = Limit(key=f"key:{key_id}", per_minute=per_minute, burst=burst)
        await self._charge(
            [key, self._tenant(tenant)],
            {"key": "API key", "tenant": "tenant"},
            usage=Usage(key=usage_key(tenant), fields=counts),
            lock=lock,
        )

    async def charge_user(self, *, tenant: str, user_id: str) -> None:
        """One request by an SDK user of `tenant`."""
        per_minute, burst = await self._client(tenant, per_minute=self._policy.per_user)
        user = Limit(key=f"user:{tenant}:{user_id}", per_minute=per_minute, burst=burst)
        await self._charge(
            [user, self._tenant(tenant)],
            {"user": "user", "tenant": "tenant"},
            usage=Usage(key=usage_key(tenant), fields=(API_CALLS,)),
        )

    async def charge_ip(self, ip: str | None) -> None:
        """One unauthenticated request from a client address (its `address_bucket`)."""
        if ip is None:
            return
        limit = Limit(key=f"ip:{ip}", per_minute=self._policy.per_ip, burst=self._policy.burst)
        await self._charge([limit], {"ip": "client address"})

    async def _charge(
        self,
        limits: list[Limit],
        names: dict[str, str],
        *,
        usage: Usage | None = None,
        lock: str | None = None,
    ) -> None:
        if self._limiter is None:
            return
        verdict = await self._limiter.hit(limits, usage=usage, lock=lock)
        if verdict.allowed:
            return
        seconds = max(1, int(verdict.retry_after + 0.999))
        if verdict.locked:
            raise LockedError(
                f"too many failed attempts from this address; retry in {seconds}s",
                headers={"Retry-After": str(seconds)},
            )
        kind = verdict.limit.key.split(":", 1)[0] if verdict.limit else "key"
        raise RateLimitedError(
            f"rate limit of this {names.get(kind, kind)} exceeded; retry in {seconds}s",
            headers={"Retry-After": str(seconds)},
        )
