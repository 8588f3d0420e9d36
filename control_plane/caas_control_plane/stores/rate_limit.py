"""GCRA rate limiting in Redis: every limit of a request checked and charged in one round trip.

The Lua script reads Redis' own clock (no skew between API instances), checks every key first
and only then charges them all, so a request refused by one limit costs nothing under the others.
"""

from collections.abc import Sequence
from typing import Final

from redis.asyncio import Redis

from caas_control_plane.ports import Limit, Usage, Verdict

__all__ = ["KEY_PREFIX", "USAGE_PREFIX", "Limit", "RateLimiter", "Usage", "Verdict"]

KEY_PREFIX: Final = "caas:rl:"

# KEYS: an optional lockout key first (ARGV[1] = 1 when present), then one per limit, then an
# optional usage hash. ARGV: has-lock flag, the number of limits n; per limit the emission
# interval T and the tolerance b*T (in µs); then the usage hash's TTL (seconds) and the fields
# to increment. A key stores its theoretical arrival time (TAT); a request is allowed when
# TAT+T - b*T <= now. A present lockout key refuses the request (index -1) for its remaining
# TTL. Usage is counted for allowed requests only: all of it one round trip.
_GCRA: Final = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local lock = tonumber(ARGV[1])
local n = tonumber(ARGV[2])
if lock == 1 then
  local ttl = redis.call('PTTL', KEYS[1])
  if ttl > 0 then return {0, ttl * 1000, -1} end
end
local tats = {}
for i = 1, n do
  local key = KEYS[lock + i]
  local interval = tonumber(ARGV[2 * i + 1])
  local tolerance = tonumber(ARGV[2 * i + 2])
  local tat = tonumber(redis.call('GET', key) or now)
  if tat < now then tat = now end
  local new_tat = tat + interval
  local allow_at = new_tat - tolerance
  if allow_at > now then
    return {0, allow_at - now, i}
  end
  tats[i] = new_tat
end
for i = 1, n do
  redis.call('SET', KEYS[lock + i], tats[i], 'PX', math.ceil((tats[i] - now) / 1000) + 1)
end
if #KEYS > lock + n then
  local usage = KEYS[lock + n + 1]
  for j = 2 * n + 4, #ARGV do
    redis.call('HINCRBY', usage, ARGV[j], 1)
  end
  redis.call('EXPIRE', usage, tonumber(ARGV[2 * n + 3]))
end
return {1, 0, 0}
"""
USAGE_PREFIX: Final = "caas:usage:"
USAGE_TTL_SECONDS: Final = 40 * 86400  # a month's counters outlive the month a little


class RateLimiter:
    """Checks and charges several GCRA limits atomically."""

    def __init__(self, client: Redis) -> None:
        self._script = client.register_script(_GCRA)

    async def hit(
        self, limits: Sequence[Limit], *, usage: Usage | None = None, lock: str | None = None
    ) -> Verdict:
        """Charge one request against every limit (0 per minute: skipped) and count usage;
        refused outright while the lockout key `lock` exists."""
        active = [limit for limit in limits if limit.per_minute > 0]
        if not active and (usage is None or not usage.fields) and lock is None:
            return Verdict(allowed=True)
        keys: list[str] = [] if lock is None else [lock]
        args: list[int | str] = [0 if lock is None else 1, len(active)]
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
        if int(index) == -1:
            return Verdict(allowed=False, retry_after=int(wait_us) / 1_000_000, locked=True)
        return Verdict(
            allowed=False, retry_after=int(wait_us) / 1_000_000, limit=active[int(index) - 1]
        )
