"""GCRA rate limiting in Redis: every limit of a request checked and charged in one round trip.

The Lua script reads Redis' own clock (no skew between API instances), checks every key first
and only then charges them all, so a request refused by one limit costs nothing under the others.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from redis.asyncio import Redis

KEY_PREFIX: Final = "caas:rl:"

# KEYS: one per limit, then optionally a usage hash. ARGV: the number of limits n; per limit
# the emission interval T and the tolerance b*T (in µs); then the usage hash's TTL (seconds) and
# the fields to increment. A key stores its theoretical arrival time (TAT); a request is allowed
# when TAT+T - b*T <= now. Usage is counted for allowed requests only, in the same round trip.
_GCRA: Final = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local n = tonumber(ARGV[1])
local tats = {}
for i = 1, n do
  local interval = tonumber(ARGV[2 * i])
  local tolerance = tonumber(ARGV[2 * i + 1])
  local tat = tonumber(redis.call('GET', KEYS[i]) or now)
  if tat < now then tat = now end
  local new_tat = tat + interval
  local allow_at = new_tat - tolerance
  if allow_at > now then
    return {0, allow_at - now, i}
  end
  tats[i] = new_tat
end
for i = 1, n do
  redis.call('SET', KEYS[i], tats[i], 'PX', math.ceil((tats[i] - now) / 1000) + 1)
end
if #KEYS > n then
  local usage = KEYS[n + 1]
  for j = 2 * n + 3, #ARGV do
    redis.call('HINCRBY', usage, ARGV[j], 1)
  end
  redis.call('EXPIRE', usage, tonumber(ARGV[2 * n + 2]))
end
return {1, 0, 0}
"""
USAGE_PREFIX: Final = "caas:usage:"
USAGE_TTL_SECONDS: Final = 40 * 86400  # a month's counters outlive the month a little


@dataclass(frozen=True, slots=True, kw_only=True)
class Usage:
    """Counters to increment when the request is allowed (a hash per tenant and month)."""

    key: str
    fields: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class Limit:
    """At most `per_minute` requests per minute on average for `key`, bursts up to `burst`."""

    key: str
    per_minute: int
    burst: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Verdict:
    """Whether the request may proceed; if not, which limit refused and for how long."""

    allowed: bool
    retry_after: float = 0.0  # seconds
    limit: Limit | None = None


class RateLimiter:
    """Checks and charges several GCRA limits atomically."""

    def __init__(self, client: Redis) -> None:
        self._script = client.register_script(_GCRA)

    async def hit(self, limits: Sequence[Limit], *, usage: Usage | None = None) -> Verdict:
        """Charge one request against every limit (0 per minute: skipped) and count usage."""
        active = [limit for limit in limits if limit.per_minute > 0]
        if not active and (usage is None or not usage.fields):
            return Verdict(allowed=True)
        keys: list[str] = []
        args: list[int | str] = [len(active)]
        for limit in active:
            interval = 60_000_000 // limit.per_minute
            keys.append(KEY_PREFIX + limit.key)
            args += [interval, interval * limit.burst]
        if usage is not None and usage.fields:
            keys.append(USAGE_PREFIX + usage.key)
            args += [USAGE_TTL_SECONDS, *usage.fields]
        allowed, wait_us, index = await self._script(keys=keys, args=args)
        if int(allowed) == 1:
            return Verdict(allowed=True)
        return Verdict(
            allowed=False, retry_after=int(wait_us) / 1_000_000, limit=active[int(index) - 1]
        )
