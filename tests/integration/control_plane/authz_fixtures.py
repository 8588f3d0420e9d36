"""A tenant's authorization setup shared by the `/v1/security` tests (schema, helpers)."""

from __future__ import annotations

from typing import Any

import httpx

SCHEMA: dict[str, Any] = {
    "entityTypes": {
        "User": {
            "memberOf": ["Group"],
            "attributes": {"department": {"type": "String", "required": False}},
        },
        "Group": {},
        "Tenant": {},
        "Application": {"memberOf": ["Tenant"]},
        "Channel": {"memberOf": ["Application"]},
    },
    "actions": {
        name: {
            "principalTypes": ["User", "Group"],
            "resourceTypes": ["Tenant", "Application", "Channel"],
        }
        for name in ("read", "write", "delete")
    },
    "context": {
        "ip": {"type": "ipaddr", "required": False},
        "now": {"type": "datetime", "required": False},
        "mfa_level": {"type": "Long", "required": False},
    },
}


def ent(type_: str, id_: str) -> dict[str, str]:
    """An entity reference."""
    return {"type": type_, "id": id_}


def context(attr: str) -> dict[str, Any]:
    """`context.<attr>` as a condition node."""
    return {"op": "getAttr", "of": {"op": "var", "name": "context"}, "attr": attr}


def ask(
    principal: tuple[str, str], action: str, resource: tuple[str, str], **ctx: Any
) -> dict[str, Any]:
    """An authorize request body."""
    return {
        "principal": ent(*principal),
        "action": action,
        "resource": ent(*resource),
        "context": ctx,
    }


async def put(client: httpx.AsyncClient, path: str, body: Any, headers: dict[str, str]) -> str:
    """PUT an object, asserting it was stored; the new policy-set version."""
    response = await client.put(f"/v1/security{path}", json=body, headers=headers)
    assert response.status_code == 200, response.text
    version: str = response.json()["policySetVersion"]
    return version


async def allowed(client: httpx.AsyncClient, body: dict[str, Any], headers: dict[str, str]) -> bool:
    """Whether the API allows the request."""
    response = await client.post("/v1/security/authorize", json=body, headers=headers)
    assert response.status_code == 200, response.text
    answer: bool = response.json()["allowed"]
    return answer
