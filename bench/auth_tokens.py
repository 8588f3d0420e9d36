"""Benchmark: SDK token issuance vs a bare FastAPI JSON endpoint; verification vs raw Ed25519.

Run against the local stack: `source ~/.local/state/caas-stack/env; .venv/bin/python
bench/auth_tokens.py`. Both HTTP targets go through the same in-process ASGI client and
concurrency, so the ratio isolates the endpoint's own cost (API-key check, rate limit, session,
family and audit writes, signing).
"""

import asyncio
import os
import secrets
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import FastAPI
from pymongo import AsyncMongoClient

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from caas_control_plane.app import create_app
from caas_control_plane.settings import ApiSettings
from caas_core.adapters.api_key_store import ApiKeyStore
from caas_core.domain.api_key_records import ApiKeyRecord, KeyWriter
from caas_core.domain.api_keys import format_api_key, hash_api_key, new_api_key

REQUESTS = int(os.environ.get("BENCH_REQUESTS", "2000"))
CONCURRENCY = int(os.environ.get("BENCH_CONCURRENCY", "16"))
SECRET = "integration-tests-secret-key-0123456789-abcdefghijklmnop"


async def _drive(client: httpx.AsyncClient, method: str, url: str, **kwargs: object) -> float:
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(REQUESTS):
        queue.put_nowait(i)

    async def worker() -> None:
        while not queue.empty():
            queue.get_nowait()
            response = await client.request(method, url, **kwargs)  # type: ignore[arg-type]
            assert response.status_code == 200, response.text

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    return REQUESTS / (time.perf_counter() - started)


def bare_app() -> FastAPI:
    app = FastAPI()

    @app.post("/bare")
    async def bare(body: dict[str, str]) -> dict[str, str]:
        return {"ok": "yes", **body}

    return app


def verification() -> tuple[float, float]:
    """Verifications per second: our verify_access_token vs raw Ed25519 verify, same token."""
    from caas_control_plane.auth.signing import (  # noqa: PLC0415
        KeyRing,
        SigningKey,
        build_access_claims,
        sign_access_token,
        verify_access_token,
    )

    key = SigningKey(Ed25519PrivateKey.generate())
    ring = KeyRing(active=key)
    now = datetime.now(UTC)
    claims = build_access_claims(
        issuer="i", audience="a", subject="u", tenant_id="t", session_id="s", now=now,
        ttl=__import__("datetime").timedelta(minutes=15),
    )  # fmt: skip
    token = sign_access_token(claims, ring=ring)
    signing_input, _, _ = token.rpartition(".")
    from caas_core.domain.base64url import b64url_decode  # noqa: PLC0415

    signature = b64url_decode(token.rsplit(".", 1)[1])
    data = signing_input.encode()
    public = key.public_key
    n = 20000
    started = time.perf_counter()
    for _ in range(n):
        public.verify(signature, data)
    raw = n / (time.perf_counter() - started)
    started = time.perf_counter()
    for _ in range(n):
        verify_access_token(token, ring=ring, issuer="i", audience="a", now=now)
    ours = n / (time.perf_counter() - started)
    return ours, raw


async def main_async() -> None:
    settings = ApiSettings.model_validate(
        {
            "MONGODB_URI": os.environ["CAAS_API_MONGODB_URI"],  # the API's own user
            "KAFKA_BOOTSTRAP_SERVERS": os.environ["KAFKA_BOOTSTRAP_SERVERS"],
            "REDIS_URL": os.environ["REDIS_URL"],
            "CAAS_SECRET_KEY": SECRET,
            "CAAS_LOG_LEVEL": "warning",
            "CAAS_RATE_LIMIT_PER_MINUTE": "0",
            "CAAS_TENANT_RATE_LIMIT_PER_MINUTE": "0",
        }
    )
    mongo: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(
        os.environ["MONGODB_URI"], tz_aware=True
    )
    key = new_api_key()
    tenant = f"bench-{secrets.token_hex(3)}"
    await ApiKeyStore(mongo["caas_platform"]).insert(  # type: ignore[arg-type]
        ApiKeyRecord(
            key_id=key.key_id, tenant=tenant, name="bench", key_hash=hash_api_key(key),
            scopes=("*",), managed_by=KeyWriter.API, created_at=datetime.now(UTC),
        )
    )  # fmt: skip
    app = create_app(settings)
    try:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
                issue = await _drive(
                    client, "POST", "/v1/auth/sdk/token",
                    headers={"X-API-Key": format_api_key(key)}, json={"userId": "bench-user"},
                )  # fmt: skip
        bare = bare_app()
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=bare), base_url="http://bare"
        ) as client:
            baseline = await _drive(client, "POST", "/bare", json={"userId": "bench-user"})
    finally:
        db = mongo["caas_platform"]
        await db["api_keys"].delete_one({"_id": key.key_id})
        await db["refresh_families"].delete_many({"tenant": tenant})
        await mongo.drop_database(f"tenant_{tenant.replace('-', '_')}")
        await mongo.close()
    ours, raw = verification()
    print(f"{'measure':<44} {'value':>12}")
    print(f"{'bare FastAPI JSON endpoint (req/s)':<44} {baseline:>12.0f}")
    print(f"{'POST /v1/auth/sdk/token (req/s)':<44} {issue:>12.0f}")
    print(f"{'issuance / bare (target >= 0.5)':<44} {issue / baseline:>12.2f}")
    print(f"{'raw OpenSSL Ed25519 verify (ops/s)':<44} {raw:>12.0f}")
    print(f"{'verify_access_token (ops/s)':<44} {ours:>12.0f}")
    print(f"{'verification / raw (target >= 0.7)':<44} {ours / raw:>12.2f}")


def main() -> None:
    """Run the benchmark and print a table."""
    asyncio.run(main_async())


if __name__ == "__main__":
    main()
