"""Two API processes writing one tenant's audit events at once produce one consistent chain.

Every instance runs an outbox relay that appends audit events to the tenant's log; here two real
`caas_control_plane` processes serve token requests of the same tenant concurrently, and the
log that results is checked entry by entry and verified from an export with the published key.
"""

from __future__ import annotations

import asyncio
import itertools
import secrets
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from pymongo import AsyncMongoClient

from caas_core.auditlog.checkpoint import VerifierKey
from caas_core.auditlog.entry import GENESIS
from caas_core.auditlog.verify import verify_export
from tests.conftest import Stack
from tests.integration.control_plane.conftest import (
    Instance,
    Tenant,
    start_instance,
    stop_instance,
)

PER_INSTANCE = 60
Mongo = AsyncMongoClient[dict[str, Any]]


async def _issue(client: httpx.AsyncClient, url: str, tenant: Tenant, tag: str, i: int) -> None:
    response = await client.post(
        f"{url}/v1/auth/sdk/token",
        headers={**tenant.headers, "X-Request-Id": f"{tag}-{i:04d}"},
        json={"userId": f"user-{i % 7}", "device": {"deviceId": f"d-{i}", "platform": "ios"}},
    )
    assert response.status_code == 200, response.text


async def _logged(mongo: Mongo, tenant: Tenant, *, expected: int) -> list[dict[str, Any]]:
    log = mongo["caas_platform"]["security_audit_logs"]
    deadline = time.monotonic() + 60
    while True:
        docs = [doc async for doc in log.find({"log": f"tenant:{tenant.name}"}).sort("seq", 1)]
        issued = [d for d in docs if d["action"] == "auth.token.issued"]
        if len(issued) >= expected or time.monotonic() > deadline:
            return docs
        await asyncio.sleep(0.2)


@pytest.fixture
def unlimited_instances(stack: Stack) -> Iterator[tuple[Instance, Instance]]:
    """Two control plane processes without the per-key rate limit (this test's burst)."""
    first = start_instance(stack, f"it-a-{secrets.token_hex(3)}", CAAS_RATE_LIMIT_PER_MINUTE="0")
    try:
        second = start_instance(
            stack, f"it-b-{secrets.token_hex(3)}", CAAS_RATE_LIMIT_PER_MINUTE="0"
        )
    except BaseException:
        stop_instance(first)
        raise
    yield first, second
    stop_instance(second)
    stop_instance(first)


async def test_two_instances_append_one_tenants_events_to_one_consistent_chain(
    unlimited_instances: tuple[Instance, Instance], tenant: Tenant, mongo: Mongo
) -> None:
    first, second = unlimited_instances
    limits = httpx.Limits(max_connections=16)
    async with httpx.AsyncClient(timeout=30, limits=limits) as client:
        await asyncio.gather(
            *(_issue(client, first.url, tenant, "a", i) for i in range(PER_INSTANCE)),
            *(_issue(client, second.url, tenant, "b", i) for i in range(PER_INSTANCE)),
        )
        docs = await _logged(mongo, tenant, expected=2 * PER_INSTANCE)
        # One chain: positions 0..n-1, each entry linked to the one before, no event twice.
        assert [d["seq"] for d in docs] == list(range(len(docs)))
        assert len({d["_id"] for d in docs}) == len(docs)
        prev = GENESIS
        for doc in docs:
            assert f'"prev":"{prev}"' in doc["e"]
            prev = doc["hash"]
        served_by = [d["personal"]["payload"].get("requestId", "")[:1] for d in docs]
        assert served_by.count("a") == PER_INSTANCE
        assert served_by.count("b") == PER_INSTANCE
        # Both relays extended the same chain (their events interleave in it).
        runs = sum(1 for x, y in itertools.pairwise(served_by) if x != y)
        assert runs >= 1
        # The export of either instance verifies with the key the platform publishes.
        published = (await client.get(f"{first.url}/.well-known/caas-audit-keys")).json()
        key = VerifierKey.parse(published["keys"][0]["verifierKey"])
        export = await client.get(f"{second.url}/v1/security/audit/export", headers=tenant.headers)
        assert export.status_code == 200, export.text
        report = verify_export(lines=export.content.splitlines(keepends=True), key=key)
        assert report.ok, report
        assert report.size == len(docs)
