"""Usage counters in Redis (`caas:usage:<tenant>:<yyyymm>`), written by the rate limiter."""

from redis.asyncio import Redis

from caas_control_plane.stores.rate_limit import USAGE_PREFIX


class UsageCounters:
    """Reads a tenant's monthly counters."""

    def __init__(self, client: Redis) -> None:
        self._client = client

    async def month(self, key: str) -> dict[str, int]:
        """Every counter of one usage hash (empty when nothing was counted)."""
        raw = await self._client.hgetall(USAGE_PREFIX + key)
        return {_text(name): int(value) for name, value in raw.items()}


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
