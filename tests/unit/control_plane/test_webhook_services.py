"""The webhook and event services over in-memory fakes: refusals write nothing, the owner rule,
the quota, rotation, tenant isolation, event publication and platform events at the audit seam."""

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from caas_control_plane.services.context import ClientInfo
from caas_control_plane.services.errors import NotFoundError, QuotaExceededError
from caas_control_plane.services.events import (
    EventFieldError,
    EventingAuditWriter,
    EventPublisher,
    EventTooLargeError,
)
from caas_control_plane.services.webhooks import (
    WebhookAdmin,
    WebhookFieldError,
    WebhookOwnerError,
    WebhookPolicy,
)
from caas_core.domain.api_key_records import ApiKeyRecord, KeyWriter
from caas_core.domain.audit import Actor, AuditEvent, MemoryAuditWriter, Outcome
from caas_core.domain.webhook_events import EventTopic, WebhookEvent
from caas_core.domain.webhook_records import (
    EndpointChangedError,
    ForeignEndpointError,
    SecretRef,
    WebhookEndpoint,
    WebhookQuotaError,
    WebhookSource,
    WebhookWriter,
)
from caas_core.domain.webhook_urls import HostResolutionError
from caas_core.resources.tenant import PlanSpec

pytestmark = pytest.mark.unit
NOW = datetime(2026, 1, 1, tzinfo=UTC)
CLIENT = ClientInfo(ip="192.0.2.9")


class Store:
    """The WebhookEndpoints port in memory, with the real store's refusals."""

    def __init__(self) -> None:
        self.endpoints: dict[str, WebhookEndpoint] = {}

    async def get(self, endpoint_id: str, *, tenant: str | None = None) -> WebhookEndpoint | None:
        found = self.endpoints.get(endpoint_id)
        return None if found is None or (tenant and found.tenant != tenant) else found

    async def list_for_tenant(self, tenant: str) -> list[WebhookEndpoint]:
        return sorted(
            (e for e in self.endpoints.values() if e.tenant == tenant), key=lambda e: e.endpoint_id
        )

    async def subscribed(self, tenant: str, event_type: str) -> list[WebhookEndpoint]:
        return []

    async def register(
        self,
        endpoint: WebhookEndpoint,
        *,
        writer: WebhookWriter,
        quota: int | None = None,
        expect: datetime | None = None,
    ) -> None:
        found = self.endpoints.get(endpoint.endpoint_id)
        if found is not None and found.managed_by is not writer:
            raise ForeignEndpointError(found, writer)
        if expect is not None and (found is None or found.updated_at != expect):
            raise EndpointChangedError("changed")
        count = len(await self.list_for_tenant(endpoint.tenant))
        if found is None and quota is not None and count >= quota:
            raise WebhookQuotaError(tenant=endpoint.tenant, count=count, quota=quota)
        self.endpoints[endpoint.endpoint_id] = endpoint

    async def unregister(
        self, endpoint_id: str, *, writer: WebhookWriter, tenant: str | None = None
    ) -> bool:
        found = await self.get(endpoint_id, tenant=tenant)
        if found is None:
            return False
        if found.managed_by is not writer:
            raise ForeignEndpointError(found, writer)
        del self.endpoints[endpoint_id]
        return True

    async def disable(self, endpoint_id: str, *, reason: str, now: datetime) -> bool:
        return False


class Sealer:
    def seal(self, secret: str, *, endpoint_id: str) -> str:
        return f"sealed({endpoint_id}):{secret[::-1]}"

    def open(self, sealed: str, *, endpoint_id: str) -> str:
        prefix = f"sealed({endpoint_id}):"
        assert sealed.startswith(prefix)
        return sealed.removeprefix(prefix)[::-1]


async def dns(host: str, port: int) -> Sequence[str]:
    table = {"hooks.example.com": ["93.184.215.14"], "inside.example.com": ["10.0.0.3"]}
    if host not in table:
        raise HostResolutionError("Name or service not known")
    return table[host]


def key(tenant: str = "acme") -> ApiKeyRecord:
    return ApiKeyRecord(
        key_id=f"k-{tenant}", tenant=tenant, name="k", key_hash="h", scopes=("*",),
        managed_by=KeyWriter.API, created_at=NOW,
    )  # fmt: skip


def admin(store: Store, audit: MemoryAuditWriter, *, max_webhooks: int = 10) -> WebhookAdmin:
    async def plan(tenant: str) -> PlanSpec:
        return PlanSpec.model_validate({"maxWebhooks": max_webhooks})

    return WebhookAdmin(
        store=store, plan=plan, sealer=Sealer(), resolve=dns, audit=audit,
        policy=WebhookPolicy(overlap=timedelta(hours=1)), clock=lambda: NOW,
    )  # fmt: skip


async def create(service: WebhookAdmin, tenant: str = "acme", **fields: object) -> str:
    made = await service.create(
        caller=key(tenant), url=str(fields.get("url", "https://hooks.example.com/x")),
        event_types=("message.*",), description=None, enabled=True, client=CLIENT,
    )  # fmt: skip
    return made.endpoint.endpoint_id


async def test_refusals_name_the_field_and_write_nothing() -> None:
    store, audit = Store(), MemoryAuditWriter()
    service = admin(store, audit)
    for url, reason in (
        ("https://inside.example.com/", "PrivateAddress"),
        ("https://[::1]/", "LoopbackAddress"),
        ("https://nowhere.example.com/", "UnresolvableHost"),
    ):
        with pytest.raises(WebhookFieldError) as refused:
            await create(service, url=url)
        assert (refused.value.field, refused.value.reason) == ("url", reason)
    with pytest.raises(WebhookFieldError) as unknown:
        await service.create(
            caller=key(), url="https://hooks.example.com/", event_types=("*", "nope.x"),
            description=None, enabled=True, client=CLIENT,
        )  # fmt: skip
    assert unknown.value.field == "eventTypes[1]"
    assert store.endpoints == {}
    assert audit.events == []


async def test_create_seals_the_secret_and_the_quota_refuses_more() -> None:
    store, audit = Store(), MemoryAuditWriter()
    service = admin(store, audit, max_webhooks=1)
    made = await service.create(
        caller=key(), url="https://hooks.example.com/x", event_types=("user.*", "*", "user.*"),
        description="d", enabled=True, client=CLIENT,
    )  # fmt: skip
    endpoint = store.endpoints[made.endpoint.endpoint_id]
    assert endpoint.event_types == ("*", "user.*")  # sorted, deduplicated
    assert made.secret not in endpoint.secrets[0].sealed
    assert Sealer().open(endpoint.secrets[0].sealed, endpoint_id=endpoint.endpoint_id) == (
        made.secret
    )
    assert endpoint.secret_ref is None
    assert audit.actions() == ["webhook.endpoint.created"]
    assert made.secret not in str(audit.events[0].details)
    with pytest.raises(QuotaExceededError, match="allows 1"):
        await create(service)
    assert len(store.endpoints) == 1


async def test_rotation_update_delete_and_isolation() -> None:
    store, audit = Store(), MemoryAuditWriter()
    service = admin(store, audit)
    endpoint_id = await create(service)
    rotated = await service.rotate_secret(
        caller=key(), endpoint_id=endpoint_id, overlap=None, client=CLIENT
    )
    assert rotated.previous_expires_at == NOW + timedelta(hours=1)
    assert [s.expires_at for s in store.endpoints[endpoint_id].secrets] == [
        None, NOW + timedelta(hours=1),
    ]  # fmt: skip
    with pytest.raises(NotFoundError):
        await service.update(
            caller=key("other"), endpoint_id=endpoint_id, url=None, event_types=None,
            description=None, clear_description=False, enabled=False, client=CLIENT,
        )  # fmt: skip
    with pytest.raises(NotFoundError):
        await service.delete(caller=key("other"), endpoint_id=endpoint_id, client=CLIENT)
    with pytest.raises(WebhookFieldError):
        await service.update(
            caller=key(), endpoint_id=endpoint_id, url="https://inside.example.com/",
            event_types=None, description=None, clear_description=False, enabled=None,
            client=CLIENT,
        )  # fmt: skip
    assert store.endpoints[endpoint_id].url == "https://hooks.example.com/x"
    await service.delete(caller=key(), endpoint_id=endpoint_id, client=CLIENT)
    assert store.endpoints == {}
    assert audit.actions() == [
        "webhook.endpoint.created", "webhook.secret.rotated", "webhook.endpoint.deleted",
    ]  # fmt: skip


async def test_a_resources_endpoint_is_refused_naming_it() -> None:
    store, audit = Store(), MemoryAuditWriter()
    resource = WebhookEndpoint(
        endpoint_id="whep_uid", tenant="acme", url="https://hooks.example.com/", event_types=("*",),
        enabled=True, secret_ref=SecretRef(namespace="tenant-acme", name="s", key="k"),
        secret_fingerprint="f", managed_by=WebhookWriter.OPERATOR, created_at=NOW,
        updated_at=NOW, source=WebhookSource(namespace="tenant-acme", name="orders", uid="uid"),
    )  # fmt: skip
    store.endpoints[resource.endpoint_id] = resource
    service = admin(store, audit)
    assert await service.get("acme", "whep_uid") == resource
    with pytest.raises(WebhookOwnerError) as refused:
        await service.delete(caller=key(), endpoint_id="whep_uid", client=CLIENT)
    assert refused.value.owner == "the operator (Webhook tenant-acme/orders)"
    assert store.endpoints == {"whep_uid": resource}
    assert audit.events == []


class Events:
    def __init__(self) -> None:
        self.published: list[WebhookEvent] = []

    async def publish(self, events: Sequence[WebhookEvent]) -> None:
        self.published.extend(events)


async def test_tenant_events_and_platform_events_at_the_audit_seam() -> None:
    events = Events()
    publisher = EventPublisher(events=events, clock=lambda: NOW)
    event = await publisher.publish(
        tenant="acme", type_="custom.order.paid", data={"a": 1}, event_id=None
    )
    assert (event.topic, event.tenant, event.timestamp) == (EventTopic.TENANT, "acme", NOW)
    with pytest.raises(EventFieldError) as platform:
        await publisher.publish(tenant="acme", type_="api_key.created", data={}, event_id=None)
    assert platform.value.field == "type"
    with pytest.raises(EventTooLargeError, match="limit is 32768 bytes") as large:
        await publisher.publish(
            tenant="acme", type_="custom.x", data={"x": "y" * 40_000}, event_id=None
        )
    assert large.value.field == "data"
    assert events.published == [event]

    audit = MemoryAuditWriter()
    writer = EventingAuditWriter(audit, events)
    revoked = AuditEvent(
        action="auth.api_key.revoked", outcome=Outcome.SUCCESS, actor=Actor(type="api_key"),
        tenant="acme", target_type="api_key", target_id="k9", at=NOW,
    )  # fmt: skip
    await writer.emit(revoked)
    await writer.emit(replace(revoked, action="auth.token.refreshed"))
    assert audit.actions() == ["auth.api_key.revoked", "auth.token.refreshed"]
    assert [e.type for e in events.published[1:]] == ["api_key.revoked"]
    assert events.published[1].topic is EventTopic.PLATFORM


class FailingAudit(MemoryAuditWriter):
    async def emit(self, event: AuditEvent) -> None:
        raise ConnectionError("audit store down")


async def test_an_unaudited_change_is_taken_back() -> None:
    store = Store()
    working = admin(store, MemoryAuditWriter())
    endpoint_id = await create(working)
    before = store.endpoints[endpoint_id]
    failing = admin(store, FailingAudit())
    with pytest.raises(ConnectionError):
        await create(failing)
    assert list(store.endpoints) == [endpoint_id]
    with pytest.raises(ConnectionError):
        await failing.rotate_secret(
            caller=key(), endpoint_id=endpoint_id, overlap=None, client=CLIENT
        )
    assert store.endpoints[endpoint_id] == before
