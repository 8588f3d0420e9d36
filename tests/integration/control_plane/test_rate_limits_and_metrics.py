"""Rate limits on every /v1 route (per key, tenant, user, IP) with 429 problem+json; metrics."""

from collections.abc import Callable
from typing import Any

from redis.asyncio import Redis

from caas_control_plane.stores.rate_limit import KEY_PREFIX
from tests.conftest import Stack
from tests.integration.control_plane.conftest import Tenant, make_settings, running_app


def _assert_429(response: Any) -> None:
    assert response.status_code == 429, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert int(response.headers["retry-after"]) >= 1
    assert response.json()["status"] == 429


async def test_api_key_tenant_and_user_limits(
    stack: Stack, tenant_factory: Callable[..., Any]
) -> None:
    settings = make_settings(
        stack,
        CAAS_RATE_LIMIT_PER_MINUTE="60",
        CAAS_RATE_LIMIT_BURST="3",
        CAAS_USER_RATE_LIMIT_PER_MINUTE="60",
        CAAS_TENANT_RATE_LIMIT_PER_MINUTE="6",
    )
    a: Tenant = await tenant_factory()
    b: Tenant = await tenant_factory()
    async with running_app(settings) as (_, client):
        login = await client.post("/v1/auth/sdk/token", headers=a.headers, json={"userId": "u"})
        assert login.status_code == 200
        bearer = {"Authorization": f"Bearer {login.json()['accessToken']}"}
        statuses = [(await client.get("/v1/auth/me", headers=bearer)).status_code for _ in range(6)]
        assert statuses[:2] == [200, 200]
        assert 429 in statuses  # the user's burst (and then the tenant's) ran out
        _assert_429(await client.get("/v1/auth/me", headers=bearer))
        # Tenant A's key shares tenant A's budget; tenant B is not affected at all.
        _assert_429(
            await client.post("/v1/auth/sdk/token", headers=a.headers, json={"userId": "v"})
        )
        other = await client.post("/v1/auth/sdk/token", headers=b.headers, json={"userId": "u"})
        assert other.status_code == 200
        metrics = (await client.get("/internal/metrics")).text
    assert 'caas_rate_limited_requests_total{route="/v1/auth/me"}' in metrics
    assert 'route="/v1/auth/sdk/token",status="429"' in metrics


async def test_refresh_is_limited_per_client_address(stack: Stack, tenant: Tenant) -> None:
    settings = make_settings(stack, CAAS_IP_RATE_LIMIT_PER_MINUTE="60", CAAS_RATE_LIMIT_BURST="2")
    # 127.0.0.1's budget is shared by every test (and instance): start and leave it clean.
    redis = Redis.from_url(stack.redis_url)
    await redis.delete(f"{KEY_PREFIX}ip:127.0.0.1")
    try:
        async with running_app(settings) as (_, client):
            statuses = [
                (
                    await client.post("/v1/auth/refresh", json={"refreshToken": "caas_rt_x"})
                ).status_code
                for _ in range(5)
            ]
    finally:
        await redis.delete(f"{KEY_PREFIX}ip:127.0.0.1")
        await redis.aclose()
    assert statuses[0] == 400  # a bad token, but charged first
    assert statuses[-1] == 429


async def test_a_synced_plan_sets_each_clients_rate(
    stack: Stack, tenant: Tenant, mongo: Any
) -> None:
    # The operator copies spec.plan into saas_clients; 1 request/s with a burst of 2 per client.
    await mongo["caas_platform"]["saas_clients"].update_one(
        {"_id": tenant.name},
        {"$set": {"plan": {"rateLimit": {"requestsPerSecond": 1, "burst": 2}}}},
        upsert=True,
    )
    try:
        async with running_app(make_settings(stack)) as (_, client):
            statuses = [
                (await client.get("/v1/tenant", headers=tenant.headers)).status_code
                for _ in range(4)
            ]
        assert statuses[:2] == [200, 200]
        assert statuses[-1] == 429
    finally:
        await mongo["caas_platform"]["saas_clients"].delete_one({"_id": tenant.name})
