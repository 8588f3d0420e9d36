"""Authorization decisions in Redis: the decision cache and each tenant's recent decisions.

Keys: `caas:` + `decision_key(...)` (`authz:<tenant>:<version>:<digest>`) for a cached decision,
with a TTL; `caas:authz-log:<tenant>` for the recent-decision list (newest first, trimmed to
`keep`), which the what-if replays. A new decision is cached and logged in one round trip.
"""

import json
from collections.abc import Mapping
from typing import Any, Final

from redis.asyncio import Redis

PREFIX: Final = "caas:"
LOG_PREFIX: Final = "caas:authz-log:"


def log_key(tenant: str) -> str:
    """The Redis list of a tenant's recent decisions."""
    return LOG_PREFIX + tenant


class RedisDecisionCache:
    """Cached decisions by key; recent decisions by tenant."""

    def __init__(self, client: Redis) -> None:
        self._client = client

    async def get(self, key: str) -> Mapping[str, Any] | None:
        """A cached decision, or None."""
        raw = await self._client.get(PREFIX + key)
        return None if raw is None else dict(json.loads(raw))

    async def remember(
        self,
        key: str,
        decision: Mapping[str, Any],
        *,
        ttl: int,
        tenant: str,
        record: Mapping[str, Any],
        keep: int,
    ) -> None:
        """Cache `decision` for `ttl` seconds and push `record` to the tenant's recent list."""
        pipe = self._client.pipeline(transaction=False)
        if ttl > 0:
            pipe.set(PREFIX + key, json.dumps(decision, separators=(",", ":")), ex=ttl)
        if keep > 0:
            pipe.lpush(log_key(tenant), json.dumps(record, separators=(",", ":")))
            pipe.ltrim(log_key(tenant), 0, keep - 1)
        await pipe.execute()

    async def recent(self, tenant: str, *, limit: int) -> list[Mapping[str, Any]]:
        """The tenant's most recent decisions, newest first."""
        if limit <= 0:
            return []
        raw = await self._client.lrange(log_key(tenant), 0, limit - 1)
        return [dict(json.loads(item)) for item in raw]
