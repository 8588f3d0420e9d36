"""/v1/webhooks and /v1/events on the real stack: CRUD, refusals naming the field (URLs that
are private, loopback, link-local, IPv6 loopback, or a name resolving to a private address),
the secret shown once and stored sealed, rotation with an overlap, the plan's quota on both
writers, the owner rule both ways, tenant isolation, and events landing on Kafka."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from confluent_kafka import Consumer, TopicPartition
from fastapi import FastAPI
from pymongo import AsyncMongoClient

from caas_control_plane.auth.webhook_sealing import WebhookSecretSealer
from caas_control_plane.dispatcher.endpoints import DeliveryOptions, options_of
from caas_control_plane.runtime import keks
from caas_core.adapters.tenant_profiles import TenantProfileStore
from caas_core.adapters.webhook_events import publish_events
from caas_core.adapters.webhook_store import WebhookStore
from caas_core.domain.platform_events import tenant_deleted_event, tenant_lifecycle_events
from caas_core.domain.webhook_events import tenant_event_id
from caas_core.domain.webhook_records import (
    MAX_CONCURRENCY,
    MAX_RATE_PER_SECOND,
    ForeignEndpointError,
    SecretRef,
    WebhookEndpoint,
    WebhookQuotaError,
    WebhookSource,
    WebhookWriter,
    endpoint_id,
    fingerprint,
)
from caas_core.domain.webhook_secrets import live_secrets
from tests.conftest import Stack
from tests.integration.control_plane.conftest import Tenant, make_settings, running_app

pytestmark = pytest.mark.integration

PUBLIC = "93.184.215.14"  # a public unicast address (nothing is ever sent to it here)
HOSTS = f"""
{PUBLIC} hooks.example.com
10.1.2.3 internal.example.com
"""
Api = tuple[FastAPI, httpx.AsyncClient]


@pytest.fixture
def hosts_file(tmp_path: Path) -> Path:
    path = tmp_path / "hosts"
    path.write_text(HOSTS)
    return path


@pytest.fixture
async def api(stack: Stack, hosts_file: Path) -> AsyncIterator[Api]:
    settings = make_settings(
        stack, CAAS_WEBHOOK_HOSTS_FILE=str(hosts_file), CAAS_WEBHOOK_SECRET_OVERLAP_SECONDS="600"
    )
    async with running_app(settings) as pair:
        yield pair


@pytest.fixture
async def cleanup(mongo: AsyncMongoClient[dict[str, Any]]) -> AsyncIterator[list[str]]:
    tenants: list[str] = []
    yield tenants
    db = mongo["caas_platform"]
    for name in tenants:
        await db["webhook_endpoints"].delete_many({"tenant": name})
        await db["webhook_tenants"].delete_one({"_id": name})
        await db["saas_clients"].delete_one({"_id": name})


@pytest.fixture
async def make_tenant(tenant_factory: Callable[..., Any], cleanup: list[str]) -> Callable[..., Any]:
    async def make(scopes: tuple[str, ...] = ("*",)) -> Tenant:
        created: Tenant = await tenant_factory(scopes)
        cleanup.append(created.name)
        return created

    return make


def body(**fields: Any) -> dict[str, Any]:
    return {"url": "https://hooks.example.com/caas", "eventTypes": ["message.*"], **fields}


async def create(client: httpx.AsyncClient, tenant: Tenant, **fields: Any) -> dict[str, Any]:
    response = await client.post("/v1/webhooks", headers=tenant.headers, json=body(**fields))
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def refused_field(response: httpx.Response, status: int = 422) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    field: str = problem["errors"][0]["field"]
    return field


async def test_crud_and_the_secret_shown_once(
    api: Api, make_tenant: Callable[..., Any], mongo: AsyncMongoClient[dict[str, Any]]
) -> None:
    app, client = api
    tenant = await make_tenant()
    created = await create(client, tenant, description="orders", eventTypes=["message.*", "*"])
    assert created["secret"].startswith("whsec_")
    assert created["managedBy"] == "api"
    assert created["id"].startswith("whep_")
    assert created["eventTypes"] == ["*", "message.*"]
    assert created["secretFingerprint"] == fingerprint(created["secret"])
    hook = f"/v1/webhooks/{created['id']}"

    got = (await client.get(hook, headers=tenant.headers)).json()
    assert "secret" not in got
    assert got["url"] == "https://hooks.example.com/caas"
    listed = (await client.get("/v1/webhooks", headers=tenant.headers)).json()["items"]
    assert [item["id"] for item in listed] == [created["id"]]
    assert all("secret" not in item for item in listed)

    # Stored sealed: the document holds no plaintext secret, and it opens with the KEK.
    doc = await mongo["caas_platform"]["webhook_endpoints"].find_one({"_id": created["id"]})
    assert doc is not None
    assert created["secret"] not in json.dumps(doc, default=str)
    current_kek, available = keks(app.state.settings)
    sealer = WebhookSecretSealer(kek_id=current_kek, keks=available)
    assert sealer.open(doc["secrets"][0]["sealed"], endpoint_id=created["id"]) == created["secret"]

    changed = await client.put(
        hook,
        headers=tenant.headers,
        json={"eventTypes": ["custom.order.paid"], "enabled": False, "description": None},
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["eventTypes"] == ["custom.order.paid"]
    assert changed.json()["enabled"] is False
    assert changed.json()["description"] is None
    assert changed.json()["url"] == "https://hooks.example.com/caas"

    assert (await client.delete(hook, headers=tenant.headers)).status_code == 204
    assert (await client.get(hook, headers=tenant.headers)).status_code == 404
    assert (await client.delete(hook, headers=tenant.headers)).status_code == 404

    types = (await client.get("/v1/webhooks/event-types", headers=tenant.headers)).json()
    names = {item["type"]: item["origin"] for item in types["items"]}
    assert names["api_key.created"] == "platform"
    assert names["message.created"] == "tenant"
    assert "security.audit.integrity" in names
    assert "webhook.endpoint_disabled" in names
    assert "custom.*" in types["filters"]


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("https://127.0.0.1/hook", "LoopbackAddress"),
        ("https://10.0.0.8/hook", "PrivateAddress"),
        ("https://169.254.169.254/latest/meta-data", "MetadataAddress"),
        ("https://[::1]/hook", "LoopbackAddress"),
        ("https://internal.example.com/hook", "PrivateAddress"),
        ("http://hooks.example.com/hook", "InsecureScheme"),
        ("not a url", None),
    ],
)
async def test_urls_refused_at_registration_name_the_field(
    api: Api, make_tenant: Callable[..., Any], url: str, reason: str | None
) -> None:
    _, client = api
    tenant = await make_tenant()
    response = await client.post("/v1/webhooks", headers=tenant.headers, json=body(url=url))
    assert refused_field(response) == "url"
    if reason is not None:
        assert response.json()["reason"] == reason
    assert (await client.get("/v1/webhooks", headers=tenant.headers)).json()["items"] == []


async def test_other_bad_input_names_the_field_and_writes_nothing(
    api: Api, make_tenant: Callable[..., Any]
) -> None:
    _, client = api
    tenant = await make_tenant()
    headers = tenant.headers
    unknown = await client.post(
        "/v1/webhooks", headers=headers, json=body(eventTypes=["message.*", "message.exploded"])
    )
    assert refused_field(unknown) == "eventTypes[1]"
    malformed = await client.post(
        "/v1/webhooks",
        headers={**headers, "content-type": "application/json"},
        content=b'{"url": "https://hooks.example.com/x", "eventTypes": [',
    )
    assert malformed.status_code == 422
    assert malformed.headers["content-type"].startswith("application/problem+json")
    missing = await client.post("/v1/webhooks", headers=headers, json={"url": "https://x.io/"})
    assert refused_field(missing) == "eventTypes"
    assert (await client.get("/v1/webhooks", headers=headers)).json()["items"] == []

    created = await create(client, tenant)
    hook = f"/v1/webhooks/{created['id']}"
    bad_put = await client.put(hook, headers=headers, json={"url": "https://10.9.9.9/x"})
    assert refused_field(bad_put) == "url"
    assert (await client.get(hook, headers=headers)).json()["url"] == created["url"]


async def test_delivery_options_set_read_back_and_bounded(
    api: Api, make_tenant: Callable[..., Any], mongo: AsyncMongoClient[dict[str, Any]]
) -> None:
    _, client = api
    tenant = await make_tenant()
    headers = tenant.headers
    plain = await create(client, tenant)
    assert (plain["maxConcurrency"], plain["rateLimitPerSecond"], plain["ordered"]) == (
        None,
        None,
        None,
    )
    created = await create(client, tenant, maxConcurrency=4, rateLimitPerSecond=2.5, ordered=True)
    hook = f"/v1/webhooks/{created['id']}"
    got = (await client.get(hook, headers=headers)).json()
    assert (got["maxConcurrency"], got["rateLimitPerSecond"], got["ordered"]) == (4, 2.5, True)
    listed = {
        i["id"]: i for i in (await client.get("/v1/webhooks", headers=headers)).json()["items"]
    }
    assert listed[created["id"]]["maxConcurrency"] == 4

    # The stored document is what the dispatcher reads, with these very options.
    raw = await mongo["caas_platform"]["webhook_endpoints"].find_one({"_id": created["id"]})
    assert raw is not None
    defaults = DeliveryOptions(max_concurrency=32, rate_per_second=None, ordered=False)
    assert options_of(raw, defaults) == DeliveryOptions(
        max_concurrency=4, rate_per_second=2.5, ordered=True
    )

    # PUT: omitted options stay, a given one changes, null restores the dispatcher's default.
    changed = await client.put(hook, headers=headers, json={"rateLimitPerSecond": 100})
    assert changed.status_code == 200, changed.text
    assert (changed.json()["maxConcurrency"], changed.json()["rateLimitPerSecond"]) == (4, 100)
    assert changed.json()["ordered"] is True
    reset = await client.put(hook, headers=headers, json={"maxConcurrency": None, "ordered": False})
    assert reset.status_code == 200, reset.text
    assert (reset.json()["maxConcurrency"], reset.json()["ordered"]) == (None, False)
    raw = await mongo["caas_platform"]["webhook_endpoints"].find_one({"_id": created["id"]})
    assert raw is not None
    assert options_of(raw, defaults) == DeliveryOptions(
        max_concurrency=32, rate_per_second=100, ordered=False
    )

    # Out of the dispatcher's bounds, or not the JSON type: 422 naming the field, nothing written.
    before = (await client.get(hook, headers=headers)).json()
    for field, value in [
        ("maxConcurrency", 0),
        ("maxConcurrency", MAX_CONCURRENCY + 1),
        ("maxConcurrency", 2.5),
        ("maxConcurrency", "4"),
        ("rateLimitPerSecond", 0),
        ("rateLimitPerSecond", -1),
        ("rateLimitPerSecond", MAX_RATE_PER_SECOND + 1),
        ("rateLimitPerSecond", "5"),
        ("ordered", "yes"),
    ]:
        refused = await client.post("/v1/webhooks", headers=headers, json=body(**{field: value}))
        assert refused_field(refused) == field, (field, value)
        put = await client.put(hook, headers=headers, json={"enabled": False, field: value})
        assert refused_field(put) == field, (field, value)
    assert (await client.get(hook, headers=headers)).json() == before
    assert len((await client.get("/v1/webhooks", headers=headers)).json()["items"]) == 2
    # The bounds themselves are accepted.
    edges = await create(
        client, tenant, maxConcurrency=MAX_CONCURRENCY, rateLimitPerSecond=MAX_RATE_PER_SECOND
    )
    assert edges["maxConcurrency"] == MAX_CONCURRENCY
    assert (await client.put(f"/v1/webhooks/{edges['id']}", headers=headers,
                             json={"maxConcurrency": 1})).json()["maxConcurrency"] == 1  # fmt: skip


async def test_rotation_keeps_the_old_secret_signing_for_the_overlap(
    api: Api, make_tenant: Callable[..., Any], mongo: AsyncMongoClient[dict[str, Any]]
) -> None:
    app, client = api
    tenant = await make_tenant()
    created = await create(client, tenant)
    hook = f"/v1/webhooks/{created['id']}"
    rotated = await client.post(f"{hook}/rotate-secret", headers=tenant.headers)
    assert rotated.status_code == 200, rotated.text
    new = rotated.json()
    assert new["secret"] != created["secret"]
    assert new["secret"].startswith("whsec_")
    until = datetime.fromisoformat(new["previousSecretExpiresAt"])
    now = datetime.now(UTC)
    assert now + timedelta(seconds=500) < until <= now + timedelta(seconds=600)
    shown = (await client.get(hook, headers=tenant.headers)).json()
    assert shown["secretFingerprint"] == fingerprint(new["secret"])
    assert "secret" not in shown

    # What the dispatcher signs with: both secrets now, the new one first.
    stored = await WebhookStore(mongo["caas_platform"]).get(created["id"])
    assert stored is not None
    current_kek, available = keks(app.state.settings)
    sealer = WebhookSecretSealer(kek_id=current_kek, keks=available)
    live = live_secrets(stored.secrets, now=datetime.now(UTC))
    opened = [sealer.open(s.sealed, endpoint_id=stored.endpoint_id) for s in live]
    assert opened == [new["secret"], created["secret"]]
    after_window = live_secrets(stored.secrets, now=until + timedelta(seconds=1))
    assert [s.fingerprint for s in after_window] == [fingerprint(new["secret"])]

    # An overlap of zero retires the replaced secret at once.
    again = await client.post(
        f"{hook}/rotate-secret", headers=tenant.headers, json={"overlapSeconds": 0}
    )
    assert again.status_code == 200
    assert again.json()["previousSecretExpiresAt"] is None
    stored = await WebhookStore(mongo["caas_platform"]).get(created["id"])
    assert stored is not None
    assert [s.fingerprint for s in stored.secrets] == [fingerprint(again.json()["secret"])]
    too_long = await client.post(
        f"{hook}/rotate-secret", headers=tenant.headers, json={"overlapSeconds": 10**9}
    )
    assert refused_field(too_long) == "overlapSeconds"


def operator_endpoint(tenant: str, uid: str) -> WebhookEndpoint:
    now = datetime.now(UTC)
    return WebhookEndpoint(
        endpoint_id=endpoint_id(uid),
        tenant=tenant,
        url="https://hooks.example.com/from-resource",
        event_types=("*",),
        enabled=True,
        secret_ref=SecretRef(namespace=f"tenant-{tenant}", name="orders-webhook", key="s"),
        secret_fingerprint="0" * 16,
        managed_by=WebhookWriter.OPERATOR,
        created_at=now,
        updated_at=now,
        source=WebhookSource(namespace=f"tenant-{tenant}", name="orders", uid=uid),
        generation=1,
    )


async def test_quota_on_both_writers(
    api: Api, make_tenant: Callable[..., Any], mongo: AsyncMongoClient[dict[str, Any]]
) -> None:
    _, client = api
    tenant = await make_tenant()
    db = mongo["caas_platform"]
    await TenantProfileStore(db).sync_plan(
        tenant.name, plan={"maxWebhooks": 2}, now=datetime.now(UTC)
    )
    store = WebhookStore(db)
    # The operator registers one (as its reconcile does, with the Tenant's quota) ...
    await store.register(
        operator_endpoint(tenant.name, "uid-q1"), writer=WebhookWriter.OPERATOR, quota=2
    )
    # ... REST takes the second place ...
    await create(client, tenant)
    refused = await client.post("/v1/webhooks", headers=tenant.headers, json=body())
    assert refused.status_code == 403
    assert "allows 2" in refused.json()["detail"]
    # ... and the operator is refused the third one too.
    with pytest.raises(WebhookQuotaError, match="allows 2"):
        await store.register(
            operator_endpoint(tenant.name, "uid-q2"), writer=WebhookWriter.OPERATOR, quota=2
        )
    # An update of an existing endpoint is no new endpoint: not refused.
    await store.register(
        operator_endpoint(tenant.name, "uid-q1"), writer=WebhookWriter.OPERATOR, quota=2
    )
    assert len(await store.list_for_tenant(tenant.name)) == 2


async def test_owner_rule_both_ways(
    api: Api, make_tenant: Callable[..., Any], mongo: AsyncMongoClient[dict[str, Any]]
) -> None:
    _, client = api
    tenant = await make_tenant()
    store = WebhookStore(mongo["caas_platform"])
    resource = operator_endpoint(tenant.name, "uid-owner")
    await store.register(resource, writer=WebhookWriter.OPERATOR)
    hook = f"/v1/webhooks/{resource.endpoint_id}"
    # Listed and readable through REST, with the resource it belongs to ...
    shown = (await client.get(hook, headers=tenant.headers)).json()
    assert shown["managedBy"] == "operator"
    assert shown["resource"] == f"tenant-{tenant.name}/orders"
    # ... but never changed there: 409 naming the owner.
    for response in (
        await client.put(hook, headers=tenant.headers, json={"enabled": False}),
        await client.delete(hook, headers=tenant.headers),
        await client.post(f"{hook}/rotate-secret", headers=tenant.headers),
    ):
        assert response.status_code == 409, response.text
        assert response.json()["owner"] == f"the operator (Webhook tenant-{tenant.name}/orders)"
        assert "Webhook resource" in response.json()["detail"]
    kept = await store.get(resource.endpoint_id)
    assert kept is not None
    assert kept.same_registration(resource)

    # The operator side refuses a REST endpoint the same way.
    created = await create(client, tenant)
    rest = await store.get(created["id"])
    assert rest is not None
    with pytest.raises(ForeignEndpointError, match="managed by the api"):
        await store.unregister(created["id"], writer=WebhookWriter.OPERATOR)
    with pytest.raises(ForeignEndpointError):
        await store.register(rest, writer=WebhookWriter.OPERATOR)
    assert (await client.get(f"/v1/webhooks/{created['id']}", headers=tenant.headers)).json()[
        "enabled"
    ]


async def test_tenants_are_isolated(api: Api, make_tenant: Callable[..., Any]) -> None:
    _, client = api
    a, b = await make_tenant(), await make_tenant()
    hook = f"/v1/webhooks/{(await create(client, a))['id']}"
    assert (await client.get("/v1/webhooks", headers=b.headers)).json()["items"] == []
    assert (await client.get(hook, headers=b.headers)).status_code == 404
    assert (await client.put(hook, headers=b.headers, json={"enabled": False})).status_code == 404
    assert (await client.post(f"{hook}/rotate-secret", headers=b.headers)).status_code == 404
    assert (await client.delete(hook, headers=b.headers)).status_code == 404
    assert (await client.get(hook, headers=a.headers)).json()["enabled"] is True


async def test_scopes(api: Api, make_tenant: Callable[..., Any]) -> None:
    _, client = api
    reader = await make_tenant(("webhooks:read",))
    assert (await client.get("/v1/webhooks", headers=reader.headers)).status_code == 200
    refused = await client.post("/v1/webhooks", headers=reader.headers, json=body())
    assert refused.status_code == 403
    publish = await client.post(
        "/v1/events", headers=reader.headers, json={"type": "custom.x", "data": {}}
    )
    assert publish.status_code == 403


@pytest.fixture
def consumer(stack: Stack) -> Iterator[Consumer]:
    """Reads `events` and `platform.events` from their current ends."""
    reader = Consumer(
        {"bootstrap.servers": stack.kafka_bootstrap, "group.id": "it-webhook-events",
         "enable.auto.commit": False}
    )  # fmt: skip
    metadata = reader.list_topics(timeout=10)
    # Concrete end offsets, read now: OFFSET_END would be resolved only at the first fetch,
    # after which events published in between would be skipped.
    reader.assign(
        [
            TopicPartition(topic, p, reader.get_watermark_offsets(TopicPartition(topic, p), 10)[1])
            for topic in ("events", "platform.events")
            for p in metadata.topics[topic].partitions
        ]
    )
    yield reader
    reader.close()


def consume_until(
    consumer: Consumer, wanted: Callable[[str, dict[str, Any]], bool], *, polls: int = 400
) -> tuple[str, str, dict[str, Any]]:
    """The first record (topic, key, envelope) `wanted` accepts; fails after `polls` polls.
    Run in a thread: the app's outbox relay publishes on the test's event loop. Generous: on a
    shared stack another instance's relay may claim a message while its Kafka is unreachable
    (outage tests) and release it only after its backoff (up to 60 s)."""
    for _ in range(polls):
        message = consumer.poll(0.5)
        if message is None or message.error():
            continue
        envelope = json.loads(message.value())
        if wanted(message.topic(), envelope):
            return message.topic(), (message.key() or b"").decode(), envelope
    pytest.fail("the event never reached Kafka")


async def test_published_events_land_on_kafka_with_the_envelope(
    api: Api, make_tenant: Callable[..., Any], consumer: Consumer
) -> None:
    _, client = api
    tenant = await make_tenant()
    published = await client.post(
        "/v1/events",
        headers=tenant.headers,
        json={"type": "custom.order.paid", "data": {"orderId": "o-1", "amount": 12}},
    )
    assert published.status_code == 202, published.text
    accepted = published.json()
    assert accepted["tenant"] == tenant.name
    assert accepted["topic"] == "events"
    topic, key, envelope = await asyncio.to_thread(
        consume_until, consumer, lambda _, e: e.get("id") == accepted["id"]
    )
    assert topic == "events"
    assert key == tenant.name
    assert set(envelope) == {"id", "type", "tenant", "timestamp", "data"}
    assert envelope["type"] == "custom.order.paid"
    assert envelope["tenant"] == tenant.name
    assert envelope["data"] == {"orderId": "o-1", "amount": 12}
    assert datetime.fromisoformat(envelope["timestamp"]).tzinfo is not None
    declared = await client.post(
        "/v1/events",
        headers=tenant.headers,
        json={"type": "message.created", "data": {}, "id": "msg-42"},
    )
    assert declared.status_code == 202
    assert declared.json()["id"] == tenant_event_id(tenant.name, "msg-42")
    other = await make_tenant()
    same_key = await client.post(
        "/v1/events", headers=other.headers, json={"type": "message.created", "id": "msg-42"}
    )
    assert same_key.json()["id"] != declared.json()["id"]  # never another tenant's event


async def test_event_refusals_name_the_field(api: Api, make_tenant: Callable[..., Any]) -> None:
    _, client = api
    tenant = await make_tenant()
    for type_ in ("api_key.created", "security.audit.integrity", "nope.thing", "custom.BAD"):
        response = await client.post(
            "/v1/events", headers=tenant.headers, json={"type": type_, "data": {}}
        )
        assert refused_field(response) == "type", type_
    platform = await client.post(
        "/v1/events", headers=tenant.headers, json={"type": "api_key.created", "data": {}}
    )
    assert "platform event" in platform.json()["detail"]
    large = await client.post(
        "/v1/events",
        headers=tenant.headers,
        json={"type": "custom.big", "data": {"blob": "x" * 40_000}},
    )
    assert refused_field(large, status=413) == "data"
    assert "32768 bytes" in large.json()["detail"]
    bad_data = await client.post(
        "/v1/events", headers=tenant.headers, json={"type": "custom.x", "data": [1, 2]}
    )
    assert refused_field(bad_data) == "data"
    # Data no receiver could read back exactly, or no database could store (found by the
    # OpenAPI conformance test as a 500): refused naming `data`, nothing queued.
    for body in (
        '{"type":"custom.x","data":{"n":-4640095219301267062774755955310592}}',
        '{"type":"custom.x","data":{"s":"\\udaa3"}}',
        '{"type":"custom.x","data":{"k\\u0000":1}}',
    ):
        response = await client.post(
            "/v1/events",
            headers={**tenant.headers, "Content-Type": "application/json"},
            content=body.encode(),
        )
        assert refused_field(response) == "data", (body, response.text)


async def test_platform_events_land_on_platform_events(
    api: Api, make_tenant: Callable[..., Any], consumer: Consumer
) -> None:
    _, client = api
    tenant = await make_tenant()
    created = await client.post(
        "/v1/auth/api-keys",
        headers=tenant.headers,
        json={"name": "ci", "scopes": ["webhooks:read"]},
    )
    assert created.status_code == 201, created.text
    key_id = created.json()["keyId"]
    revoked = await client.delete(f"/v1/auth/api-keys/{key_id}", headers=tenant.headers)
    assert revoked.status_code == 204
    seen: dict[str, dict[str, Any]] = {}

    def wanted(topic: str, envelope: dict[str, Any]) -> bool:
        if topic == "platform.events" and envelope.get("tenant") == tenant.name:
            seen[envelope["type"]] = envelope
        return {"api_key.created", "api_key.revoked"} <= set(seen)

    topic, key, _ = await asyncio.to_thread(consume_until, consumer, wanted)
    assert topic == "platform.events"
    assert key == tenant.name
    assert seen["api_key.created"]["data"] == {
        "keyId": key_id, "name": "ci", "scopes": ["webhooks:read"],
    }  # fmt: skip
    assert seen["api_key.revoked"]["data"]["keyId"] == key_id
    assert seen["api_key.created"]["id"].startswith("evt_")
    assert seen["api_key.created"]["id"] != seen["api_key.revoked"]["id"]


async def test_the_quota_holds_under_concurrent_writers(
    api: Api, make_tenant: Callable[..., Any], mongo: AsyncMongoClient[dict[str, Any]]
) -> None:
    _, client = api
    tenant = await make_tenant()
    db = mongo["caas_platform"]
    await TenantProfileStore(db).sync_plan(
        tenant.name, plan={"maxWebhooks": 3}, now=datetime.now(UTC)
    )
    store = WebhookStore(db)

    async def by_rest() -> str:
        response = await client.post("/v1/webhooks", headers=tenant.headers, json=body())
        return "created" if response.status_code == 201 else str(response.status_code)

    async def by_operator(uid: str) -> str:
        try:
            await store.register(
                operator_endpoint(tenant.name, uid), writer=WebhookWriter.OPERATOR, quota=3
            )
        except WebhookQuotaError:
            return "403"
        return "created"

    outcomes = await asyncio.gather(
        *(by_rest() for _ in range(6)), *(by_operator(f"uid-c{i}") for i in range(4))
    )
    assert sorted(outcomes) == ["403"] * 7 + ["created"] * 3
    assert len(await store.list_for_tenant(tenant.name)) == 3


async def test_session_events_land_on_platform_events(
    api: Api, make_tenant: Callable[..., Any], consumer: Consumer
) -> None:
    _, client = api
    tenant = await make_tenant()
    issued = await client.post("/v1/auth/sdk/token", headers=tenant.headers, json={"userId": "u7"})
    assert issued.status_code == 200, issued.text
    tokens = issued.json()
    logout = await client.post(
        "/v1/auth/logout", headers={"Authorization": f"Bearer {tokens['accessToken']}"}
    )
    assert logout.status_code == 204
    seen: dict[str, dict[str, Any]] = {}

    def wanted(topic: str, envelope: dict[str, Any]) -> bool:
        if topic == "platform.events" and envelope.get("tenant") == tenant.name:
            seen[envelope["type"]] = envelope
        return {"session.created", "session.revoked"} <= set(seen)

    await asyncio.to_thread(consume_until, consumer, wanted)
    assert seen["session.created"]["data"]["sessionId"] == tokens["sessionId"]
    assert seen["session.created"]["data"]["userId"] == "u7"
    assert seen["session.revoked"]["data"]["sessionId"] == tokens["sessionId"]
    assert seen["session.revoked"]["data"]["via"] == "auth.logout"


async def test_the_operators_tenant_events_reach_platform_events(
    api: Api, mongo: AsyncMongoClient[dict[str, Any]], consumer: Consumer
) -> None:
    # The operator runs no relay: it queues in the platform outbox (publish_events, as its
    # Tenant reconcile and teardown do) and an API instance's relay publishes.
    name = f"it-{uuid.uuid4().hex[:8]}"
    ready = {"conditions": [{"type": "Ready", "status": "True"}]}
    now = datetime.now(UTC)
    lifecycle = tenant_lifecycle_events(
        tenant=name, uid=f"uid-{name}", old_status=None, new_status=ready, generation=1, now=now
    )
    gone = tenant_deleted_event(tenant=name, deleted_at=now, policy="Retain", now=now)
    await publish_events(mongo["caas_platform"], [*lifecycle, gone])
    await publish_events(mongo["caas_platform"], [gone])  # a retried teardown: the same id
    seen: list[dict[str, Any]] = []

    def wanted(topic: str, envelope: dict[str, Any]) -> bool:
        if topic == "platform.events" and envelope.get("tenant") == name:
            seen.append(envelope)
        return len({e["type"] for e in seen}) == 3

    await asyncio.to_thread(consume_until, consumer, wanted)
    assert [e["type"] for e in seen] == ["tenant.created", "tenant.ready", "tenant.deleted"]
    assert seen[2]["id"] == gone.id
    assert seen[2]["data"] == {"tenant": name, "deletionPolicy": "Retain"}


async def test_development_may_register_local_receivers(
    stack: Stack, hosts_file: Path, make_tenant: Callable[..., Any]
) -> None:
    # The dispatcher's development switches apply to registration too (refused by the settings
    # outside CAAS_ENV=development): a local test receiver over http.
    settings = make_settings(
        stack, CAAS_ENV="development", CAAS_WEBHOOK_ALLOW_INSECURE_HTTP="true",
        CAAS_WEBHOOK_ALLOW_PRIVATE_NETWORKS="127.0.0.0/8", CAAS_WEBHOOK_HOSTS_FILE=str(hosts_file),
    )  # fmt: skip
    async with running_app(settings) as (_, client):
        tenant = await make_tenant()
        local = await client.post(
            "/v1/webhooks", headers=tenant.headers, json=body(url="http://127.0.0.1:8089/hook")
        )
        assert local.status_code == 201, local.text
        outside = await client.post(
            "/v1/webhooks", headers=tenant.headers, json=body(url="https://10.0.0.8/hook")
        )
        assert refused_field(outside) == "url"
