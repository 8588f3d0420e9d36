"""`kubectl apply` of an ApiKey: a key in a Secret that authenticates, rotates and is revoked."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from caas_core.adapters import mongo
from caas_core.adapters.api_key_store import ApiKeyStore
from caas_core.domain.api_key_records import ApiKeyRecord, KeyWriter
from caas_core.domain.api_keys import format_api_key, hash_api_key, new_api_key
from caas_core.domain.naming import PLATFORM_DATABASE
from tests.conftest import Stack
from tests.e2e.conftest import kubectl
from tests.e2e.operator_kinds.conftest import (
    apply,
    get,
    resource,
    secret_data,
    wait_condition,
)


@pytest.fixture
async def keys(running_platform: Stack) -> AsyncIterator[ApiKeyStore]:
    """The shared API-key store, as the control plane reads it."""
    client = mongo.connect(running_platform.mongodb_uri)
    yield ApiKeyStore(client[PLATFORM_DATABASE])
    await client.close()


def now() -> datetime:
    return datetime.now(UTC)


async def test_apikey_lifecycle(running_platform: Stack, tenant: str, keys: ApiKeyStore) -> None:
    stack = running_platform
    namespace = f"tenant-{tenant}"
    # A key the REST API issued for the same tenant: the operator must never touch it.
    rest_key = new_api_key()
    rest = ApiKeyRecord(
        key_id=rest_key.key_id, tenant=tenant, name="rest", key_hash=hash_api_key(rest_key),
        scopes=("tokens:issue",), managed_by=KeyWriter.API, created_at=now().replace(microsecond=0),
    )  # fmt: skip
    await keys.insert(rest)

    spec = {"scopes": ["tokens:issue"], "rotation": {"overlapSeconds": 6}}
    apply(stack, resource("ApiKey", "backend", namespace, spec))
    obj = wait_condition(stack, "apikey", "backend", namespace)
    assert obj["status"]["tenant"] == tenant
    data, version = secret_data(stack, "backend-api-key", namespace)
    first = data["apiKey"]
    record = await keys.authenticate(first, now=now())
    assert record is not None
    assert (record.tenant, record.managed_by, record.scopes) == (
        tenant, KeyWriter.OPERATOR, ("tokens:issue",),
    )  # fmt: skip
    assert obj["status"]["keyId"] == record.key_id == data["keyId"]
    printed = kubectl(stack, "get", "apikeys", "-n", namespace)
    assert "True" in printed
    assert record.key_id in printed

    # Another reconcile (a spec change that is not a rotation) leaves the Secret alone.
    spec["description"] = "the order service"
    apply(stack, resource("ApiKey", "backend", namespace, spec))
    wait_condition(stack, "apikey", "backend", namespace)
    assert secret_data(stack, "backend-api-key", namespace) == (data, version)

    # Rotation: both keys work during the overlap, then only the new one.
    spec["rotation"] = {"generation": 1, "overlapSeconds": 6}
    apply(stack, resource("ApiKey", "backend", namespace, spec))
    rotated = wait_condition(stack, "apikey", "backend", namespace)
    assert rotated["status"]["retiringKeyId"] == record.key_id
    second = secret_data(stack, "backend-api-key", namespace)[0]["apiKey"]
    assert second != first
    assert await keys.authenticate(first, now=now()) is not None
    assert await keys.authenticate(second, now=now()) is not None
    until = datetime.fromisoformat(rotated["status"]["retiringUntil"].replace("Z", "+00:00"))
    await asyncio.sleep(max(0.0, (until - now()).total_seconds()) + 1)
    assert await keys.authenticate(first, now=now()) is None
    assert await keys.authenticate(second, now=now()) is not None

    # Deleting the resource revokes its key; the REST key is untouched.
    kubectl(stack, "delete", "apikey", "backend", "-n", namespace, "--timeout=60s")
    assert await keys.authenticate(second, now=now()) is None
    assert await keys.get(rest.key_id) == rest
    assert await keys.authenticate(format_api_key(rest_key), now=now()) == rest
    await keys.delete(rest.key_id, writer=KeyWriter.API)


def test_apikey_outside_a_tenant_namespace_is_not_ready(running_platform: Stack) -> None:
    stack = running_platform
    namespace = f"plain-{now().strftime('%H%M%S%f')}"
    kubectl(stack, "create", "namespace", namespace)
    try:
        apply(stack, resource("ApiKey", "orphan", namespace, {}))
        obj = wait_condition(
            stack, "apikey", "orphan", namespace, status="False", reason="NoTenant"
        )
        message = obj["status"]["conditions"][0]["message"]
        assert "has no platform.caas.io/tenant label" in message
        assert get(stack, "secret", "orphan-api-key", namespace) == {}
    finally:
        kubectl(stack, "delete", "namespace", namespace, "--timeout=120s", "--wait=false")
