"""ApiKey reconcile on the real stack: issue once, authenticate, rotate, revoke, refuse."""

from __future__ import annotations

import base64
from datetime import timedelta
from typing import Any

from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Namespace, Secret

from caas_core.adapters.api_key_store import ApiKeyStore
from caas_core.domain.api_key_records import ApiKeyRecord, KeyWriter
from caas_core.domain.api_keys import (
    ApiKey,
    format_api_key,
    hash_api_key,
    new_api_key,
    parse_api_key,
)
from caas_core.domain.conditions import utc_now
from caas_core.domain.naming import PLATFORM_DATABASE
from caas_operator.apikey.reconcile import reconcile_api_key, revoke_api_key
from caas_operator.context import OperatorContext
from caas_operator.shared.status import KindResult
from tests.integration.operator_kinds.conftest import Tenant


def store(ctx: OperatorContext) -> ApiKeyStore:
    return ApiKeyStore(ctx.clients.mongo[PLATFORM_DATABASE])


async def reconcile(
    tenant: Tenant,
    obj: dict[str, Any],
    status: dict[str, Any] | None = None,
    *,
    namespace: str | None = None,
) -> KindResult:
    meta = obj["metadata"]
    return await reconcile_api_key(
        tenant.ctx,
        namespace=namespace or tenant.namespace,
        name=meta["name"],
        uid=meta["uid"],
        spec=obj["spec"],
        old_status=status,
        generation=meta.get("generation"),
    )


def ready(result: KindResult) -> dict[str, Any]:
    (condition,) = [c for c in result.status["conditions"] if c["type"] == "Ready"]
    return dict(condition)


def rest_record(tenant: Tenant, key: ApiKey) -> ApiKeyRecord:
    """A key as the REST API would have stored it."""
    return ApiKeyRecord(
        key_id=key.key_id,
        tenant=tenant.name,
        name="rest",
        key_hash=hash_api_key(key),
        scopes=("tokens:issue",),
        managed_by=KeyWriter.API,
        created_at=utc_now(),
    )


async def secret_of(tenant: Tenant, name: str) -> tuple[str, str]:
    """(plaintext key, resourceVersion) of the ApiKey's Secret."""
    secret = await tenant.ctx.kube.get(Secret, name=f"{name}-api-key", namespace=tenant.namespace)
    assert secret.data is not None
    assert secret.metadata is not None
    assert secret.type == "platform.caas.io/api-key"
    return base64.b64decode(secret.data["apiKey"]).decode(), str(secret.metadata.resourceVersion)


async def test_issued_once_authenticates_and_is_never_rewritten(tenant: Tenant) -> None:
    obj = await tenant.create("ApiKey", "backend", {"scopes": ["tokens:issue"]})
    first = await reconcile(tenant, obj)
    assert ready(first)["status"] == "True", first.status
    assert ready(first)["reason"] == "Issued"
    key, version = await secret_of(tenant, "backend")
    assert key.startswith("caas_sk_")
    record = await store(tenant.ctx).authenticate(key, now=utc_now())
    assert record is not None
    assert (record.tenant, record.managed_by, record.scopes) == (
        tenant.name,
        KeyWriter.OPERATOR,
        ("tokens:issue",),
    )
    assert record.source is not None
    assert record.source.uid == obj["metadata"]["uid"]
    assert first.status["keyId"] == record.key_id
    # Only the hash is stored.
    doc = await tenant.ctx.clients.mongo[PLATFORM_DATABASE]["api_keys"].find_one(
        {"_id": record.key_id}
    )
    assert doc is not None
    assert key not in str(doc)
    assert doc["keyHash"] == hash_api_key(parse_api_key(key))
    # Reconciling again (as the resync timer does) writes nothing.
    again = await reconcile(tenant, obj, first.status)
    assert again.status == first.status
    assert (await secret_of(tenant, "backend"))[1] == version
    assert await store(tenant.ctx).find_by_source(obj["metadata"]["uid"]) == [record]


async def test_rotation_overlap_then_only_the_new_key(tenant: Tenant) -> None:
    obj = await tenant.create("ApiKey", "rotating", {"rotation": {"overlapSeconds": 30}})
    status = (await reconcile(tenant, obj)).status
    old_key, _ = await secret_of(tenant, "rotating")
    obj = await tenant.update_spec(
        "ApiKey", "rotating", {"rotation": {"generation": 1, "overlapSeconds": 30}}
    )
    rotated = await reconcile(tenant, obj, status)
    assert ready(rotated)["status"] == "True", rotated.status
    new_key, _ = await secret_of(tenant, "rotating")
    assert new_key != old_key
    keys = store(tenant.ctx)
    now = utc_now()
    old = await keys.authenticate(old_key, now=now)
    new = await keys.authenticate(new_key, now=now)
    assert old is not None
    assert new is not None
    assert rotated.status["keyId"] == new.key_id
    assert rotated.status["retiringKeyId"] == old.key_id
    assert rotated.status["rotationGeneration"] == 1
    assert old.valid_until is not None
    assert old.replaced_by == new.key_id
    assert "works until" in ready(rotated)["message"]
    after = old.valid_until + timedelta(seconds=1)
    assert await keys.authenticate(old_key, now=after) is None
    assert await keys.authenticate(new_key, now=after) is not None
    # The same generation again rotates nothing.
    assert (await reconcile(tenant, obj, rotated.status)).status["keyId"] == new.key_id
    assert (await secret_of(tenant, "rotating"))[0] == new_key


async def test_deletion_revokes_and_leaves_rest_keys_alone(tenant: Tenant) -> None:
    obj = await tenant.create("ApiKey", "doomed", {})
    await reconcile(tenant, obj)
    key, _ = await secret_of(tenant, "doomed")
    rest_key = new_api_key()
    keys = store(tenant.ctx)
    rest = rest_record(tenant, rest_key)
    await keys.insert(rest)
    assert await revoke_api_key(tenant.ctx, uid=obj["metadata"]["uid"]) == 1
    assert await keys.authenticate(key, now=utc_now()) is None
    assert await keys.authenticate(format_api_key(rest_key), now=utc_now()) == rest
    assert await revoke_api_key(tenant.ctx, uid=obj["metadata"]["uid"]) == 0  # idempotent


async def test_a_rest_key_put_into_the_secret_is_refused_untouched(tenant: Tenant) -> None:
    obj = await tenant.create("ApiKey", "swapped", {})
    status = (await reconcile(tenant, obj)).status
    rest_key = new_api_key()
    rest = rest_record(tenant, rest_key)
    await store(tenant.ctx).insert(rest)
    text = format_api_key(rest_key)
    await tenant.ctx.kube.patch(
        Secret, "swapped-api-key", {"data": {"apiKey": base64.b64encode(text.encode()).decode()}},
        namespace=tenant.namespace,
    )  # fmt: skip
    refused = await reconcile(tenant, obj, status)
    assert ready(refused)["reason"] == "ForeignKey", refused.status
    assert "managed by the api" in ready(refused)["message"]
    assert await store(tenant.ctx).get(rest.key_id) == rest


async def test_a_lost_secret_is_reported_and_rotation_recovers(tenant: Tenant) -> None:
    obj = await tenant.create("ApiKey", "lost", {})
    status = (await reconcile(tenant, obj)).status
    old_key, _ = await secret_of(tenant, "lost")
    await tenant.ctx.kube.delete(Secret, "lost-api-key", namespace=tenant.namespace)
    lost = await reconcile(tenant, obj, status)
    assert (ready(lost)["status"], ready(lost)["reason"]) == ("False", "SecretLost")
    assert not lost.retry
    obj = await tenant.update_spec("ApiKey", "lost", {"rotation": {"generation": 1}})
    recovered = await reconcile(tenant, obj, lost.status)
    assert ready(recovered)["status"] == "True", recovered.status
    new_key, _ = await secret_of(tenant, "lost")
    assert new_key != old_key
    assert await store(tenant.ctx).authenticate(new_key, now=utc_now()) is not None


async def test_a_secret_it_did_not_create_is_not_adopted(tenant: Tenant) -> None:
    await tenant.ctx.kube.create(
        Secret(
            metadata=ObjectMeta(name="taken-api-key", namespace=tenant.namespace),
            stringData={"x": "y"},
        )
    )
    obj = await tenant.create("ApiKey", "taken", {})
    refused = await reconcile(tenant, obj)
    assert ready(refused)["reason"] == "SecretConflict"
    secret = await tenant.ctx.kube.get(Secret, name="taken-api-key", namespace=tenant.namespace)
    assert secret.data is not None
    assert set(secret.data) == {"x"}
    assert await store(tenant.ctx).find_by_source(obj["metadata"]["uid"]) == []


async def test_the_tenant_quota_limits_new_keys(tenant: Tenant) -> None:
    for name in ("one", "two"):
        issued = await reconcile(tenant, await tenant.create("ApiKey", name, {}))
        assert ready(issued)["status"] == "True"
    third = await reconcile(tenant, await tenant.create("ApiKey", "three", {}))
    assert (ready(third)["reason"], third.retry) == ("QuotaExceeded", True)
    assert "allows 2" in ready(third)["message"]


async def test_a_namespace_without_tenant_gets_a_precise_reason(tenant: Tenant) -> None:
    namespace = f"plain-{tenant.name}"
    await tenant.ctx.kube.create(Namespace(metadata=ObjectMeta(name=namespace)))
    try:
        obj = await tenant.create("ApiKey", "orphan", {}, namespace=namespace)
        refused = await reconcile(tenant, obj, namespace=namespace)
        assert (ready(refused)["status"], ready(refused)["reason"]) == ("False", "NoTenant")
        assert "has no platform.caas.io/tenant label" in ready(refused)["message"]
        assert not refused.retry
    finally:
        await tenant.ctx.kube.delete(Namespace, namespace)
