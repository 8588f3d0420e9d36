"""Fixtures: the control plane in-process or as processes, against the real local stack."""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pymongo import AsyncMongoClient

from caas_control_plane.app import create_app
from caas_control_plane.settings import ApiSettings
from caas_core.adapters.api_key_store import ApiKeyStore
from caas_core.domain.api_key_records import ApiKeyRecord, KeyWriter
from caas_core.domain.api_keys import format_api_key, hash_api_key, new_api_key
from caas_core.domain.naming import database_name
from tests.conftest import Stack

# One fixed secret for every test instance: they must share the KEK that seals signing keys,
# exactly as the instances of one deployment do.
TEST_SECRET = "integration-tests-secret-key-0123456789-abcdefghijklmnop"
CLOSED_PORT_URL = "127.0.0.1:9"  # discard port: nothing listens there on these machines


def free_port() -> int:
    """A port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def api_env(stack: Stack, **overrides: str) -> dict[str, str]:
    """The environment of a control plane instance on the stack."""
    return {
        "MONGODB_URI": stack.api_mongodb_uri,
        "KAFKA_BOOTSTRAP_SERVERS": stack.kafka_bootstrap,
        "REDIS_URL": stack.redis_url,
        "CAAS_SECRET_KEY": TEST_SECRET,
        "CAAS_ENV": "production",
        "CAAS_LOG_LEVEL": "warning",
        # The production default: 100 concurrent refreshes on a loaded 2-core machine can take
        # longer than a shorter window.
        "CAAS_REFRESH_GRACE_SECONDS": "10",
        "CAAS_REVOCATION_RESYNC_SECONDS": "30",
        "CAAS_OUTBOX_SCAN_SECONDS": "1",
        "CAAS_BACKEND_TIMEOUT_SECONDS": "2",
        # Every test connects from 127.0.0.1 (as may other suites on a shared stack): the
        # API-key lockout of that address is tested on its own (test_mfa.py), not tripped here.
        "CAAS_API_KEY_MAX_FAILURES": "10000",
        # Likewise the rate limits (tests poll, and fire 100 refreshes at once): the limits have
        # their own tests with their own settings.
        "CAAS_IP_RATE_LIMIT_PER_MINUTE": "1000000",
        "CAAS_USER_RATE_LIMIT_PER_MINUTE": "1000000",
        "CAAS_TENANT_RATE_LIMIT_PER_MINUTE": "1000000",
        **overrides,
    }


def make_settings(stack: Stack, **overrides: str) -> ApiSettings:
    """ApiSettings the same way a process reads them (aliases are the env var names)."""
    return ApiSettings.model_validate(api_env(stack, **overrides))


@dataclass
class Tenant:
    """A unique tenant with an API key, removed afterwards."""

    name: str
    api_key: str
    key_id: str

    @property
    def headers(self) -> dict[str, str]:
        return {"X-API-Key": self.api_key}


@pytest.fixture
async def mongo(stack: Stack) -> AsyncIterator[AsyncMongoClient[dict[str, Any]]]:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(stack.mongodb_uri, tz_aware=True)
    yield client
    await client.close()


@pytest.fixture
async def tenant_factory(
    mongo: AsyncMongoClient[dict[str, Any]],
) -> AsyncIterator[Callable[..., Any]]:
    """Create tenants with API keys (scopes `*` unless given); all cleaned up at the end."""
    created: list[Tenant] = []
    store = ApiKeyStore(mongo["caas_platform"])

    async def make(scopes: tuple[str, ...] = ("*",)) -> Tenant:
        key = new_api_key()
        tenant = Tenant(
            name=f"it-{secrets.token_hex(4)}", api_key=format_api_key(key), key_id=key.key_id
        )
        await store.insert(
            ApiKeyRecord(
                key_id=key.key_id,
                tenant=tenant.name,
                name="integration test",
                key_hash=hash_api_key(key),
                scopes=scopes,
                managed_by=KeyWriter.API,
                created_at=datetime.now(UTC),
            )
        )
        created.append(tenant)
        return tenant

    yield make
    db = mongo["caas_platform"]
    for tenant in created:
        await db["api_keys"].delete_one({"_id": tenant.key_id})
        await db["refresh_families"].delete_many({"tenant": tenant.name})
        await db["revoked_tokens"].delete_many({"tenant": tenant.name})
        await mongo.drop_database(database_name(tenant.name))


@pytest.fixture
async def tenant(tenant_factory: Callable[..., Any]) -> Tenant:
    created: Tenant = await tenant_factory()
    return created


@asynccontextmanager
async def running_app(settings: ApiSettings) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    """The app with its lifespan (runtime) started, and an in-process HTTP client."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
            yield app, client


@pytest.fixture
async def api(stack: Stack) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    """One in-process instance on the real stack."""
    async with running_app(make_settings(stack)) as pair:
        yield pair


@dataclass
class Instance:
    """A control plane process on a free port."""

    url: str
    process: subprocess.Popen[bytes]


def start_instance(stack: Stack, name: str, **overrides: str) -> Instance:
    """`python -m caas_control_plane` on a free port, waited for until ready."""
    port = free_port()
    env = {
        **os.environ,
        **api_env(stack, CAAS_API_PORT=str(port), CAAS_INSTANCE_ID=name, **overrides),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "caas_control_plane"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            err = process.stderr.read().decode() if process.stderr else ""
            pytest.fail(f"instance {name} exited: {err[-2000:]}", pytrace=False)
        try:
            if httpx.get(f"{url}/.well-known/jwks.json", timeout=1).status_code == 200:
                return Instance(url=url, process=process)
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    process.kill()
    pytest.fail(f"instance {name} did not become ready", pytrace=False)


def stop_instance(instance: Instance) -> None:
    """Stop the process (SIGTERM, then SIGKILL)."""
    instance.process.terminate()
    try:
        instance.process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        instance.process.kill()
        instance.process.wait()


@pytest.fixture
def two_instances(stack: Stack) -> Iterator[tuple[Instance, Instance]]:
    """Two control plane processes sharing the stack."""
    first = start_instance(stack, f"it-a-{secrets.token_hex(3)}")
    try:
        second = start_instance(stack, f"it-b-{secrets.token_hex(3)}")
    except BaseException:
        stop_instance(first)
        raise
    yield first, second
    stop_instance(first)
    stop_instance(second)
