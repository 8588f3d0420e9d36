"""Two API processes: a change through one flips the very next identical decision on the other.

Instance B answers a request twice (the second from the Redis decision cache), then instance A
adds a forbid; B's next identical request is denied. Nothing is broadcast: B reads the tenant's
policy-set version per request, and the cached decision lives under the older version's key.
"""

from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from pymongo import AsyncMongoClient

from caas_core.adapters.authz_store import AuthzStore
from tests.integration.control_plane.authz_fixtures import SCHEMA, ask
from tests.integration.control_plane.conftest import Instance, Tenant


@pytest.fixture
async def tenant(
    tenant_factory: Callable[..., Any], mongo: AsyncMongoClient[dict[str, Any]]
) -> AsyncIterator[Tenant]:
    made: Tenant = await tenant_factory(("authz:*",))
    yield made
    await AuthzStore(mongo["caas_platform"]).delete_tenant(made.name)


async def _decide(client: httpx.AsyncClient, url: str, tenant: Tenant) -> dict[str, Any]:
    response = await client.post(
        f"{url}/v1/security/authorize",
        json=ask(("User", "u"), "read", ("Channel", "c")),
        headers=tenant.headers,
    )
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


async def _put(client: httpx.AsyncClient, url: str, path: str, body: Any, tenant: Tenant) -> None:
    response = await client.put(f"{url}/v1/security{path}", json=body, headers=tenant.headers)
    assert response.status_code == 200, response.text


async def test_a_change_on_one_instance_flips_the_next_decision_on_the_other(
    two_instances: tuple[Instance, Instance], tenant: Tenant
) -> None:
    a, b = two_instances
    async with httpx.AsyncClient(timeout=30) as client:
        await _put(client, a.url, "/schema", SCHEMA, tenant)
        await _put(client, a.url, "/policies/read", {"effect": "permit"}, tenant)
        first = await _decide(client, b.url, tenant)
        second = await _decide(client, b.url, tenant)
        assert (first["allowed"], first["cached"]) == (True, False)
        assert (second["allowed"], second["cached"]) == (True, True)

        await _put(client, a.url, "/policies/stop", {"effect": "forbid"}, tenant)
        third = await _decide(client, b.url, tenant)
        assert (third["allowed"], third["reason"], third["determining"]) == (
            False,
            "forbidden",
            ["stop"],
        )
        assert int(third["policySetVersion"]) == int(second["policySetVersion"]) + 1

        deleted = await client.delete(f"{a.url}/v1/security/policies/stop", headers=tenant.headers)
        assert deleted.status_code == 204
        assert (await _decide(client, b.url, tenant))["allowed"] is True
        # And the other way round: B's change is seen by A.
        await _put(client, b.url, "/policies/stop", {"effect": "forbid"}, tenant)
        assert (await _decide(client, a.url, tenant))["allowed"] is False
