"""Benchmark: the local stack's MongoDB server chosen by measurement, every candidate in one run.

    .venv/bin/python bench/mongo_servers.py          # ~2-3 minutes; needs `caasctl stack install`

Candidates (binaries from `~/.cache/caas-stack/bin`, each started by this script on a free
loopback port with a temporary data directory, and stopped afterwards):
- FerretDB v1.24.2 on SQLite (the stack's server until commit 6ad0c59; argv as the stack ran it;
  build it with `build_go(StackConfig.from_env(), FERRETDB_BUILD)` from caasctl.stack.install);
- secantusd-rs with `--sync-on-commit` (the stack's setting: an fsync of the WiredTiger log per
  commit, mongod's j:true) and without it (log flushed in the background).

Both secantusd-rs runs use the stack's other flags (`--log-file-max=16MB --cache-size=256M`) but
not `--auth`: FerretDB has no authentication, and SCRAM costs once per connection, not per
operation.

Measures, per server:
(a) per-operation login writes: what one login leaves in MongoDB written one operation at a time
    (insert into three collections, update by `_id`, delete by `_id`), by 4 concurrent writers
    for `BENCH_SECONDS` (10) → logins/s and operations/s;
(b) serial find and update by `_id` at 1,000 / 10,000 / 40,000 documents (median ms), which says
    whether a point access costs more as the collection grows.

The client is one Python process on the same 2-core machine: its own cost is in every figure,
equally for every server; only same-run ratios mean anything.
"""

import asyncio
import os
import random
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pymongo import AsyncMongoClient, MongoClient

BIN = Path(os.environ.get("CAAS_STACK_CACHE", Path.home() / ".cache" / "caas-stack")) / "bin"
SECONDS = float(os.environ.get("BENCH_SECONDS", "10"))
WRITERS = 4
SIZES = (1_000, 10_000, 40_000)
SAMPLES = int(os.environ.get("BENCH_SAMPLES", "25"))


@dataclass(frozen=True)
class Server:
    """One candidate: a name and how to start it on a port with a data directory."""

    name: str
    argv: Callable[[int, Path], list[str]]


def _secantus(*extra: str) -> Callable[[int, Path], list[str]]:
    def argv(port: int, data: Path) -> list[str]:
        return [
            str(BIN / "secantusd-rs"), "--host=127.0.0.1", f"--port={port}",
            f"--storage-path={data}", "--log-file-max=16MB", "--cache-size=256M",
            "--log-level=WARNING", *extra,
        ]  # fmt: skip

    return argv


def _ferretdb(port: int, data: Path) -> list[str]:
    return [
        str(BIN / "ferretdb"), f"-listen-addr=127.0.0.1:{port}", f"-sqlite-url=file:{data}/",
        "-log-level=warn",
    ]  # fmt: skip


SERVERS = (
    Server("FerretDB v1.24.2 (SQLite)", _ferretdb),
    Server("secantusd-rs --sync-on-commit", _secantus("--sync-on-commit")),
    Server("secantusd-rs (no sync)", _secantus()),
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def running(server: Server) -> Iterator[str]:
    """The server on a free port with a fresh data directory; yields its URI."""
    binary = server.argv(0, Path())[0]
    if not Path(binary).exists():
        sys.exit(f"{binary} missing: build it (caasctl stack install; FerretDB: see docstring)")
    port = _free_port()
    with tempfile.TemporaryDirectory(prefix="bench-mongo-") as data:
        log = Path(data) / "server.log"
        store = Path(data) / "store"
        store.mkdir()
        with log.open("wb") as sink:
            process = subprocess.Popen(
                server.argv(port, store), stdout=sink, stderr=subprocess.STDOUT, cwd=data
            )
        uri = f"mongodb://127.0.0.1:{port}/?directConnection=true"
        try:
            deadline = time.monotonic() + 30
            while True:
                if process.poll() is not None:
                    raise RuntimeError(f"{server.name} exited: {log.read_text()[-2000:]}")
                try:
                    with MongoClient(uri, serverSelectionTimeoutMS=500) as probe:
                        probe.admin.command("ping")
                    break
                except Exception:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.2)
            yield uri
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _session(now: datetime) -> dict[str, Any]:
    """A document of the shape and size of a session (`stores/sessions.py`)."""
    session = "ses_" + secrets.token_urlsafe(16)
    return {
        "_id": session, "session_id": session, "user_id": f"user-{random.randrange(1000)}",
        "family_id": "fam_" + secrets.token_urlsafe(16), "created_at": now, "last_seen_at": now,
        "expires_at": now + timedelta(days=30),
        "device": {"device_id": "d1", "name": None, "platform": "ios", "fingerprint": None,
                   "app_version": None},
        "ip": "127.0.0.1", "user_agent": "bench", "api_key_id": "k", "revoked_at": None,
        "revoked_reason": None,
    }  # fmt: skip


async def login_writes(uri: str, seconds: float) -> float:
    """Logins per second, each written one operation at a time by `WRITERS` writers."""
    mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(uri)
    db = mongo["bench"]
    done = 0

    async def writer(deadline: float) -> None:
        nonlocal done
        while time.monotonic() < deadline:
            now = datetime.now(UTC)
            session = _session(now)
            family = {
                "_id": session["family_id"], "tenant": "t", "user": session["user_id"],
                "session": session["_id"], "currentHash": secrets.token_hex(32),
                "previousHashes": [], "rotatedAt": None, "expiresAt": session["expires_at"],
                "state": "active", "reason": None, "revokedAt": None, "createdAt": now,
            }  # fmt: skip
            message = {
                "_id": secrets.token_hex(16), "topic": "platform.audit", "key": "t",
                "payload": {"action": "auth.token.issued", "target": session["_id"]},
                "createdAt": now, "claimUntil": now, "attempts": 0,
            }  # fmt: skip
            await db["families"].insert_one(family)
            await db["sessions"].insert_one(session)
            await db["outbox"].insert_one(message)
            await db["families"].update_one(
                {"_id": family["_id"]}, {"$set": {"rotatedAt": now, "currentHash": "x" * 64}}
            )
            await db["outbox"].delete_one({"_id": message["_id"]})
            done += 1

    try:
        await asyncio.gather(*(writer(time.monotonic() + 1.0) for _ in range(WRITERS)))  # warm
        done = 0
        started = time.monotonic()
        await asyncio.gather(*(writer(started + seconds) for _ in range(WRITERS)))
        return done / (time.monotonic() - started)
    finally:
        await mongo.drop_database("bench")
        await mongo.close()


def point_access(uri: str) -> list[tuple[int, float, float, float]]:
    """(documents, seconds to load them, median find ms, median update ms) per size."""
    mongo: MongoClient[dict[str, Any]] = MongoClient(uri)
    sessions = mongo["bench_scale"]["sessions"]
    ids: list[str] = []
    out = []
    try:
        for size in SIZES:
            started = time.monotonic()
            while len(ids) < size:
                now = datetime.now(UTC)
                batch = [_session(now) for _ in range(min(1000, size - len(ids)))]
                sessions.insert_many(batch, ordered=False)
                ids.extend(doc["_id"] for doc in batch)
            loaded = time.monotonic() - started
            finds, updates = [], []
            for _ in range(SAMPLES):
                target = random.choice(ids)
                t0 = time.perf_counter()
                found = sessions.find_one({"_id": target})
                finds.append(time.perf_counter() - t0)
                assert found is not None
                t0 = time.perf_counter()
                sessions.update_one({"_id": target}, {"$set": {"last_seen_at": datetime.now(UTC)}})
                updates.append(time.perf_counter() - t0)
            out.append(
                (size, loaded, statistics.median(finds) * 1e3, statistics.median(updates) * 1e3)
            )
        return out
    finally:
        mongo.drop_database("bench_scale")
        mongo.close()


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    """Each server in turn: start, (a) login writes, (b) point access by size, stop."""
    if shutil.which("nproc"):
        print(f"cpus: {os.cpu_count()}, load average at start: {_load()}")
    results: dict[str, tuple[float, list[tuple[int, float, float, float]]]] = {}
    for server in SERVERS:
        started = time.monotonic()
        with running(server) as uri:
            logins = asyncio.run(login_writes(uri, SECONDS))
            scaling = point_access(uri)
        results[server.name] = (logins, scaling)
        print(f"{server.name}: {time.monotonic() - started:.0f} s, load {_load()}", flush=True)

    base = results[SERVERS[0].name][0]
    width = max(len(name) for name in results)
    print(f"\n(a) per-operation login writes, {WRITERS} writers, {SECONDS:.0f} s")
    print(f"{'server':<{width}}  {'logins/s':>9}  {'ops/s':>7}  {'vs FerretDB':>11}")
    for name, (logins, _) in results.items():
        print(f"{name:<{width}}  {logins:>9.0f}  {logins * 5:>7.0f}  {logins / base:>10.1f}x")
    print(f"\n(b) serial point access by _id, median of {SAMPLES} (ms): find / update")
    print(f"{'server':<{width}}  " + "  ".join(f"{size:>15,}" for size in SIZES))
    for name, (_, scaling) in results.items():
        cells = "  ".join(f"{find:>6.2f} / {update:>6.2f}" for _, _, find, update in scaling)
        print(f"{name:<{width}}  {cells}")
    print(f"\nload average at end: {_load()}")


if __name__ == "__main__":
    main()
