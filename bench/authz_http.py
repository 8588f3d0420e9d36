"""What a decision costs through HTTP: `POST /v1/security/authorize`, serial requests.

Against `GET /v1/tenant` (the same API-key authentication and rate limit, one MongoDB read) in
the same API process and run. Measured: a repeated request (served from the Redis decision
cache), distinct requests (each computed by the engine and cached), the cache switched off, and
with every decision audited (the default sample, 1.0) instead of denies only (sample 0).

    source ~/.local/state/caas-stack/env && .venv/bin/python bench/authz_http.py
"""

import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from auth_common import ROOT, api_server, seeded_key, stack_env, table

N = 2000
UNLIMITED = {
    "CAAS_RATE_LIMIT_PER_MINUTE": "100000000",
    "CAAS_TENANT_RATE_LIMIT_PER_MINUTE": "100000000",
    "CAAS_RATE_LIMIT_BURST": "1000000",
}
SCHEMA = {
    "entityTypes": {"User": {}, "Channel": {}},
    "actions": {"read": {}, "write": {}},
    "context": {"ip": {"type": "ipaddr", "required": False}},
}


def _percentiles(run: Callable[[int], object], n: int = N) -> tuple[float, float]:
    for i in range(50):  # warm-up
        run(i)
    times = []
    for i in range(n):
        start = time.perf_counter()
        run(i)
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.99)]


def _ask(resource: str) -> dict[str, Any]:
    return {
        "principal": {"type": "User", "id": "u"},
        "action": "read",
        "resource": {"type": "Channel", "id": resource},
        "context": {"ip": "10.0.0.1"},
    }


def _measure(url: str, headers: dict[str, str], label: str) -> list[tuple[str, str]]:
    rows = []
    with httpx.Client(base_url=url, headers=headers, timeout=30) as client:

        def tenant(_: int) -> None:
            response = client.get("/v1/tenant")
            assert response.status_code == 200, response.text

        def cached(_: int) -> None:
            assert client.post("/v1/security/authorize", json=_ask("c")).json()["allowed"]

        def distinct(i: int) -> None:
            response = client.post("/v1/security/authorize", json=_ask(f"{label}-{i}"))
            assert response.json()["allowed"]

        for name, run in (("GET /v1/tenant", tenant), ("same request", cached),
                          ("distinct requests", distinct)):  # fmt: skip
            p50, p99 = _percentiles(run)
            rows.append((f"{label}: {name} p50 / p99 ms", f"{p50:.2f} / {p99:.2f}"))
    return rows


def main() -> None:
    """Seed a tenant with a schema and 50 policies, then measure each configuration."""
    stack_env()
    sys.path.insert(0, str(ROOT / "operator"))
    rows: list[tuple[str, str]] = []
    with seeded_key(scopes=("*",)) as key:
        headers = {"X-API-Key": key.api_key}
        configs = {
            "cache, denies logged": {"CAAS_AUTHZ_DECISION_LOG_SAMPLE": "0"},
            "no cache, denies logged": {
                "CAAS_AUTHZ_DECISION_LOG_SAMPLE": "0",
                "CAAS_AUTHZ_DECISION_CACHE_SECONDS": "0",
                "CAAS_AUTHZ_RECENT_DECISIONS": "0",
            },
            "cache, every decision logged": {},
        }
        seeded = False
        for label, overrides in configs.items():
            with api_server(**UNLIMITED, **overrides) as url:
                if not seeded:
                    with httpx.Client(base_url=url, headers=headers) as client:
                        client.put("/v1/security/schema", json=SCHEMA).raise_for_status()
                        for i in range(49):
                            client.put(
                                f"/v1/security/policies/p{i}",
                                json={
                                    "effect": "permit",
                                    "principal": {
                                        "op": "==",
                                        "entity": {"type": "User", "id": f"x{i}"},
                                    },
                                },
                            ).raise_for_status()
                        client.put(
                            "/v1/security/policies/read",
                            json={"effect": "permit", "action": {"op": "==", "actions": ["read"]}},
                        ).raise_for_status()
                    seeded = True
                rows.extend(_measure(url, headers, label))
        rows.extend(_version_reads(key.tenant))
        _cleanup(key.tenant)
    table(rows)


def _version_reads(tenant: str) -> list[tuple[str, str]]:
    """The per-request version read, as MongoDB (what the API does) and as a Redis GET."""
    import redis  # noqa: PLC0415
    from pymongo import MongoClient  # noqa: PLC0415

    env = stack_env()
    mongo: MongoClient[dict[str, Any]] = MongoClient(env["MONGODB_URI"])
    versions = mongo["caas_platform"]["authorization_versions"]
    cache = redis.Redis.from_url(env["REDIS_URL"])
    cache.set(f"caas:bench-version:{tenant}", "1", ex=60)
    try:
        mongo_p50, mongo_p99 = _percentiles(
            lambda _: versions.find_one({"_id": tenant}, {"version": 1})
        )
        redis_p50, redis_p99 = _percentiles(lambda _: cache.get(f"caas:bench-version:{tenant}"))
    finally:
        cache.delete(f"caas:bench-version:{tenant}")
        mongo.close()
    return [
        ("version read, MongoDB find_one(_id) p50 / p99 ms", f"{mongo_p50:.3f} / {mongo_p99:.3f}"),
        ("version read, Redis GET p50 / p99 ms", f"{redis_p50:.3f} / {redis_p99:.3f}"),
    ]


def _cleanup(tenant: str) -> None:
    import asyncio  # noqa: PLC0415

    from pymongo import AsyncMongoClient  # noqa: PLC0415

    from caas_core.adapters.authz_store import AuthzStore  # noqa: PLC0415

    async def run() -> None:
        client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(stack_env()["MONGODB_URI"])
        await AuthzStore(client["caas_platform"]).delete_tenant(tenant)
        await client.close()

    asyncio.run(run())


if __name__ == "__main__":
    main()
