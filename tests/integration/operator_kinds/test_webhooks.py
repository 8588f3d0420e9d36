"""Webhook reconcile on the real stack: validate, write the whsec_ secret once, register."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import pytest
from lightkube import ApiError
from lightkube.resources.core_v1 import Secret

from caas_core.domain.naming import PLATFORM_DATABASE
from caas_core.domain.webhook_records import (
    MAX_CONCURRENCY,
    MAX_RATE_PER_SECOND,
    WebhookEndpoint,
    WebhookWriter,
    endpoint_id,
    fingerprint,
    new_endpoint_id,
    signing_key,
)
from caas_core.domain.webhook_urls import HostResolutionError
from caas_operator.shared.status import KindResult
from caas_operator.webhook.reconcile import reconcile_webhook, unregister_webhook
from caas_operator.webhook.store import WebhookStore
from tests.integration.operator_kinds.conftest import Tenant

DNS = {
    "hooks.example.com": ["93.184.215.14"],
    "rebound.example.com": ["127.0.0.1"],
    "inside.example.com": ["10.20.30.40"],
}


async def fake_dns(host: str, port: int) -> Sequence[str]:
    if host not in DNS:
        raise HostResolutionError("Name or service not known")
    return DNS[host]


async def reconcile(
    tenant: Tenant, obj: dict[str, Any], status: dict[str, Any] | None = None, *, dev: bool = False
) -> KindResult:
    meta = obj["metadata"]
    return await reconcile_webhook(
        tenant.ctx,
        namespace=tenant.namespace,
        name=meta["name"],
        uid=meta["uid"],
        spec=obj["spec"],
        old_status=status,
        generation=meta.get("generation"),
        development=dev,
        resolve=fake_dns,
    )


def ready(result: KindResult) -> dict[str, Any]:
    (condition,) = [c for c in result.status["conditions"] if c["type"] == "Ready"]
    return dict(condition)


def store(tenant: Tenant) -> WebhookStore:
    return WebhookStore(tenant.ctx.clients.mongo[PLATFORM_DATABASE])


async def signing_secret(tenant: Tenant, name: str) -> tuple[str, str]:
    secret = await tenant.ctx.kube.get(Secret, name=f"{name}-webhook", namespace=tenant.namespace)
    assert secret.data is not None
    assert secret.metadata is not None
    return base64.b64decode(secret.data["signingSecret"]).decode(), str(
        secret.metadata.resourceVersion
    )


async def test_a_valid_endpoint_is_registered_with_a_secret_written_once(tenant: Tenant) -> None:
    spec = {"url": "https://hooks.example.com/caas", "eventTypes": ["message.*"]}
    obj = await tenant.create("Webhook", "orders", spec)
    first = await reconcile(tenant, obj)
    assert ready(first)["status"] == "True", first.status
    assert ready(first)["reason"] == "Registered"
    secret, version = await signing_secret(tenant, "orders")
    assert secret.startswith("whsec_")
    assert 24 <= len(signing_key(secret)) <= 64
    uid = obj["metadata"]["uid"]
    endpoint = await store(tenant).get(endpoint_id(uid))
    assert endpoint is not None
    assert endpoint.url == "https://hooks.example.com/caas"
    assert endpoint.event_types == ("message.*",)
    assert endpoint.tenant == tenant.name
    assert endpoint.managed_by is WebhookWriter.OPERATOR
    assert (endpoint.secret_ref.name, endpoint.secret_ref.key) == (
        "orders-webhook",
        "signingSecret",
    )
    assert endpoint.secret_fingerprint == fingerprint(secret)
    raw = await tenant.ctx.clients.mongo[PLATFORM_DATABASE]["webhook_endpoints"].find_one(
        {"_id": endpoint_id(uid)}
    )
    assert secret not in str(raw)
    assert first.status["addresses"] == ["93.184.215.14"]
    again = await reconcile(tenant, obj, first.status)
    assert again.status == first.status
    assert (await signing_secret(tenant, "orders"))[1] == version
    assert await store(tenant).get(endpoint_id(uid)) == endpoint


async def test_delivery_options_land_in_the_store(tenant: Tenant) -> None:
    spec = {
        "url": "https://hooks.example.com/tuned",
        "maxConcurrency": 4,
        "rateLimitPerSecond": 2.5,
        "ordered": True,
    }
    obj = await tenant.create("Webhook", "tuned", spec)
    status = (await reconcile(tenant, obj)).status
    eid = endpoint_id(obj["metadata"]["uid"])
    endpoint = await store(tenant).get(eid)
    assert endpoint is not None
    assert (endpoint.max_concurrency, endpoint.rate_limit_per_second, endpoint.ordered) == (
        4,
        2.5,
        True,
    )
    raw = await tenant.ctx.clients.mongo[PLATFORM_DATABASE]["webhook_endpoints"].find_one(
        {"_id": eid}
    )
    assert raw is not None
    assert (raw["maxConcurrency"], raw["rateLimitPerSecond"], raw["ordered"]) == (4, 2.5, True)
    # A merge patch removing one option restores the dispatcher's default; another changes.
    obj = await tenant.update_spec(
        "Webhook", "tuned", {"maxConcurrency": None, "rateLimitPerSecond": 10}
    )
    assert ready(await reconcile(tenant, obj, status))["status"] == "True"
    endpoint = await store(tenant).get(eid)
    assert endpoint is not None
    assert (endpoint.max_concurrency, endpoint.rate_limit_per_second, endpoint.ordered) == (
        None,
        10.0,
        True,
    )


async def test_the_api_server_refuses_delivery_options_out_of_bounds(tenant: Tenant) -> None:
    for field, value in (
        ("maxConcurrency", 0),
        ("maxConcurrency", MAX_CONCURRENCY + 1),
        ("rateLimitPerSecond", 0),
        ("rateLimitPerSecond", MAX_RATE_PER_SECOND + 1),
        ("ordered", "yes"),
    ):
        with pytest.raises(ApiError) as refused:
            await tenant.create(
                "Webhook", "bounded", {"url": "https://hooks.example.com/b", field: value}
            )
        assert refused.value.status.code == 422
        assert f"spec.{field}" in str(refused.value.status.message), (field, value)


async def test_a_name_resolving_inside_is_refused_and_unregistered(tenant: Tenant) -> None:
    obj = await tenant.create("Webhook", "moving", {"url": "https://hooks.example.com/x"})
    status = (await reconcile(tenant, obj)).status
    uid = obj["metadata"]["uid"]
    assert await store(tenant).get(endpoint_id(uid)) is not None
    for url, reason, detail in (
        ("https://rebound.example.com/x", "LoopbackAddress", "resolves to 127.0.0.1, a loopback"),
        ("https://inside.example.com/x", "PrivateAddress", "resolves to 10.20.30.40, a private"),
    ):
        obj = await tenant.update_spec("Webhook", "moving", {"url": url})
        refused = await reconcile(tenant, obj, status)
        assert (ready(refused)["status"], ready(refused)["reason"]) == ("False", reason)
        assert detail in ready(refused)["message"]
        assert not refused.retry
        assert await store(tenant).get(endpoint_id(uid)) is None
        status = refused.status


async def test_an_unresolvable_host_is_retried(tenant: Tenant) -> None:
    obj = await tenant.create("Webhook", "nowhere", {"url": "https://nowhere.example.net/x"})
    result = await reconcile(tenant, obj)
    assert (ready(result)["reason"], result.retry) == ("UnresolvableHost", True)


async def test_http_only_for_a_development_operator(tenant: Tenant) -> None:
    spec = {"url": "http://hooks.example.com/dev", "allowInsecureHttp": True}
    obj = await tenant.create("Webhook", "plain", spec)
    refused = await reconcile(tenant, obj, dev=False)
    assert ready(refused)["reason"] == "InsecureScheme"
    assert "CAAS_ENV=development" in ready(refused)["message"]
    accepted = await reconcile(tenant, obj, refused.status, dev=True)
    assert ready(accepted)["status"] == "True", accepted.status


async def test_deletion_unregisters_and_the_quota_counts_endpoints(tenant: Tenant) -> None:
    made = []
    for name in ("a", "b"):
        obj = await tenant.create("Webhook", name, {"url": "https://hooks.example.com/" + name})
        assert ready(await reconcile(tenant, obj))["status"] == "True"
        made.append(obj)
    third = await reconcile(
        tenant, await tenant.create("Webhook", "c", {"url": "https://hooks.example.com/c"})
    )
    assert (ready(third)["reason"], third.retry) == ("QuotaExceeded", True)
    uid = made[0]["metadata"]["uid"]
    assert await unregister_webhook(tenant.ctx, uid=uid)
    assert await store(tenant).get(endpoint_id(uid)) is None
    assert not await unregister_webhook(tenant.ctx, uid=uid)


async def test_rest_endpoints_count_toward_the_resources_quota(tenant: Tenant) -> None:
    # An endpoint registered through /v1/webhooks (the API writer) takes one of the plan's two
    # places, so the resource side gets one only; the REST endpoint stays the API's.
    now = datetime.now(UTC)
    rest = WebhookEndpoint(
        endpoint_id=new_endpoint_id(), tenant=tenant.name, url="https://hooks.example.com/rest",
        event_types=("*",), enabled=True, secret_ref=None, secret_fingerprint="f" * 16,
        managed_by=WebhookWriter.API, created_at=now, updated_at=now,
    )  # fmt: skip
    await store(tenant).register(rest, writer=WebhookWriter.API, quota=2)
    first = await tenant.create("Webhook", "a", {"url": "https://hooks.example.com/a"})
    assert ready(await reconcile(tenant, first))["status"] == "True"
    second = await reconcile(
        tenant, await tenant.create("Webhook", "b", {"url": "https://hooks.example.com/b"})
    )
    assert (ready(second)["reason"], second.retry) == ("QuotaExceeded", True)
    assert "allows 2" in ready(second)["message"]
    kept = await store(tenant).get(rest.endpoint_id)
    assert kept is not None
    assert kept.managed_by is WebhookWriter.API
