"""Shared pieces of the auth benchmarks: API and baseline server processes, wrk, seeding.

Every benchmark runs its servers as separate processes (uvicorn, one worker each, as `caas-api`
runs in production) and drives them from another process (`wrk`, the Debian package, or the
benchmark's own asyncio client where wrk cannot express the measurement). Ratios are always
against a baseline measured in the same run on the same machine.
"""

import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from pymongo import MongoClient

ROOT = Path(__file__).resolve().parents[1]
SECRET = "integration-tests-secret-key-0123456789-abcdefghijklmnop"
PYTHON = sys.executable

BARE_APP = """
import uvicorn
from fastapi import FastAPI
from pydantic import BaseModel

class Body(BaseModel):
    userId: str

app = FastAPI()

@app.post("/bare")
async def bare(body: Body) -> dict[str, str]:
    return {"ok": "yes", "userId": body.userId}

@app.get("/bare")
async def bare_get() -> dict[str, str]:
    return {"ok": "yes"}

if len(__import__("sys").argv) > 2:  # the floor: what any rate-limited, signed answer costs
    import json, os, time
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from caas_core.adapters.redis import connect  # the API's own client settings

    script = connect(os.environ["REDIS_URL"]).register_script(
        "local t = redis.call('TIME') redis.call('SET', KEYS[1], t[1], 'PX', 60000)"
        " return {1, 0, 0}"
    )
    key = Ed25519PrivateKey.generate()

    @app.post("/floor")
    async def floor(body: Body) -> dict[str, str]:
        await script(keys=["bench:floor"], args=[1, 2])
        claims = json.dumps({"sub": body.userId, "iat": time.time()}).encode()
        return {"ok": "yes", "userId": body.userId, "signature": key.sign(claims).hex()}

uvicorn.run(app, host="127.0.0.1", port=int(__import__("sys").argv[1]), log_level="warning")
"""


def free_port() -> int:
    """A port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


_STACK_VARS = ("MONGODB_URI", "CAAS_API_MONGODB_URI", "KAFKA_BOOTSTRAP_SERVERS", "REDIS_URL")


def stack_env() -> dict[str, str]:
    """Backend URLs of the local stack (`source ~/.local/state/caas-stack/env` first).

    MONGODB_URI is the stack's administrator (seeding, cleanup); CAAS_API_MONGODB_URI is the
    API's own least-privilege user, which every API process started here runs as."""
    missing = [k for k in _STACK_VARS if not os.environ.get(k)]
    if missing:
        sys.exit(f"set {', '.join(missing)}: source ~/.local/state/caas-stack/env")
    return {k: os.environ[k] for k in _STACK_VARS}


def api_env() -> dict[str, str]:
    """The backend URLs an API process gets: MongoDB as the API's own user, not the admin."""
    env = stack_env()
    return {**env, "MONGODB_URI": env["CAAS_API_MONGODB_URI"]}


def _pin(cpu: int | None) -> list[str]:
    if cpu is None or shutil.which("taskset") is None or (os.cpu_count() or 1) < 2:
        return []
    return ["taskset", "-c", str(cpu)]


SERVER_CPU = 0
LOADGEN_CPU = 1


def _wait_ready(url: str, process: subprocess.Popen[bytes], *, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        try:
            if httpx.get(url, timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} not ready after {timeout}s")


@contextmanager
def _process(argv: list[str], *, env: dict[str, str], ready_url: str) -> Iterator[None]:
    log = tempfile.NamedTemporaryFile(prefix="bench-", suffix=".log", delete=False)  # noqa: SIM115
    process = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
    try:
        _wait_ready(ready_url, process)
        yield
    except BaseException:
        print(Path(log.name).read_text()[-3000:], file=sys.stderr)
        raise
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


@contextmanager
def api_server(**overrides: str) -> Iterator[str]:
    """`python -m caas_control_plane` on a free port, pinned to the server CPU; yields its URL."""
    port = free_port()
    env = {
        **os.environ,
        **api_env(),
        "CAAS_SECRET_KEY": SECRET,
        "CAAS_ENV": "production",
        "CAAS_LOG_LEVEL": "warning",
        "CAAS_API_PORT": str(port),
        "CAAS_API_HOST": "127.0.0.1",
        **overrides,
    }
    url = f"http://127.0.0.1:{port}"
    argv = [*_pin(SERVER_CPU), PYTHON, "-m", "caas_control_plane"]
    with _process(argv, env=env, ready_url=f"{url}/internal/ready"):
        yield url


@contextmanager
def bare_server(*, floor: bool = False) -> Iterator[str]:
    """The baseline: a bare FastAPI JSON endpoint under the same uvicorn and CPU pinning; with
    `floor`, also `POST /floor`: one Redis script round trip and one Ed25519 signature (the
    least any endpoint rate-limited in Redis and answering with a signed token can do)."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    argv = [*_pin(SERVER_CPU), PYTHON, "-c", BARE_APP, str(port), *(["floor"] if floor else [])]
    with _process(argv, env={**os.environ, **stack_env()}, ready_url=f"{url}/bare"):
        yield url


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def server_pid() -> int:
    """The server process this benchmark started last (its newest child; taskset execs into
    the server, so the child is the server itself)."""
    children = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            if ppid == os.getpid():
                children.append(int(entry.name))
    if not children:
        raise RuntimeError("no server process found")
    return max(children)


@dataclass(frozen=True)
class WrkResult:
    """What wrk measured."""

    requests_per_second: float
    non_2xx: int
    p50_ms: float
    p99_ms: float


_LUA = """
wrk.method = "{method}"
wrk.body = {body}
{headers}
done = function(summary, latency, requests)
  io.write(string.format("P50 %f\\nP99 %f\\n",
    latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
"""


def wrk(
    url: str,
    *,
    method: str = "GET",
    body: Any = None,
    headers: dict[str, str] | None = None,
    seconds: int = 10,
    connections: int = 32,
    threads: int = 2,
) -> WrkResult:
    """Drive `url` with wrk from the load-generator CPU."""
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: apt-get install wrk")
    all_headers = dict(headers or {})
    if body is not None:
        all_headers.setdefault("Content-Type", "application/json")
    lua = _LUA.format(
        method=method,
        body="nil" if body is None else json.dumps(json.dumps(body)),
        headers="\n".join(f'wrk.headers["{k}"] = "{v}"' for k, v in all_headers.items()),
    )
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(lua)
    out = subprocess.run(
        [*_pin(LOADGEN_CPU), "wrk", "-t", str(threads), "-c", str(connections),
         "-d", f"{seconds}s", "-s", script.name, "--latency", url],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    os.unlink(script.name)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    p50 = float(re.search(r"P50 ([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p99 = float(re.search(r"P99 ([\d.]+)", out).group(1))  # type: ignore[union-attr]
    return WrkResult(rps, int(non_2xx.group(1)) if non_2xx else 0, p50, p99)


@dataclass(frozen=True)
class SeededKey:
    """A throwaway tenant and an API key for it."""

    tenant: str
    key_id: str
    api_key: str


@contextmanager
def seeded_key(*, scopes: tuple[str, ...] = ("*",)) -> Iterator[SeededKey]:
    """A REST-owned API key of a fresh tenant, and everything it created removed afterwards."""
    sys.path.insert(0, str(ROOT / "operator"))
    from caas_core.domain.api_key_records import ApiKeyRecord, KeyWriter, to_document  # noqa: PLC0415
    from caas_core.domain.api_keys import format_api_key, hash_api_key, new_api_key  # noqa: PLC0415
    from caas_core.domain.naming import database_name  # noqa: PLC0415

    mongo: MongoClient[dict[str, Any]] = MongoClient(stack_env()["MONGODB_URI"], tz_aware=True)
    key = new_api_key()
    tenant = f"bench-{secrets.token_hex(3)}"
    record = ApiKeyRecord(
        key_id=key.key_id, tenant=tenant, name="bench", key_hash=hash_api_key(key),
        scopes=scopes, managed_by=KeyWriter.API, created_at=datetime.now(UTC),
    )  # fmt: skip
    db = mongo["caas_platform"]
    db["api_keys"].insert_one(to_document(record))
    try:
        yield SeededKey(tenant=tenant, key_id=key.key_id, api_key=format_api_key(key))
    finally:
        db["api_keys"].delete_one({"_id": key.key_id})
        for name in ("refresh_families", "security_audit_logs"):
            db[name].delete_many({"tenant": tenant})
        mongo.drop_database(database_name(tenant))
        mongo.close()


def table(rows: list[tuple[str, str]]) -> None:
    """Print measures as a two-column table."""
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value:>14}")
