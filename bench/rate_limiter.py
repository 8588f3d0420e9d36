"""Benchmark: the Redis GCRA rate limiter's overhead on a real route, and its raw round trip.

    source ~/.local/state/caas-stack/env; .venv/bin/python bench/rate_limiter.py

1. `GET /v1/auth/me` (verify the Bearer token, charge user + tenant limits and the usage
   counter in one Lua call) on one `caas-api` process, driven by wrk from another CPU, with the
   limiter on (limits far above the load) — against the same route on a second process whose
   limiter is replaced by one that never calls Redis (`_LIMITER_OFF`; limits of 0 would still
   count usage in Redis, so they are not "no limiter").
2. The script's own round trip (`RateLimiter.hit`, two limits + usage) from this process.
"""

import asyncio
import os
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
from redis.asyncio import Redis

sys.path.insert(0, str(Path(__file__).resolve().parent))

from auth_common import (
    PYTHON,
    SECRET,
    _pin,
    _process,
    api_env,
    free_port,
    seeded_key,
    stack_env,
    table,
    wrk,
)
from caas_control_plane.stores.rate_limit import Limit, RateLimiter, Usage

SECONDS = int(os.environ.get("BENCH_SECONDS", "8"))
CONNECTIONS = int(os.environ.get("BENCH_CONNECTIONS", "32"))
# Runs the API with the limiter replaced by one without Redis (the baseline); same everything else.
_LIMITER_OFF = """
import sys
import caas_control_plane.runtime as runtime_module
from caas_control_plane.services.rate_limits import RequestLimits

original = runtime_module.RequestLimits
def no_redis(limiter, **kwargs):
    return original(None, **kwargs)
runtime_module.RequestLimits = no_redis
from caas_control_plane.__main__ import main
main()
"""
_LIMITER_ON = "from caas_control_plane.__main__ import main; main()"


def _serve(code: str, port: int) -> object:
    env = {
        **os.environ, **api_env(), "CAAS_SECRET_KEY": SECRET, "CAAS_LOG_LEVEL": "warning",
        "CAAS_API_PORT": str(port), "CAAS_RATE_LIMIT_PER_MINUTE": "100000000",
        "CAAS_USER_RATE_LIMIT_PER_MINUTE": "100000000",
        "CAAS_TENANT_RATE_LIMIT_PER_MINUTE": "100000000", "CAAS_RATE_LIMIT_BURST": "1000000",
    }  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    return _process([*_pin(0), PYTHON, "-c", code], env=env, ready_url=f"{url}/internal/ready")


def _measure(code: str, api_key: str) -> tuple[float, float, float]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with _serve(code, port):  # type: ignore[attr-defined]
        token = httpx.post(
            f"{url}/v1/auth/sdk/token", headers={"X-API-Key": api_key}, json={"userId": "bench"}
        ).json()["accessToken"]
        headers = {"Authorization": f"Bearer {token}"}
        wrk(f"{url}/v1/auth/me", headers=headers, seconds=2, connections=CONNECTIONS)
        result = wrk(f"{url}/v1/auth/me", headers=headers, seconds=SECONDS,
                     connections=CONNECTIONS)  # fmt: skip
    if result.non_2xx:
        sys.exit(f"{result.non_2xx} non-2xx answers")
    return result.requests_per_second, result.p50_ms, result.p99_ms


async def _round_trips(n: int = 3000) -> list[float]:
    redis = Redis.from_url(stack_env()["REDIS_URL"])
    limiter = RateLimiter(redis)
    limits = [
        Limit(key="bench:user", per_minute=100_000_000, burst=1_000_000),
        Limit(key="bench:tenant", per_minute=100_000_000, burst=1_000_000),
    ]
    usage = Usage(key="bench:" + datetime.now(UTC).strftime("%Y%m"), fields=("apiCalls",))
    samples = []
    for _ in range(n):
        started = time.perf_counter()
        await limiter.hit(limits, usage=usage)
        samples.append((time.perf_counter() - started) * 1000)
    await redis.delete("caas:rl:bench:user", "caas:rl:bench:tenant", "caas:usage:" + usage.key)
    await redis.aclose()
    return sorted(samples)


def main() -> None:
    """Print both measurements."""
    with seeded_key() as key:
        off = _measure(_LIMITER_OFF, key.api_key)
        on = _measure(_LIMITER_ON, key.api_key)
    trips = asyncio.run(_round_trips())
    q = statistics.quantiles(trips, n=100, method="inclusive")
    table(
        [
            ("GET /v1/auth/me, no limiter (req/s)", f"{off[0]:.0f}"),
            ("GET /v1/auth/me, Redis GCRA limiter (req/s)", f"{on[0]:.0f}"),
            ("throughput kept with the limiter", f"{on[0] / off[0]:.2f}"),
            ("p50 latency without / with (ms)", f"{off[1]:.1f} / {on[1]:.1f}"),
            ("p99 latency without / with (ms)", f"{off[2]:.1f} / {on[2]:.1f}"),
            ("limiter round trip p50 / p99 (ms)", f"{q[49]:.3f} / {q[98]:.3f}"),
        ]
    )


if __name__ == "__main__":
    main()
