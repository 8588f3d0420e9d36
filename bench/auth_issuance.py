"""Benchmark: `POST /v1/auth/sdk/token` req/s against a bare FastAPI JSON endpoint, same run.

    source ~/.local/state/caas-stack/env; .venv/bin/python bench/auth_issuance.py

Both servers run as uvicorn processes pinned to one CPU; wrk drives them from the other CPU
(`BENCH_SECONDS`, `BENCH_CONNECTIONS`). Rate limits are raised out of the way (the limiter's own
cost is `bench/rate_limiter.py`); everything else — API-key check, rate-limit round trip,
session, refresh family, audit event (one outbox message, journaled and published by the relay),
EdDSA signing — is on the measured path.

Two more references, same run, to say where the time goes:
- the floor: `POST /floor` of the bare app, one Redis script call and one Ed25519 signature —
  the least an endpoint rate-limited in Redis and answering with a signed token costs;
- the storage ceiling: the documents one login leaves in MongoDB (refresh family, session,
  outbox message, audit-log entry, and the outbox delete) written directly with pymongo, by 4
  writers in batches of 64 — how many logins per second the database can take at all.
"""

import asyncio
import os
import secrets
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pymongo import AsyncMongoClient

sys.path.insert(0, str(Path(__file__).resolve().parent))

from auth_common import (
    api_server,
    bare_server,
    cpu_seconds,
    seeded_key,
    server_pid,
    stack_env,
    table,
    wrk,
)

SECONDS = int(os.environ.get("BENCH_SECONDS", "10"))
CONNECTIONS = int(os.environ.get("BENCH_CONNECTIONS", "64"))


def _login_documents(tenant: str, n: int) -> dict[str, list[dict[str, Any]]]:
    """Documents of the shape and size one login writes, for `n` logins."""
    now = datetime.now(UTC)
    out: dict[str, list[dict[str, Any]]] = {"families": [], "sessions": [], "outbox": []}
    for _ in range(n):
        family, session = "fam_" + secrets.token_urlsafe(16), "ses_" + secrets.token_urlsafe(16)
        out["families"].append({
            "_id": family, "tenant": tenant, "user": "bench-user", "session": session,
            "currentHash": secrets.token_hex(32), "previousHashes": [], "rotatedAt": None,
            "expiresAt": now + timedelta(days=30), "state": "active", "reason": None,
            "revokedAt": None, "createdAt": now,
        })  # fmt: skip
        out["sessions"].append({
            "_id": session, "session_id": session, "user_id": "bench-user", "family_id": family,
            "created_at": now, "last_seen_at": now, "expires_at": now + timedelta(days=30),
            "device": {"device_id": "d1", "name": None, "platform": "ios", "fingerprint": None,
                       "app_version": None},
            "ip": "127.0.0.1", "user_agent": "wrk", "api_key_id": "k", "revoked_at": None,
            "revoked_reason": None,
        })  # fmt: skip
        event = {
            "id": secrets.token_hex(16), "at": now.isoformat(), "action": "auth.token.issued",
            "outcome": "success", "actor": {"type": "api_key", "id": "k"}, "tenant": tenant,
            "target": {"type": "session", "id": session}, "ip": "127.0.0.1", "userAgent": "wrk",
            "requestId": secrets.token_hex(16),
            "details": {"userId": "bench-user", "deviceId": "d1", "jti": secrets.token_hex(8)},
        }  # fmt: skip
        out["outbox"].append({
            "_id": event["id"], "topic": "platform.audit", "key": tenant, "payload": event,
            "headers": {}, "createdAt": now, "claimUntil": now, "attempts": 0,
            "journal": "bench_audit",
        })  # fmt: skip
    return out


async def _storage_ceiling(seconds: float) -> float:
    """Logins per second the database takes when a login's writes are all it does."""
    mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(stack_env()["MONGODB_URI"])
    tenant = f"bench-{secrets.token_hex(3)}"
    platform, tenant_db = mongo["bench_platform"], mongo[f"bench_{tenant.replace('-', '_')}"]
    done = 0
    deadline = time.monotonic() + seconds

    async def writer() -> None:
        nonlocal done
        while time.monotonic() < deadline:
            docs = _login_documents(tenant, 64)
            await asyncio.gather(
                platform["families"].insert_many(docs["families"], ordered=False),
                tenant_db["sessions"].insert_many(docs["sessions"], ordered=False),
                platform["outbox"].insert_many(docs["outbox"], ordered=False),
            )
            ids = [doc["_id"] for doc in docs["outbox"]]
            entries = [{**doc["payload"], "_id": doc["_id"]} for doc in docs["outbox"]]
            await platform["bench_audit"].insert_many(entries, ordered=False)
            await platform["outbox"].delete_many({"_id": {"$in": ids}})
            done += len(ids)

    started = time.monotonic()
    try:
        await asyncio.gather(*(writer() for _ in range(4)))
        return done / (time.monotonic() - started)
    finally:
        await mongo.drop_database(platform.name)
        await mongo.drop_database(tenant_db.name)
        await mongo.close()


def _with_cpu(pid: int, run: Any) -> tuple[Any, float]:
    """Run `run()` (one wrk measurement); also return the server's CPU ms per request."""
    before = cpu_seconds(pid)
    started = time.monotonic()
    result = run()
    used = cpu_seconds(pid) - before
    requests = result.requests_per_second * (time.monotonic() - started)
    return result, used / requests * 1e3


def main() -> None:
    """Measure the bare baseline and the floor, then issuance, then the storage ceiling."""
    body = {"userId": "bench-user", "device": {"deviceId": "d1", "platform": "ios"}}
    with bare_server(floor=True) as url:
        wrk(f"{url}/bare", method="POST", body=body, seconds=2, connections=CONNECTIONS)
        pid = server_pid()

        def drive(path: str) -> Any:
            return wrk(f"{url}{path}", method="POST", body=body, seconds=SECONDS,
                       connections=CONNECTIONS)  # fmt: skip

        bare, bare_cpu = _with_cpu(pid, lambda: drive("/bare"))
        floor, floor_cpu = _with_cpu(pid, lambda: drive("/floor"))
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
        issue, issue_cpu = _with_cpu(server_pid(), lambda: wrk(
            target, method="POST", body=body, headers=headers, seconds=SECONDS,
            connections=CONNECTIONS))  # fmt: skip
    ceiling = asyncio.run(_storage_ceiling(SECONDS))
    if issue.non_2xx or bare.non_2xx or floor.non_2xx:
        sys.exit(f"non-2xx: issuance {issue.non_2xx}, bare {bare.non_2xx}, floor {floor.non_2xx}")
    table(
        [
            ("bare FastAPI JSON endpoint (req/s)", f"{bare.requests_per_second:.0f}"),
            ("bare p50 / p99 (ms)", f"{bare.p50_ms:.1f} / {bare.p99_ms:.1f}"),
            ("floor: Redis call + Ed25519 signature (req/s)", f"{floor.requests_per_second:.0f}"),
            ("floor / bare", f"{floor.requests_per_second / bare.requests_per_second:.2f}"),
            ("storage ceiling (a login's writes, logins/s)", f"{ceiling:.0f}"),
            ("POST /v1/auth/sdk/token (req/s)", f"{issue.requests_per_second:.0f}"),
            ("issuance p50 / p99 (ms)", f"{issue.p50_ms:.1f} / {issue.p99_ms:.1f}"),
            ("issuance / bare (target >= 0.5)",
             f"{issue.requests_per_second / bare.requests_per_second:.2f}"),
            ("issuance / storage ceiling", f"{issue.requests_per_second / ceiling:.2f}"),
            ("issuance / lower of floor and ceiling (target >= 0.8)",
             f"{issue.requests_per_second / min(floor.requests_per_second, ceiling):.2f}"),
            ("server CPU per request, bare / floor / issuance (ms)",
             f"{bare_cpu:.2f} / {floor_cpu:.2f} / {issue_cpu:.2f}"),
            ("load average", " ".join(f"{x:.1f}" for x in os.getloadavg())),
        ]
    )  # fmt: skip


if __name__ == "__main__":
    main()
