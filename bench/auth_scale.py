"""Benchmark: auth latency as the data grows — 0, 100,000 and 1,000,000 existing records.

    source ~/.local/state/caas-stack/env; .venv/bin/python bench/auth_scale.py

One API process (`python -m caas_control_plane`, pinned to CPU 0, MongoDB as the API's own user)
answers serial requests from this script; at each level the same measures are taken:
- issuance: `POST /v1/auth/sdk/token` (API key, rate limits raised out of the way);
- refresh: `POST /v1/auth/refresh` of a refresh token issued just before (a rotation);
- session listing: `GET /v1/sessions` for one user who has 3 sessions;
- control: `GET /health` (no backend I/O), taken in turn with the three above, so that a change
  of the machine's load between levels shows;
- API-key lookup: `ApiKeyStore.authenticate` called directly from this process (as the API user)
  — the store read the API does when its 5-second key cache misses: one `find_one` by `_id` (the
  key id the presented key carries) and the constant-time hash compare.

Between levels the collections are grown with records of the shapes the stores write, by
`insert_many` batches of 10,000 from several writer processes as the stack's administrator:
- sessions: in the measured tenant's own database (`tenant_<name>.sessions`, with the indexes
  the operator gives every tenant), spread over 100,000 other users (10 each at 1,000,000);
- refresh families (`caas_platform.refresh_families`): a fifth in the measured tenant, the rest
  in four other tenants, over 50,000 users per tenant;
- API keys (`caas_platform.api_keys`): in four other tenants.
After seeding, the measurement waits until MongoDB's own CPU use has settled (checkpoints,
eviction). Everything seeded is deleted at the end (and any leftover of an interrupted run at the
start).

Target (issue 8): p50 at 1,000,000 within 1.5x of p50 at 0.
"""

import asyncio
import os
import secrets
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from pymongo import AsyncMongoClient, MongoClient

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "operator"))

from auth_common import api_env, api_server, cpu_seconds, stack_env
from caas_core.adapters import mongo
from caas_core.adapters.api_key_store import ApiKeyStore
from caas_core.domain.api_key_records import ApiKeyRecord, KeyWriter, to_document
from caas_core.domain.api_keys import format_api_key, hash_api_key, new_api_key
from caas_core.domain.collections import PLATFORM_COLLECTIONS, TENANT_COLLECTIONS
from caas_core.domain.naming import database_name

LEVELS = tuple(int(n) for n in os.environ.get("BENCH_LEVELS", "0,100000,1000000").split(","))
SAMPLES = int(os.environ.get("BENCH_SAMPLES", "300"))
WRITERS = int(os.environ.get("BENCH_WRITERS", "3"))
BATCH = 10_000
CHUNK = 100_000  # records per writer task
PREFIX = "bench-scale-"
# In the environment, so writer processes name the same tenants however they are started.
RUN = os.environ.setdefault("BENCH_SCALE_RUN", secrets.token_hex(3))
TENANT = f"{PREFIX}{RUN}"
OTHERS = tuple(f"{PREFIX}{RUN}-o{i}" for i in range(4))
PLATFORM = "caas_platform"
LIMITS = {
    "CAAS_RATE_LIMIT_PER_MINUTE": "100000000",
    "CAAS_TENANT_RATE_LIMIT_PER_MINUTE": "100000000",
    "CAAS_USER_RATE_LIMIT_PER_MINUTE": "100000000",
    "CAAS_IP_RATE_LIMIT_PER_MINUTE": "100000000",
    "CAAS_RATE_LIMIT_BURST": "1000000",
}


# --- seeding (runs in writer processes) ---------------------------------------------------------


def _family(i: int, now: datetime) -> dict[str, Any]:
    tenant = TENANT if i % 5 == 0 else OTHERS[i % 4]
    return {
        "_id": "fam_" + secrets.token_urlsafe(24), "tenant": tenant,
        "user": f"seed-user-{i % 50_000}", "session": "ses_" + secrets.token_urlsafe(24),
        "currentHash": secrets.token_hex(32), "previousHashes": [], "rotatedAt": None,
        "expiresAt": now + timedelta(days=30), "state": "active", "reason": None,
        "revokedAt": None, "createdAt": now,
    }  # fmt: skip


def _session(i: int, now: datetime) -> dict[str, Any]:
    session = "ses_" + secrets.token_urlsafe(24)
    return {
        "_id": session, "session_id": session, "user_id": f"seed-user-{i % 100_000}",
        "family_id": "fam_" + secrets.token_urlsafe(24), "created_at": now,
        "last_seen_at": now, "expires_at": now + timedelta(days=30),
        "device": {"device_id": f"device-{i}", "name": None, "platform": "ios",
                   "fingerprint": None, "app_version": "1.0.0"},
        "ip": "10.0.0.1", "user_agent": "bench-seed/1.0", "api_key_id": "seedkey0000000000",
        "revoked_at": None, "revoked_reason": None,
    }  # fmt: skip


def _api_key(i: int, now: datetime) -> dict[str, Any]:
    record = ApiKeyRecord(
        key_id=secrets.token_hex(8), tenant=OTHERS[i % 4], name=f"seed key {i}",
        key_hash=secrets.token_hex(32), scopes=("auth:issue",), managed_by=KeyWriter.API,
        created_at=now,
    )  # fmt: skip
    return to_document(record)


_SHAPES: dict[str, Callable[[int, datetime], dict[str, Any]]] = {
    "sessions": _session,
    "refresh_families": _family,
    "api_keys": _api_key,
}


def _target(kind: str) -> tuple[str, str]:
    return (database_name(TENANT), "sessions") if kind == "sessions" else (PLATFORM, kind)


def _seed_chunk(kind: str, start: int, count: int) -> int:
    """Insert `count` records of one kind, numbered from `start`, in batches of BATCH."""
    client: MongoClient[dict[str, Any]] = MongoClient(stack_env()["MONGODB_URI"])
    db_name, collection = _target(kind)
    target = client[db_name][collection]
    make = _SHAPES[kind]
    try:
        for first in range(start, start + count, BATCH):
            now = datetime.now(UTC)
            n = min(BATCH, start + count - first)
            target.insert_many([make(i, now) for i in range(first, first + n)], ordered=False)
        return count
    finally:
        client.close()


def seed(have: int, want: int) -> float:
    """Grow every seeded collection from `have` to `want` records; returns the seconds taken."""
    jobs = [
        (kind, first, min(CHUNK, want - first))
        for first in range(have, want, CHUNK)
        for kind in _SHAPES
    ]
    started = time.monotonic()
    with ProcessPoolExecutor(WRITERS) as pool:
        for _ in pool.map(_seed_chunk, *zip(*jobs, strict=True)):
            pass
    return time.monotonic() - started


def cleanup() -> None:
    """Delete everything this benchmark seeded (also what an interrupted run left)."""
    client: MongoClient[dict[str, Any]] = MongoClient(stack_env()["MONGODB_URI"])
    try:
        mine = {"tenant": {"$regex": f"^{PREFIX}"}}
        for name in ("refresh_families", "api_keys", "security_audit_logs", "outbox"):
            client[PLATFORM][name].delete_many(mine)
        prefix = database_name(PREFIX + "x")[:-1]
        for name in client.list_database_names():
            if name.startswith(prefix):
                client.drop_database(name)
    finally:
        client.close()


# --- measuring -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Figures:
    """Median and 99th percentile of one measure, in milliseconds."""

    p50: float
    p99: float

    @classmethod
    def of(cls, seconds: list[float]) -> "Figures":
        ordered = sorted(seconds)
        return cls(statistics.median(ordered) * 1e3, ordered[int(0.99 * (len(ordered) - 1))] * 1e3)


def _timed(call: Callable[[], httpx.Response]) -> tuple[float, httpx.Response]:
    started = time.perf_counter()
    response = call()
    elapsed = time.perf_counter() - started
    response.raise_for_status()
    return elapsed, response


def measure_http(url: str, api_key: str, *, level: int) -> dict[str, Figures]:
    """Issuance, refresh, session listing and a control (`GET /health`, no backend I/O), one of
    each in turn, SAMPLES times: all four see the same moments of the machine's load."""
    issue_body = lambda user: {"userId": user, "device": {"deviceId": "d1", "platform": "ios"}}  # noqa: E731
    with httpx.Client(base_url=url, headers={"X-API-Key": api_key}, timeout=30) as http:
        token = lambda user: http.post("/v1/auth/sdk/token", json=issue_body(user))  # noqa: E731
        for i in range(100):  # warm-up (the first level's process is fresh)
            warm = token(f"warm-{level}-{i}")
            if warm.status_code != 200:
                sys.exit(f"issuance answered {warm.status_code}: {warm.text}")
        access = ""
        for _ in range(3):  # the listed user has three sessions
            access = token(f"list-user-{level}").json()["accessToken"]
        bearer = {"Authorization": f"Bearer {access}"}
        issuance, refresh, listing, control = [], [], [], []
        for i in range(SAMPLES):
            elapsed, response = _timed(lambda i=i: token(f"user-{level}-{i}"))
            issuance.append(elapsed)
            presented = response.json()["refreshToken"]
            elapsed, _ = _timed(
                lambda t=presented: http.post(
                    "/v1/auth/refresh", json={"refreshToken": t}, headers={"X-API-Key": ""}
                )
            )
            refresh.append(elapsed)
            elapsed, response = _timed(lambda: http.get("/v1/sessions", headers=bearer))
            listing.append(elapsed)
            assert len(response.json()["items"]) == 3, response.json()
            elapsed, _ = _timed(lambda: http.get("/health"))
            control.append(elapsed)
    return {
        "issuance (POST /v1/auth/sdk/token)": Figures.of(issuance),
        "refresh (POST /v1/auth/refresh)": Figures.of(refresh),
        "session listing (GET /v1/sessions)": Figures.of(listing),
        "control: GET /health (no backend I/O)": Figures.of(control),
    }


async def measure_key_lookup(api_key: str) -> Figures:
    """ApiKeyStore.authenticate (find_one by _id + hash compare), as the API's MongoDB user."""
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        api_env()["MONGODB_URI"], tz_aware=True
    )
    store = ApiKeyStore(client[PLATFORM])
    try:
        samples = []
        for i in range(SAMPLES + 20):
            started = time.perf_counter()
            record = await store.authenticate(api_key, now=datetime.now(UTC))
            if i >= 20:  # after a warm-up
                samples.append(time.perf_counter() - started)
            assert record is not None
        return Figures.of(samples)
    finally:
        await client.close()


@contextmanager
def measured_tenant() -> Iterator[str]:
    """The measured tenant: its database and indexes (as the operator makes them), one API key
    holding every scope; yields the presented key."""

    async def prepare() -> str:
        client = mongo.connect(stack_env()["MONGODB_URI"])
        try:
            await mongo.ensure_database(client, database=PLATFORM, collections=PLATFORM_COLLECTIONS)
            await mongo.ensure_database(
                client, database=database_name(TENANT), collections=TENANT_COLLECTIONS
            )
            key = new_api_key()
            record = ApiKeyRecord(
                key_id=key.key_id, tenant=TENANT, name="bench", key_hash=hash_api_key(key),
                scopes=("*",), managed_by=KeyWriter.API, created_at=datetime.now(UTC),
            )  # fmt: skip
            await ApiKeyStore(client[PLATFORM]).insert(record)
            return format_api_key(key)
        finally:
            await client.close()

    cleanup()
    try:
        yield asyncio.run(prepare())
    finally:
        started = time.monotonic()
        cleanup()
        print(f"seeded data deleted in {time.monotonic() - started:.0f} s")


def _counts() -> str:
    client: MongoClient[dict[str, Any]] = MongoClient(stack_env()["MONGODB_URI"])
    try:
        return ", ".join(
            f"{name} {client[db][name].estimated_document_count():,}"
            for db, name in (
                (database_name(TENANT), "sessions"),
                (PLATFORM, "refresh_families"),
                (PLATFORM, "api_keys"),
            )
        )
    finally:
        client.close()


def settle(limit: float = 180.0) -> float:
    """Wait until MongoDB has digested the seeding (its CPU below a quarter of a core over 5 s,
    e.g. checkpoints and eviction done), at most `limit` seconds; returns the seconds waited."""
    home = Path(os.environ.get("CAAS_STACK_HOME", Path.home() / ".local/state/caas-stack"))
    try:
        pid = int((home / "run" / "mongodb.pid").read_text().split()[0])
        cpu_seconds(pid)
    except (OSError, ValueError, IndexError):
        return 0.0
    started = time.monotonic()
    while time.monotonic() - started < limit:
        before = cpu_seconds(pid)
        time.sleep(5)
        if (cpu_seconds(pid) - before) / 5 < 0.25:
            break
    return time.monotonic() - started


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    """Seed up to each level in turn, measure at each, report, delete what was seeded."""
    results: dict[int, dict[str, Figures]] = {}
    seeded = 0
    print(f"tenant {TENANT}; load average {_load()}", flush=True)
    with measured_tenant() as api_key, api_server(**LIMITS) as url:
        for level in LEVELS:
            if level > seeded:
                seconds = seed(seeded, level)
                added = (level - seeded) * len(_SHAPES)
                print(
                    f"seeded {seeded:,} -> {level:,} per collection: {added:,} records in "
                    f"{seconds:.0f} s ({added / seconds:,.0f}/s); load {_load()}",
                    flush=True,
                )
                seeded = level
                print(f"MongoDB settled after {settle():.0f} s; load {_load()}", flush=True)
            figures = measure_http(url, api_key, level=level)
            figures["API-key lookup (ApiKeyStore.authenticate)"] = asyncio.run(
                measure_key_lookup(api_key)
            )
            results[level] = figures
            print(f"measured at {level:,} ({_counts()}); load {_load()}", flush=True)
    names = list(results[LEVELS[0]])
    width = max(len(name) for name in names)
    print(f"\np50 / p99 (ms), {SAMPLES} serial samples per cell")
    header = "  ".join(f"{level:>15,}" for level in LEVELS)
    print(f"{'measure':<{width}}  {header}  p50 last/first")
    for name in names:
        cells = "  ".join(
            f"{results[lv][name].p50:>6.2f} / {results[lv][name].p99:>6.2f}" for lv in LEVELS
        )
        ratio = results[LEVELS[-1]][name].p50 / results[LEVELS[0]][name].p50
        print(f"{name:<{width}}  {cells}  {ratio:.2f}")


if __name__ == "__main__":
    main()
