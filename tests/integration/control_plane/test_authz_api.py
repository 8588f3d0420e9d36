"""`/v1/security` on the real stack: CRUD, validation, decisions, isolation, logs, owner rule."""

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pymongo import AsyncMongoClient

from caas_core.adapters.authz_store import AuthzStore
from caas_core.authz.documents import Kind
from caas_core.authz.objects import Put
from caas_core.domain.api_key_records import ResourceRef
from tests.integration.control_plane.authz_fixtures import (
    SCHEMA,
    allowed,
    ask,
    context,
    ent,
    put,
)
from tests.integration.control_plane.conftest import Tenant

Api = tuple[FastAPI, httpx.AsyncClient]


@pytest.fixture
async def authz_tenants(
    tenant_factory: Callable[..., Any], mongo: AsyncMongoClient[dict[str, Any]]
) -> AsyncIterator[Callable[..., Any]]:
    """Tenants whose authorization objects are removed afterwards."""
    made: list[Tenant] = []

    async def make(scopes: tuple[str, ...] = ("*",)) -> Tenant:
        tenant: Tenant = await tenant_factory(scopes)
        made.append(tenant)
        return tenant

    yield make
    store = AuthzStore(mongo["caas_platform"])
    for tenant in made:
        await store.delete_tenant(tenant.name)


@pytest.fixture
async def tenant(authz_tenants: Callable[..., Any]) -> Tenant:
    made: Tenant = await authz_tenants()
    return made


async def _setup(client: httpx.AsyncClient, tenant: Tenant) -> None:
    await put(client, "/schema", SCHEMA, tenant.headers)


async def test_policies_are_stored_listed_and_decided_with(api: Api, tenant: Tenant) -> None:
    _, client = api
    h = tenant.headers
    await _setup(client, tenant)
    version = await put(
        client,
        "/policies/eng-read",
        {
            "effect": "permit",
            "principal": {"op": "in", "entity": ent("Group", "eng")},
            "action": {"op": "==", "actions": ["read"]},
        },
        h,
    )
    await put(client, "/entities/User/alice", {"parents": [ent("Group", "eng")]}, h)
    listed = (await client.get("/v1/security/policies", headers=h)).json()
    assert [p["name"] for p in listed["items"]] == ["eng-read"]
    assert listed["items"][0]["managedBy"] == "api"
    assert int(listed["policySetVersion"]) == int(version) + 1
    one = await client.get("/v1/security/policies/eng-read", headers=h)
    assert one.json()["document"]["effect"] == "permit"

    response = await client.post(
        "/v1/security/authorize", json=ask(("User", "alice"), "read", ("Channel", "c1")), headers=h
    )
    body = response.json()
    assert (body["allowed"], body["decision"], body["determining"]) == (True, "allow", ["eng-read"])
    assert body["policySetVersion"] == listed["policySetVersion"]
    denied = await client.post(
        "/v1/security/authorize", json=ask(("User", "bob"), "read", ("Channel", "c1")), headers=h
    )
    assert (denied.json()["allowed"], denied.json()["reason"]) == (False, "no_permit_matched")

    # A forbid overrides, and the deny names it.
    await put(
        client,
        "/policies/no-delete",
        {"effect": "forbid", "action": {"op": "==", "actions": ["delete"]}},
        h,
    )
    await put(client, "/policies/all", {"effect": "permit"}, h)
    forbidden = await client.post(
        "/v1/security/authorize",
        json=ask(("User", "alice"), "delete", ("Channel", "c1")),
        headers=h,
    )
    assert forbidden.json()["reason"] == "forbidden"
    assert forbidden.json()["determining"] == ["no-delete"]

    assert (await client.delete("/v1/security/policies/all", headers=h)).status_code == 204
    assert (await client.get("/v1/security/policies/all", headers=h)).status_code == 404
    assert (await client.delete("/v1/security/policies/all", headers=h)).status_code == 404


async def test_invalid_documents_are_refused_with_the_pointer(api: Api, tenant: Tenant) -> None:
    _, client = api
    h = tenant.headers
    await _setup(client, tenant)
    bad_attr = {
        "effect": "permit",
        "conditions": [
            {
                "kind": "when",
                "body": {
                    "op": "==",
                    "left": context("colour"),
                    "right": {"op": "value", "value": 1},
                },
            }
        ],
    }
    response = await client.put("/v1/security/policies/p", json=bad_attr, headers=h)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["type"].endswith("/invalid-authorization-document")
    assert problem["errors"][0]["pointer"] == "/conditions/0/body/left/attr"
    assert problem["object"] == {"kind": "policy", "name": "p"}

    malformed = await client.put("/v1/security/policies/p", json={"effect": "allow"}, headers=h)
    assert malformed.json()["errors"][0]["pointer"] == "/effect"
    schema = await client.put("/v1/security/schema", json={"entityTypes": []}, headers=h)
    assert schema.status_code == 422
    assert schema.json()["errors"][0]["pointer"] == "/entityTypes"
    context_error = await client.post(
        "/v1/security/authorize",
        json=ask(("User", "a"), "read", ("Channel", "c"), ip="not-an-ip"),
        headers=h,
    )
    assert context_error.status_code == 422
    assert context_error.json()["errors"][0]["pointer"] == "/context/ip"
    # Nothing of the refused writes was stored.
    assert (await client.get("/v1/security/policies", headers=h)).json()["items"] == []


async def test_role_hierarchy_and_cycles(api: Api, tenant: Tenant) -> None:
    _, client = api
    h = tenant.headers
    await _setup(client, tenant)
    await put(client, "/permissions/view", {"actions": ["read"]}, h)
    await put(
        client,
        "/permissions/edit",
        {"actions": ["write"], "resource": {"op": "is", "type": "Channel"}},
        h,
    )
    await put(client, "/roles/viewer", {"permissions": ["view"]}, h)
    await put(client, "/roles/editor", {"inherits": ["viewer"], "permissions": ["edit"]}, h)
    assigned = await client.post(
        "/v1/security/role-assignments",
        json={"principal": ent("User", "alice"), "role": "editor"},
        headers=h,
    )
    assert assigned.status_code == 201, assigned.text
    assert await allowed(client, ask(("User", "alice"), "read", ("Channel", "c")), h)  # inherited
    assert await allowed(client, ask(("User", "alice"), "write", ("Channel", "c")), h)
    assert not await allowed(client, ask(("User", "alice"), "write", ("Application", "a")), h)
    role = (await client.get("/v1/security/roles/editor", headers=h)).json()
    assert role["permissions"] == ["edit"]

    cycle = await client.put("/v1/security/roles/viewer", json={"inherits": ["editor"]}, headers=h)
    assert cycle.status_code == 422
    assert cycle.json()["type"].endswith("/invalid-policy-set")
    assert "editor" in cycle.json()["detail"]
    assert "cycle" in cycle.json()["detail"]
    in_use = await client.delete("/v1/security/roles/viewer", headers=h)
    assert in_use.status_code == 422  # editor still inherits it
    removed = await client.delete(
        "/v1/security/role-assignments",
        params={"principalType": "User", "principalId": "alice", "role": "editor"},
        headers=h,
    )
    assert removed.status_code == 204
    assert not await allowed(client, ask(("User", "alice"), "read", ("Channel", "c")), h)


async def test_grants_are_inherited_down_the_resource_hierarchy(api: Api, tenant: Tenant) -> None:
    _, client = api
    h = tenant.headers
    await _setup(client, tenant)
    await put(client, "/entities/Tenant/t", {}, h)
    await put(client, "/entities/Application/app", {"parents": [ent("Tenant", "t")]}, h)
    await put(client, "/entities/Channel/general", {"parents": [ent("Application", "app")]}, h)
    await put(client, "/entities/Channel/other", {}, h)
    await put(
        client,
        "/grants/bob-app",
        {
            "principal": ent("User", "bob"),
            "actions": ["read"],
            "resource": ent("Application", "app"),
        },
        h,
    )
    assert await allowed(client, ask(("User", "bob"), "read", ("Channel", "general")), h)
    assert not await allowed(client, ask(("User", "bob"), "read", ("Channel", "other")), h)
    assert not await allowed(client, ask(("User", "bob"), "write", ("Channel", "general")), h)
    explained = await client.post(
        "/v1/security/authorize/explain",
        json=ask(("User", "bob"), "read", ("Channel", "other")),
        headers=h,
    )
    trace = {t["policy"]: t for t in explained.json()["traces"]}
    assert trace["grant:bob-app"]["outcome"] == "resource_not_in_scope"


async def test_conditions_on_time_ip_and_mfa_level(api: Api, tenant: Tenant) -> None:
    _, client = api
    h = tenant.headers
    await _setup(client, tenant)
    when = {
        "op": "&&",
        "args": [
            {"op": ">=", "left": context("mfa_level"), "right": {"op": "value", "value": 2}},
            {
                "op": "isInRange",
                "left": context("ip"),
                "right": {"op": "ip", "value": "10.0.0.0/8"},
            },
            {
                "op": "<",
                "left": context("now"),
                "right": {"op": "datetime", "value": "2030-01-01T00:00:00Z"},
            },
        ],
    }
    await put(
        client,
        "/policies/strong",
        {"effect": "permit", "conditions": [{"kind": "when", "body": when}]},
        h,
    )
    good = {"mfa_level": 2, "ip": "10.1.2.3", "now": "2029-06-01T12:00:00Z"}
    assert await allowed(client, ask(("User", "u"), "read", ("Channel", "c"), **good), h)
    for change in ({"mfa_level": 1}, {"ip": "192.168.0.1"}, {"now": "2030-01-01T00:00:00Z"}):
        assert not await allowed(
            client, ask(("User", "u"), "read", ("Channel", "c"), **good | change), h
        )
    # A missing attribute makes the policy fail (an error reported), never allow.
    missing = await client.post(
        "/v1/security/authorize", json=ask(("User", "u"), "read", ("Channel", "c")), headers=h
    )
    assert missing.json()["allowed"] is False
    assert missing.json()["errors"][0]["policy"] == "strong"


async def test_tenant_isolation(api: Api, authz_tenants: Callable[..., Any]) -> None:
    _, client = api
    first, second = await authz_tenants(), await authz_tenants()
    await _setup(client, first)
    await _setup(client, second)
    await put(client, "/policies/all", {"effect": "permit"}, first.headers)
    request = ask(("User", "u"), "read", ("Channel", "c"))
    assert await allowed(client, request, first.headers)
    assert not await allowed(client, request, second.headers)
    assert (
        await client.get("/v1/security/policies/all", headers=second.headers)
    ).status_code == 404
    assert (
        await client.delete("/v1/security/policies/all", headers=second.headers)
    ).status_code == 404
    assert (await client.get("/v1/security/policies", headers=second.headers)).json()["items"] == []
    assert await allowed(client, request, first.headers)  # untouched by the other's delete


async def test_scopes_guard_the_routes(api: Api, authz_tenants: Callable[..., Any]) -> None:
    _, client = api
    checker = await authz_tenants(("authz:check",))
    manager = await authz_tenants(("authz:*",))
    other = await authz_tenants(("tenant:read",))
    await _setup(client, manager)
    request = ask(("User", "u"), "read", ("Channel", "c"))
    assert (await client.get("/v1/security/policies", headers=checker.headers)).status_code == 403
    # Past the scope check: its tenant has no schema yet, so the action is unknown to it.
    ok = await client.post("/v1/security/authorize", json=request, headers=checker.headers)
    assert (ok.status_code, ok.json()["errors"][0]["pointer"]) == (422, "/action")
    assert (
        await client.post("/v1/security/authorize", json=request, headers=other.headers)
    ).status_code == 403
    assert (
        await client.post("/v1/security/authorize", json=request, headers=manager.headers)
    ).status_code == 200


async def test_batches_logs_and_what_if(
    api: Api, tenant: Tenant, mongo: AsyncMongoClient[dict[str, Any]]
) -> None:
    _, client = api
    h = tenant.headers
    await _setup(client, tenant)
    await put(
        client,
        "/policies/read",
        {"effect": "permit", "action": {"op": "==", "actions": ["read"]}},
        h,
    )
    batch = await client.post(
        "/v1/security/authorize",
        json={
            "requests": [
                ask(("User", "u"), "read", ("Channel", "c")),
                ask(("User", "u"), "write", ("Channel", "c")),
            ]
        },
        headers=h,
    )
    assert [d["allowed"] for d in batch.json()["items"]] == [True, False]
    again = await client.post(
        "/v1/security/authorize", json=ask(("User", "u"), "read", ("Channel", "c")), headers=h
    )
    assert again.json()["cached"] is True

    what_if = await client.post(
        "/v1/security/policies/what-if",
        json={
            "upsert": [
                {
                    "id": "no-u",
                    "effect": "forbid",
                    "principal": {"op": "==", "entity": ent("User", "u")},
                }
            ]
        },
        headers=h,
    )
    assert what_if.status_code == 200, what_if.text
    flips = what_if.json()["flips"]
    assert [(f["action"], f["before"]["allowed"], f["after"]["allowed"]) for f in flips] == [
        ("read", True, False)
    ]
    assert flips[0]["after"]["determining"] == ["no-u"]
    # Nothing was applied.
    assert await allowed(client, ask(("User", "u"), "read", ("Channel", "c")), h)
    bad = await client.post(
        "/v1/security/policies/what-if",
        json={
            "upsert": [{"id": "x", "effect": "permit", "action": {"op": "==", "actions": ["fly"]}}]
        },
        headers=h,
    )
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["pointer"] == "/upsert/0/action/actions/0"

    # Four decisions (two in the batch, one cached, one after the what-if), each audited: the
    # journal is appended by the outbox relay, so it is polled until they are all there.
    journal = mongo["caas_platform"]["security_audit_logs"]
    query = {"tenant": tenant.name, "action": "authz.decision"}
    for _ in range(300):
        logged = [doc async for doc in journal.find(query)]
        if len(logged) >= 4:
            break
        await asyncio.sleep(0.1)
    assert len(logged) == 4, logged
    # The journal keeps details beside the chained entry (personal data, erasable).
    details = [doc.get("details") or doc["personal"]["payload"]["details"] for doc in logged]
    assert {(d["action"], d["allowed"]) for d in details} >= {("read", True), ("write", False)}
    assert all(d["policySetVersion"] for d in details)
    assert any(d["determining"] == ["read"] for d in details)


async def test_the_operators_objects_are_not_changed_over_rest(
    api: Api, tenant: Tenant, mongo: AsyncMongoClient[dict[str, Any]]
) -> None:
    _, client = api
    h = tenant.headers
    await _setup(client, tenant)
    store = AuthzStore(mongo["caas_platform"])
    source = ResourceRef(namespace=f"tenant-{tenant.name}", name="readers", uid="uid-r")
    await store.replace_source(tenant.name, source, [Put(Kind.POLICY, "crd", {"effect": "permit"})])
    listed = (await client.get("/v1/security/policies/crd", headers=h)).json()
    assert (listed["managedBy"], listed["resource"]) == (
        "operator",
        f"tenant-{tenant.name}/readers",
    )
    for response in (
        await client.put("/v1/security/policies/crd", json={"effect": "forbid"}, headers=h),
        await client.delete("/v1/security/policies/crd", headers=h),
    ):
        assert response.status_code == 409
        assert response.json()["owner"] == "operator"
        assert "AccessPolicy resource" in response.json()["detail"]
    assert await allowed(client, ask(("User", "u"), "read", ("Channel", "c")), h)


async def test_policies_in_text_form_are_refused_at_line_and_column(
    api: Api, tenant: Tenant
) -> None:
    _, client = api
    h = tenant.headers
    await _setup(client, tenant)
    text = (
        '@id("office-read")\n'
        'permit (principal, action == Action::"read", resource is Channel)\n'
        'when { context.ip.isInRange(ip("10.0.0.0/8")) };\n'
    )
    stored = await client.post("/v1/security/policies/text", json={"text": text}, headers=h)
    assert stored.status_code == 200, stored.text
    assert stored.json()["names"] == ["office-read"]
    assert await allowed(client, ask(("User", "u"), "read", ("Channel", "c"), ip="10.2.3.4"), h)
    assert not await allowed(client, ask(("User", "u"), "read", ("Channel", "c"), ip="8.8.8.8"), h)
    kept = (await client.get("/v1/security/policies/office-read", headers=h)).json()
    assert kept["document"]["resource"] == {"op": "is", "type": "Channel"}

    bad = text.replace("context.ip", "context.colour")
    refused = await client.post("/v1/security/policies/text", json={"text": bad}, headers=h)
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["position"] == "3:16"  # the attribute name
    assert "colour" in refused.json()["errors"][0]["detail"]


async def test_a_request_may_bring_entities_the_tenant_does_not_store(
    api: Api, tenant: Tenant
) -> None:
    _, client = api
    h = tenant.headers
    await _setup(client, tenant)
    department = {"op": "getAttr", "of": {"op": "var", "name": "principal"}, "attr": "department"}
    is_eng = {
        "op": "&&",
        "args": [
            {"op": "has", "of": {"op": "var", "name": "principal"}, "attr": "department"},
            {"op": "==", "left": department, "right": {"op": "value", "value": "eng"}},
        ],
    }
    await put(
        client,
        "/policies/eng",
        {"effect": "permit", "conditions": [{"kind": "when", "body": is_eng}]},
        h,
    )
    request = ask(("User", "u"), "read", ("Channel", "c"))
    assert not await allowed(client, request, h)
    with_attrs = {
        **request,
        "entities": [{"type": "User", "id": "u", "attrs": {"department": "eng"}}],
    }
    first = (await client.post("/v1/security/authorize", json=with_attrs, headers=h)).json()
    second = (await client.post("/v1/security/authorize", json=with_attrs, headers=h)).json()
    assert (first["allowed"], first["determining"], second["cached"]) == (True, ["eng"], False)
    wrong = {**request, "entities": [{"type": "User", "id": "u", "attrs": {"department": 7}}]}
    refused = await client.post("/v1/security/authorize", json=wrong, headers=h)
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["pointer"] == "/entities/0/attrs/department"
    await put(client, "/entities/User/u", {"attrs": {"department": "ops"}}, h)
    stored_twice = await client.post("/v1/security/authorize", json=with_attrs, headers=h)
    assert stored_twice.status_code == 422  # a request never overrides a stored entity
    assert stored_twice.json()["errors"][0]["pointer"] == "/entities"
