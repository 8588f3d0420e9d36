"""`/v1/auth/api-keys` CRUD, `/v1/tenant` profile/settings/usage, quotas and ownership."""

import secrets
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
from fastapi import FastAPI

from caas_core.adapters.api_key_store import ApiKeyStore
from caas_core.domain.api_key_records import ApiKeyRecord, KeyWriter, ResourceRef
from caas_core.domain.api_keys import hash_api_key, new_api_key
from tests.integration.control_plane.conftest import Tenant

Api = tuple[FastAPI, httpx.AsyncClient]
KEYS = "/v1/auth/api-keys"


async def test_api_key_lifecycle_plaintext_once_and_revocation(api: Api, tenant: Tenant) -> None:
    _, client = api
    created = await client.post(
        KEYS, headers=tenant.headers, json={"name": "issuer", "scopes": ["tokens:issue"]}
    )
    assert created.status_code == 201, created.text
    assert created.headers["cache-control"] == "no-store"
    body = created.json()
    plaintext, key_id = body["apiKey"], body["keyId"]
    assert plaintext.startswith("caas_sk_")
    assert body["managedBy"] == "api"
    issued = await client.post(
        "/v1/auth/sdk/token", headers={"X-API-Key": plaintext}, json={"userId": "u"}
    )
    assert issued.status_code == 200

    listed = (await client.get(KEYS, headers=tenant.headers)).json()["items"]
    assert {k["keyId"] for k in listed} >= {key_id, tenant.key_id}
    assert all("apiKey" not in k and "keyHash" not in k for k in listed)
    one = await client.get(f"{KEYS}/{key_id}", headers=tenant.headers)
    assert one.status_code == 200
    assert "apiKey" not in one.json()

    renamed = await client.put(
        f"{KEYS}/{key_id}",
        headers=tenant.headers,
        json={"name": "renamed", "scopes": ["tenant:read"]},
    )
    assert renamed.status_code == 200, renamed.text
    assert renamed.json()["scopes"] == ["tenant:read"]
    # The scope change applies at once (this instance dropped its cached copy).
    refused = await client.post(
        "/v1/auth/sdk/token", headers={"X-API-Key": plaintext}, json={"userId": "u"}
    )
    assert refused.status_code == 403

    assert (await client.delete(f"{KEYS}/{key_id}", headers=tenant.headers)).status_code == 204
    gone = await client.get("/v1/tenant", headers={"X-API-Key": plaintext})
    assert gone.status_code == 401
    again = await client.delete(f"{KEYS}/{key_id}", headers=tenant.headers)
    assert again.status_code == 204  # idempotent


async def test_a_key_cannot_grant_more_than_it_holds(
    api: Api, tenant_factory: Callable[..., Any]
) -> None:
    _, client = api
    manager: Tenant = await tenant_factory(scopes=("keys:manage", "tokens:issue"))
    escalate = await client.post(KEYS, headers=manager.headers, json={"name": "x", "scopes": ["*"]})
    assert escalate.status_code == 403
    unknown = await client.post(
        KEYS, headers=manager.headers, json={"name": "x", "scopes": ["tokens:launch"]}
    )
    assert unknown.status_code == 422
    assert unknown.headers["content-type"] == "application/problem+json"
    ok = await client.post(
        KEYS, headers=manager.headers, json={"name": "x", "scopes": ["tokens:issue"]}
    )
    assert ok.status_code == 201
    no_scope = await client.get("/v1/tenant", headers=manager.headers)
    assert no_scope.status_code == 403


async def test_operator_owned_keys_are_refused_with_409(
    api: Api, tenant: Tenant, mongo: Any
) -> None:
    _, client = api
    key = new_api_key()
    store = ApiKeyStore(mongo["caas_platform"])
    await store.insert(
        ApiKeyRecord(
            key_id=key.key_id, tenant=tenant.name, name="from-crd", key_hash=hash_api_key(key),
            scopes=("tokens:issue",), managed_by=KeyWriter.OPERATOR,
            created_at=datetime.now(UTC),
            source=ResourceRef(namespace=f"tenant-{tenant.name}", name="backend", uid="u-1"),
        )
    )  # fmt: skip
    try:
        listed = (await client.get(f"{KEYS}/{key.key_id}", headers=tenant.headers)).json()
        assert listed["managedBy"] == "operator"
        assert listed["resource"] == f"tenant-{tenant.name}/backend"
        for response in (
            await client.put(f"{KEYS}/{key.key_id}", headers=tenant.headers, json={"name": "n"}),
            await client.delete(f"{KEYS}/{key.key_id}", headers=tenant.headers),
        ):
            assert response.status_code == 409, response.text
            assert "kubectl" in response.json()["detail"]
    finally:
        await mongo["caas_platform"]["api_keys"].delete_one({"_id": key.key_id})


async def test_tenant_profile_settings_usage_and_key_quota(
    api: Api, tenant: Tenant, mongo: Any
) -> None:
    _, client = api
    profile = await client.get("/v1/tenant", headers=tenant.headers)
    assert profile.status_code == 200
    assert profile.json()["name"] == tenant.name
    assert profile.json()["plan"]["synced"] is False
    put = await client.put("/v1/tenant", headers=tenant.headers, json={"displayName": "Acme"})
    assert put.json()["displayName"] == "Acme"
    settings = {"mfaRequired": True, "allowedOrigins": ["https://app.example"]}
    assert (
        await client.put("/v1/tenant/settings", headers=tenant.headers, json=settings)
    ).status_code == 200
    got = (await client.get("/v1/tenant/settings", headers=tenant.headers)).json()
    assert got["mfaRequired"] is True
    assert got["allowedOrigins"] == ["https://app.example"]
    bad = await client.put("/v1/tenant/settings", headers=tenant.headers, json={"nope": 1})
    assert bad.status_code == 422

    for user in ("a", "b"):
        r = await client.post("/v1/auth/sdk/token", headers=tenant.headers, json={"userId": user})
        assert r.status_code == 200
    usage = (await client.get("/v1/tenant/usage", headers=tenant.headers)).json()
    assert usage["tokensIssued"] == 2
    assert usage["apiCalls"] >= 2 + 5
    assert usage["activeSessions"] == 2
    assert usage["apiKeys"] == 1

    # The operator syncs the plan; the control plane enforces its key quota.
    await mongo["caas_platform"]["saas_clients"].update_one(
        {"_id": tenant.name}, {"$set": {"plan": {"tier": "Free", "maxApiKeys": 2}}}
    )
    try:
        assert (await client.get("/v1/tenant", headers=tenant.headers)).json()["plan"]["synced"]
        first = await client.post(KEYS, headers=tenant.headers, json={"name": "a", "scopes": ["*"]})
        assert first.status_code == 201
        over = await client.post(KEYS, headers=tenant.headers, json={"name": "b", "scopes": ["*"]})
        assert over.status_code == 403
        assert over.json()["type"].endswith("/quota-exceeded")
    finally:
        await mongo["caas_platform"]["saas_clients"].delete_one({"_id": tenant.name})
        await mongo["caas_platform"]["api_keys"].delete_many({"tenant": tenant.name, "name": "a"})


async def test_tenant_a_key_never_reaches_tenant_b(
    api: Api, tenant_factory: Callable[..., Any]
) -> None:
    _, client = api
    a: Tenant = await tenant_factory()
    b: Tenant = await tenant_factory()
    b_key = (await client.post(KEYS, headers=b.headers, json={"name": "b", "scopes": ["*"]})).json()
    for method, path, body in (
        ("GET", f"{KEYS}/{b.key_id}", None),
        ("PUT", f"{KEYS}/{b.key_id}", {"name": "stolen"}),
        ("DELETE", f"{KEYS}/{b.key_id}", None),
        ("GET", f"{KEYS}/{b_key['keyId']}", None),
    ):
        response = await client.request(method, path, headers=a.headers, json=body)
        assert response.status_code == 404, (method, path, response.text)
    listed = (await client.get(KEYS, headers=a.headers)).json()["items"]
    assert {k["keyId"] for k in listed} == {a.key_id}
    # Tenant endpoints have no id: they only ever address the caller's own tenant.
    assert (await client.get("/v1/tenant", headers=a.headers)).json()["name"] == a.name
    still = await client.get(f"{KEYS}/{b.key_id}", headers=b.headers)
    assert still.json()["name"] == "integration test"
    assert secrets.compare_digest(still.json()["keyId"], b.key_id)
