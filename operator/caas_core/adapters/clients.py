"""The three backend clients opened together from BackendSettings, with their probes."""

from dataclasses import dataclass
from typing import Any

from confluent_kafka.admin import AdminClient
from pymongo import AsyncMongoClient
from redis.asyncio import Redis

from caas_core.adapters import kafka, mongo, redis
from caas_core.domain.health import KAFKA, MONGODB, REDIS, Probe, ProbeResult
from caas_core.settings import BackendSettings


@dataclass(frozen=True, slots=True, kw_only=True)
class BackendClients:
    """Lazily connecting MongoDB, Kafka admin and Redis clients."""

    mongo: AsyncMongoClient[dict[str, Any]]
    kafka: AdminClient
    redis: Redis

    @classmethod
    def open(cls, settings: BackendSettings, *, app_name: str) -> "BackendClients":
        """Create the clients; none of them does I/O until first used."""
        timeout = settings.backend_timeout
        return cls(
            mongo=mongo.connect(
                settings.mongodb_uri.get_secret_value(), timeout=timeout, app_name=app_name
            ),
            kafka=kafka.connect(
                settings.kafka_bootstrap_servers, client_id=app_name, timeout=timeout
            ),
            redis=redis.connect(settings.redis_url.get_secret_value(), timeout=timeout),
        )

    async def close(self) -> None:
        """Release connections (the Kafka admin client holds no pool worth closing)."""
        await self.mongo.close()
        await self.redis.aclose()

    def probes(self, *, timeout: float) -> dict[str, Probe]:
        """One probe per backend, named mongodb, kafka and redis."""

        async def probe_mongo() -> ProbeResult:
            return await mongo.ping(self.mongo, timeout=timeout)

        async def probe_kafka() -> ProbeResult:
            return await kafka.ping(self.kafka, timeout=timeout)

        async def probe_redis() -> ProbeResult:
            return await redis.ping(self.redis, timeout=timeout)

        return {MONGODB: probe_mongo, KAFKA: probe_kafka, REDIS: probe_redis}
