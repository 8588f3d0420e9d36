"""AccessPolicy reconcile on the real stack: policies validated against the tenant's schema and
written to the shared authorization store with the operator as owner; refusals write nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from lightkube import ApiError

from caas_core.adapters.authz_store import AuthzStore
from caas_core.authz.documents import SCHEMA_KEY, Kind
from caas_core.authz.evaluate import Request
from caas_core.authz.objects import StoredObject, Writer
from caas_core.authz.values import Uid
from caas_core.domain.naming import PLATFORM_DATABASE
from caas_operator.accesspolicy.reconcile import (
    RemovalRefusedError,
    reconcile_access_policy,
    remove_access_policy,
)
from caas_operator.shared.status import KindResult
from tests.integration.operator_kinds.conftest import Tenant

SCHEMA: dict[str, Any] = {
    "entityTypes": {
        "User": {"memberOf": ["Group"], "attributes": {"level": {"type": "Long"}}},
        "Group": {},
        "Channel": {},
    },
    "actions": {
        "read": {"principalTypes": ["User"], "resourceTypes": ["Channel"]},
        "write": {"principalTypes": ["User"], "resourceTypes": ["Channel"]},
    },
}
READ: dict[str, Any] = {
    "id": "eng-read",
    "effect": "permit",
    "principal": {"op": "in", "entity": {"type": "Group", "id": "eng"}},
    "action": {"op": "==", "actions": ["read"]},
    "resource": {"op": "is", "type": "Channel"},
}
ENG = {"type": "Group", "id": "eng"}
TEXT = """// seniors may write
@id("senior-write")
permit (principal, action == Action::"write", resource is Channel)
when { principal.level >= 3 };
"""


@pytest.fixture
async def authz(tenant: Tenant) -> AsyncIterator[AuthzStore]:
    """The shared store, with the tenant's schema set over REST (owner `api`)."""
    store = AuthzStore(tenant.ctx.clients.mongo[PLATFORM_DATABASE])
    await store.put(tenant.name, Kind.SCHEMA, SCHEMA_KEY, SCHEMA, writer=Writer.API)
    yield store
    await store.delete_tenant(tenant.name)


async def reconcile(
    tenant: Tenant, obj: dict[str, Any], status: dict[str, Any] | None = None
) -> KindResult:
    meta = obj["metadata"]
    return await reconcile_access_policy(
        tenant.ctx,
        namespace=tenant.namespace,
        name=meta["name"],
        uid=meta["uid"],
        spec=obj["spec"],
        old_status=status,
        generation=meta.get("generation"),
    )


def ready(result: KindResult) -> dict[str, Any]:
    (condition,) = [c for c in result.status["conditions"] if c["type"] == "Ready"]
    return dict(condition)


async def policies(store: AuthzStore, tenant: Tenant) -> dict[str, StoredObject]:
    return {obj.key: obj for obj in await store.list_objects(tenant.name, Kind.POLICY)}


def request(tenant: Tenant, action: str) -> Request:
    return Request(
        principal=Uid(tenant.name, "User", "ada"),
        action=action,
        resource=Uid(tenant.name, "Channel", "general"),
    )


async def test_valid_policies_are_stored_and_decide(tenant: Tenant, authz: AuthzStore) -> None:
    obj = await tenant.create("AccessPolicy", "readers", {"policies": [READ], "text": TEXT})
    first = await reconcile(tenant, obj)
    assert (ready(first)["status"], ready(first)["reason"]) == ("True", "Applied"), first.status
    assert "2 policies (1 from spec.text) in effect" in ready(first)["message"]
    stored = await policies(authz, tenant)
    assert sorted(stored) == ["eng-read", "senior-write"]
    uid = obj["metadata"]["uid"]
    for found in stored.values():
        assert found.owner is Writer.OPERATOR
        assert found.source is not None
        assert (found.source.namespace, found.source.name, found.source.uid) == (
            tenant.namespace,
            "readers",
            uid,
        )
    assert stored["eng-read"].document == READ
    assert first.status["policySetVersion"] == await authz.version(tenant.name)
    assert first.status["policies"] == 2
    assert first.status["appliedGeneration"] == obj["metadata"]["generation"]
    # The stored set decides, for entities the API stored: ada is in eng, at level 2.
    ada = {"type": "User", "id": "ada", "attrs": {"level": 2}, "parents": [ENG]}
    await authz.put(tenant.name, Kind.ENTITY, "User::ada", ada, writer=Writer.API)
    authorizer = (await authz.load_assembled(tenant.name)).authorizer
    read = authorizer.authorize(request(tenant, "read"))
    assert (read.allowed, read.determining) == (True, ("eng-read",))
    assert not authorizer.authorize(request(tenant, "write")).allowed  # level 2 < 3
    version = await authz.version(tenant.name)
    # Converged: a resync writes nothing, so no version is bumped and no cache invalidated.
    again = await reconcile(tenant, obj, first.status)
    assert again.status == first.status
    assert await authz.version(tenant.name) == version


async def test_an_invalid_policy_is_refused_at_its_pointer_and_nothing_is_written(
    tenant: Tenant, authz: AuthzStore
) -> None:
    bad = {**READ, "action": {"op": "==", "actions": ["fly"]}}
    obj = await tenant.create("AccessPolicy", "broken", {"policies": [bad]})
    version = await authz.version(tenant.name)
    result = await reconcile(tenant, obj)
    condition = ready(result)
    assert (condition["status"], condition["reason"]) == ("False", "InvalidPolicy")
    assert condition["message"].startswith(
        "/spec/policies/0/action/actions/0: unknown action 'fly'"
    )
    assert "nothing of this resource is in effect" in condition["message"]
    assert not result.retry  # a human must fix it; the resync timer looks again anyway
    assert await policies(authz, tenant) == {}
    assert await authz.version(tenant.name) == version


async def test_an_invalid_update_keeps_the_previous_version_in_effect(
    tenant: Tenant, authz: AuthzStore
) -> None:
    obj = await tenant.create("AccessPolicy", "readers", {"policies": [READ]})
    applied = await reconcile(tenant, obj)
    assert ready(applied)["status"] == "True"
    before = await policies(authz, tenant)
    version = await authz.version(tenant.name)
    obj = await tenant.update_spec(
        "AccessPolicy",
        "readers",
        {"text": "permit (principal, action, resource)\nwhen { principal.rank > 1 };"},
    )
    refused = await reconcile(tenant, obj, applied.status)
    condition = ready(refused)
    assert (condition["status"], condition["reason"]) == ("False", "InvalidPolicy")
    assert condition["message"].startswith("spec.text 2:18: unknown attribute `rank`")
    generation = applied.status["appliedGeneration"]
    assert condition["message"].endswith(f"generation {generation} stays in effect")
    # Status still describes what is in effect: the earlier generation's policies.
    assert refused.status["appliedGeneration"] == generation
    assert refused.status["policies"] == 1
    assert refused.status["observedGeneration"] == obj["metadata"]["generation"]
    assert await policies(authz, tenant) == before
    assert await authz.version(tenant.name) == version


async def test_an_update_replaces_the_resources_policies(tenant: Tenant, authz: AuthzStore) -> None:
    obj = await tenant.create("AccessPolicy", "readers", {"policies": [READ], "text": TEXT})
    status = (await reconcile(tenant, obj)).status
    forbid = {
        **READ,
        "id": "no-write",
        "effect": "forbid",
        "action": {"op": "==", "actions": ["write"]},
    }
    # A merge patch replaces the list; dropping `text` removes the text policy.
    obj = await tenant.update_spec("AccessPolicy", "readers", {"policies": [forbid], "text": None})
    updated = await reconcile(tenant, obj, status)
    assert ready(updated)["status"] == "True", updated.status
    stored = await policies(authz, tenant)
    assert sorted(stored) == ["no-write"]
    assert stored["no-write"].document["effect"] == "forbid"
    assert updated.status["appliedGeneration"] == obj["metadata"]["generation"]
    assert int(updated.status["policySetVersion"]) > int(status["policySetVersion"])


async def test_deletion_removes_the_resources_objects(tenant: Tenant, authz: AuthzStore) -> None:
    mine = await tenant.create("AccessPolicy", "readers", {"policies": [READ], "text": TEXT})
    other = await tenant.create(
        "AccessPolicy", "others", {"policies": [{**READ, "id": "other-read"}]}
    )
    for obj in (mine, other):
        assert ready(await reconcile(tenant, obj))["status"] == "True"
    assert await remove_access_policy(tenant.ctx, uid=mine["metadata"]["uid"]) == 2
    assert sorted(await policies(authz, tenant)) == ["other-read"]
    # Idempotent: the finalizer may run again after a crash.
    assert await remove_access_policy(tenant.ctx, uid=mine["metadata"]["uid"]) == 0


async def test_objects_of_the_rest_api_are_never_overwritten(
    tenant: Tenant, authz: AuthzStore
) -> None:
    rest = {**READ, "effect": "forbid"}
    await authz.put(tenant.name, Kind.POLICY, "eng-read", rest, writer=Writer.API)
    version = await authz.version(tenant.name)
    obj = await tenant.create("AccessPolicy", "readers", {"policies": [READ]})
    result = await reconcile(tenant, obj)
    condition = ready(result)
    assert (condition["status"], condition["reason"]) == ("False", "OwnedByApi")
    assert "managed by the api through the REST API" in condition["message"]
    assert (await policies(authz, tenant))["eng-read"].document == rest
    assert await authz.version(tenant.name) == version
    # A schema in the resource conflicts with the one set over REST in the same way.
    obj = await tenant.create(
        "AccessPolicy", "schema", {"policies": [{**READ, "id": "x"}], "schema": SCHEMA}
    )
    assert ready(await reconcile(tenant, obj))["reason"] == "OwnedByApi"


async def test_two_resources_may_not_define_the_same_policy(
    tenant: Tenant, authz: AuthzStore
) -> None:
    first = await tenant.create("AccessPolicy", "first", {"policies": [READ]})
    assert ready(await reconcile(tenant, first))["status"] == "True"
    second = await tenant.create("AccessPolicy", "second", {"policies": [READ]})
    condition = ready(await reconcile(tenant, second))
    assert (condition["status"], condition["reason"]) == ("False", "OwnedByAccessPolicy")
    assert f"AccessPolicy resource {tenant.namespace}/first" in condition["message"]


async def test_the_api_server_refuses_what_is_statically_wrong(tenant: Tenant) -> None:
    for spec, detail in (
        ({}, "give at least one policy"),
        ({"policies": [{**READ, "effect": "allow"}]}, "Unsupported value"),
        ({"policies": [READ, READ]}, "Duplicate value"),
    ):
        with pytest.raises(ApiError) as refused:
            await tenant.create("AccessPolicy", "static", spec)
        assert refused.value.status.code == 422
        assert detail in str(refused.value.status.message)


async def test_a_resource_may_own_the_schema_others_then_depend_on(
    tenant: Tenant, authz: AuthzStore
) -> None:
    await authz.delete(tenant.name, Kind.SCHEMA, SCHEMA_KEY, writer=Writer.API)
    obj = await tenant.create("AccessPolicy", "model", {"policies": [READ], "schema": SCHEMA})
    status = (await reconcile(tenant, obj)).status
    schema = await authz.get(tenant.name, Kind.SCHEMA, SCHEMA_KEY)
    assert schema is not None
    assert (schema.owner, schema.document) == (Writer.OPERATOR, SCHEMA)
    # The REST API writes a policy against that schema; the resource may no longer drop it.
    rest = {**READ, "id": "rest-write", "action": {"op": "==", "actions": ["write"]}}
    await authz.put(tenant.name, Kind.POLICY, "rest-write", rest, writer=Writer.API)
    obj = await tenant.update_spec("AccessPolicy", "model", {"schema": None})
    refused = await reconcile(tenant, obj, status)
    assert ready(refused)["reason"] == "InvalidPolicy"  # its own policy needs a schema first
    uid = obj["metadata"]["uid"]
    with pytest.raises(RemovalRefusedError, match="rest-write"):
        await remove_access_policy(tenant.ctx, uid=uid)
    assert await authz.get(tenant.name, Kind.SCHEMA, SCHEMA_KEY) == schema
    await authz.delete(tenant.name, Kind.POLICY, "rest-write", writer=Writer.API)
    assert await remove_access_policy(tenant.ctx, uid=uid) == 2
    assert await authz.get(tenant.name, Kind.SCHEMA, SCHEMA_KEY) is None
