"""Benchmark: `POST /v1/auth/sdk/token` req/s against a bare FastAPI JSON endpoint, same run.

    source ~/.local/state/caas-stack/env; .venv/bin/python bench/auth_issuance.py

Both servers run as uvicorn processes pinned to one CPU; wrk drives them from the other CPU
(`BENCH_SECONDS`, `BENCH_CONNECTIONS`). Rate limits are raised out of the way (the limiter's own
cost is `bench/rate_limiter.py`); everything else — API-key check, session, refresh family,
audit event and its outbox message, EdDSA signing — is on the measured path.
"""

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from auth_common import api_server, bare_server, seeded_key, table, wrk

SECONDS = int(os.environ.get("BENCH_SECONDS", "10"))
CONNECTIONS = int(os.environ.get("BENCH_CONNECTIONS", "64"))


def main() -> None:
    """Measure the bare baseline, then issuance, and print the ratio."""
    body = {"userId": "bench-user", "device": {"deviceId": "d1", "platform": "ios"}}
    with bare_server() as url:
        wrk(f"{url}/bare", method="POST", body=body, seconds=2, connections=CONNECTIONS)
        bare = wrk(f"{url}/bare", method="POST", body=body, seconds=SECONDS,
                   connections=CONNECTIONS)  # fmt: skip
    with (
        seeded_key() as key,
        api_server(
            CAAS_RATE_LIMIT_PER_MINUTE="100000000",
            CAAS_TENANT_RATE_LIMIT_PER_MINUTE="100000000",
            CAAS_RATE_LIMIT_BURST="1000000",
        ) as url,
    ):
        target = f"{url}/v1/auth/sdk/token"
        headers = {"X-API-Key": key.api_key}
        wrk(target, method="POST", body=body, headers=headers, seconds=2, connections=CONNECTIONS)
        issue = wrk(target, method="POST", body=body, headers=headers, seconds=SECONDS,
                    connections=CONNECTIONS)  # fmt: skip
    if issue.non_2xx or bare.non_2xx:
        sys.exit(f"non-2xx answers: issuance {issue.non_2xx}, bare {bare.non_2xx}")
    table(
        [
            ("bare FastAPI JSON endpoint (req/s)", f"{bare.requests_per_second:.0f}"),
            ("bare p50 / p99 (ms)", f"{bare.p50_ms:.1f} / {bare.p99_ms:.1f}"),
            ("POST /v1/auth/sdk/token (req/s)", f"{issue.requests_per_second:.0f}"),
            ("issuance p50 / p99 (ms)", f"{issue.p50_ms:.1f} / {issue.p99_ms:.1f}"),
            ("issuance / bare (target >= 0.5)",
             f"{issue.requests_per_second / bare.requests_per_second:.2f}"),
        ]
    )  # fmt: skip


if __name__ == "__main__":
    main()
