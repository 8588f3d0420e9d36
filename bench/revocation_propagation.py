"""Benchmark: a logout on API instance A rejected by instance B — propagation p50/p99.

    source ~/.local/state/caas-stack/env; .venv/bin/python bench/revocation_propagation.py

Two `caas-api` processes on the stack. Per sample: log in on A, check the token works on B,
log out on A, then poll B's `/v1/auth/me` until it answers 401. The latency is measured from
the moment A answered the logout (the revocation is durable and broadcast by then) to B's first
401; polling every millisecond bounds the measurement error. Target p99 < 500 ms. The time A
took to answer the logout is reported too: a faster answer moves the starting line, not B.
"""

import os
import statistics
import sys
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from auth_common import api_server, seeded_key, table

SAMPLES = int(os.environ.get("BENCH_SAMPLES", "100"))
_TIMEOUT = 5.0


def _sample(a: httpx.Client, b: httpx.Client, api_key: str, i: int) -> tuple[float, float]:
    """(A's logout answer time, then B's rejection after that answer), in seconds."""
    tokens = a.post(
        "/v1/auth/sdk/token", headers={"X-API-Key": api_key}, json={"userId": f"user-{i}"}
    ).json()
    bearer = {"Authorization": f"Bearer {tokens['accessToken']}"}
    assert b.get("/v1/auth/me", headers=bearer).status_code == 200
    sent = time.perf_counter()
    assert a.post("/v1/auth/logout", headers=bearer).status_code == 204
    answered = time.perf_counter()
    while time.perf_counter() - answered < _TIMEOUT:
        if b.get("/v1/auth/me", headers=bearer).status_code == 401:
            return answered - sent, time.perf_counter() - answered
        time.sleep(0.001)
    raise RuntimeError(f"instance B still accepted the token after {_TIMEOUT}s")


def main() -> None:
    """Print p50/p95/p99/max over SAMPLES logouts."""
    relaxed = {
        "CAAS_RATE_LIMIT_PER_MINUTE": "0",
        "CAAS_USER_RATE_LIMIT_PER_MINUTE": "0",
        "CAAS_TENANT_RATE_LIMIT_PER_MINUTE": "0",
    }
    with (
        seeded_key() as key,
        api_server(**relaxed) as url_a,
        api_server(**relaxed) as url_b,
        httpx.Client(base_url=url_a) as a,
        httpx.Client(base_url=url_b) as b,
    ):
        for i in range(3):  # warm up both instances and the consumer
            _sample(a, b, key.api_key, -1 - i)
        samples = [_sample(a, b, key.api_key, i) for i in range(SAMPLES)]
    latencies = sorted(after * 1000 for _, after in samples)
    answers = sorted(answer * 1000 for answer, _ in samples)
    quantiles = statistics.quantiles(latencies, n=100, method="inclusive")
    table(
        [
            ("samples", str(len(latencies))),
            (
                "A's logout answer p50 / p99 (ms)",
                f"{statistics.median(answers):.1f} / "
                f"{statistics.quantiles(answers, n=100, method='inclusive')[98]:.1f}",
            ),
            ("p50 (ms)", f"{quantiles[49]:.1f}"),
            ("p95 (ms)", f"{quantiles[94]:.1f}"),
            ("p99 (ms, target < 500)", f"{quantiles[98]:.1f}"),
            ("max (ms)", f"{latencies[-1]:.1f}"),
        ]
    )


if __name__ == "__main__":
    main()
