"""Brute-force lockout shared by every API instance through Redis.

Failures are counted per subject (`caas:fail:<subject>`) in a window; reaching the limit sets
`caas:lock:<subject>` for the lockout period and resets the count. Both steps are one Lua call,
so two instances failing at once cannot both miss the limit.
"""

from typing import Final

from redis.asyncio import Redis

from caas_control_plane.ports import LOCK_PREFIX, LockoutPolicy, lock_key

FAIL_PREFIX: Final = "caas:fail:"
__all__ = ["FAIL_PREFIX", "LOCK_PREFIX", "Lockout", "LockoutPolicy", "lock_key"]

# KEYS: fail counter, lock. ARGV: max failures, window (s), lockout (s).
# Returns the lock's remaining milliseconds (0 when not locked).
_FAIL: Final = """
local ttl = redis.call('PTTL', KEYS[2])
if ttl > 0 then return ttl end
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('EXPIRE', KEYS[1], tonumber(ARGV[2])) end
if count >= tonumber(ARGV[1]) then
  redis.call('SET', KEYS[2], '1', 'EX', tonumber(ARGV[3]))
  redis.call('DEL', KEYS[1])
  return tonumber(ARGV[3]) * 1000
end
return 0
"""


class Lockout:
    """Counts failures and answers whether a subject is locked (seconds remaining)."""

    def __init__(self, client: Redis) -> None:
        self._client = client
        self._fail = client.register_script(_FAIL)

    async def locked_for(self, subject: str) -> float:
        """Seconds `subject` stays locked (0.0: not locked)."""
        ttl = int(await self._client.pttl(LOCK_PREFIX + subject))
        return max(0.0, ttl / 1000)

    async def failure(self, subject: str, *, policy: LockoutPolicy) -> float:
        """Count a failure; seconds locked now (0.0 when still below the limit)."""
        millis = await self._fail(
            keys=[FAIL_PREFIX + subject, LOCK_PREFIX + subject],
            args=[policy.max_failures, policy.window, policy.lockout],
        )
        return int(millis) / 1000

    async def success(self, subject: str) -> None:
        """Forget the failures counted so far."""
        await self._client.delete(FAIL_PREFIX + subject)
