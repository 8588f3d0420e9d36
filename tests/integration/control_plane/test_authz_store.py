"""The shared authorization store on the real Mongo server: versions, validation, owner rule."""

from collections.abc import AsyncIterator, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

import pytest
from pymongo.asynchronous.database import AsyncDatabase

from caas_core.adapters import authz_store, mongo
from caas_core.adapters.authz_store import AuthzStore
from caas_core.authz.documents import LIMITS, SCHEMA_KEY, Kind, LimitError, ObjectError, SetError
from caas_core.authz.evaluate import Request
from caas_core.authz.objects import (
    Delete,
    ForeignObjectError,
    ObjectNotFoundError,
    Put,
    Writer,
)
from caas_core.authz.values import Uid
from caas_core.domain.api_key_records import ResourceRef
from tests.conftest import Stack

SCHEMA = {
    "entityTypes": {"User": {"memberOf": ["Role"]}, "Channel": {}},
    "actions": {"read": {"principalTypes": ["User"], "resourceTypes": ["Channel"]}},
}
READ_ALL = {"effect": "permit", "action": {"op": "==", "actions": ["read"]}}
SOURCE = ResourceRef(namespace="tenant-acme", name="readers", uid="uid-1")


@pytest.fixture
async def database(stack: Stack) -> AsyncIterator[AsyncDatabase[dict[str, Any]]]:
    client = mongo.connect(stack.mongodb_uri)
    name = f"it_authz_{datetime.now(UTC).strftime('%H%M%S%f')}"
    yield client[name]
    await client.drop_database(name)
    await client.close()


@pytest.fixture
async def store(database: AsyncDatabase[dict[str, Any]]) -> AuthzStore:
    authz = AuthzStore(database)
    await authz.ensure_indexes()
    return authz


async def test_every_change_bumps_the_version_and_is_decided_with(store: AuthzStore) -> None:
    assert await store.version("acme") == "0"
    await store.put("acme", Kind.SCHEMA, SCHEMA_KEY, SCHEMA, writer=Writer.API)
    committed = await store.put("acme", Kind.POLICY, "read-all", READ_ALL, writer=Writer.API)
    assert committed.version == await store.version("acme") == "2"
    assembled = await store.load_assembled("acme")
    request = Request(
        principal=Uid("acme", "User", "u"), action="read", resource=Uid("acme", "Channel", "c")
    )
    assert assembled.authorizer.version == "2"
    assert assembled.authorizer.authorize(request).determining == ("read-all",)
    # Another tenant sees nothing of it.
    assert await store.list_objects("globex", Kind.POLICY) == []
    assert await store.get("globex", Kind.POLICY, "read-all") is None
    assert await store.version("globex") == "0"


async def test_an_invalid_change_is_refused_and_nothing_is_written(store: AuthzStore) -> None:
    await store.put("acme", Kind.SCHEMA, SCHEMA_KEY, SCHEMA, writer=Writer.API)
    bad = {"effect": "permit", "action": {"op": "==", "actions": ["write"]}}
    with pytest.raises(ObjectError) as refused:
        await store.put("acme", Kind.POLICY, "p", bad, writer=Writer.API)
    assert refused.value.errors == (("/action/actions/0", "unknown action 'write'"),)
    cycle = [
        Put(Kind.ROLE, "a", {"inherits": ["b"]}),
        Put(Kind.ROLE, "b", {"inherits": ["a"]}),
    ]
    with pytest.raises(SetError, match="cycle"):
        await store.change("acme", cycle, writer=Writer.API)
    assert await store.version("acme") == "1"
    assert await store.list_objects("acme", Kind.ROLE) == []


async def test_a_writer_may_not_change_the_other_writers_objects(store: AuthzStore) -> None:
    await store.put("acme", Kind.SCHEMA, SCHEMA_KEY, SCHEMA, writer=Writer.API)
    await store.replace_source("acme", SOURCE, [Put(Kind.POLICY, "from-crd", READ_ALL)])
    with pytest.raises(ForeignObjectError, match="AccessPolicy resource tenant-acme/readers"):
        await store.put("acme", Kind.POLICY, "from-crd", READ_ALL, writer=Writer.API)
    with pytest.raises(ForeignObjectError):
        await store.delete("acme", Kind.POLICY, "from-crd", writer=Writer.API)
    with pytest.raises(ForeignObjectError, match="managed by the api"):
        await store.change(
            "acme", [Delete(Kind.SCHEMA, SCHEMA_KEY)], writer=Writer.OPERATOR, source=SOURCE
        )
    with pytest.raises(ObjectNotFoundError):
        await store.delete("acme", Kind.POLICY, "missing", writer=Writer.API)
    # The resource dropping a policy deletes it.
    await store.replace_source("acme", SOURCE, [])
    assert await store.list_objects("acme", Kind.POLICY) == []


async def test_an_oversized_set_is_refused_whole(store: AuthzStore) -> None:
    roles = [Put(Kind.ROLE, f"r{i}", {}) for i in range(LIMITS[Kind.ROLE] + 1)]
    with pytest.raises(LimitError, match="at most 1000 objects of kind role"):
        await store.change("acme", roles, writer=Writer.API)
    assert await store.list_objects("acme", Kind.ROLE) == []
    assert await store.version("acme") == "0"


async def test_a_set_is_read_in_one_snapshot_when_optimistic_reads_give_up(
    store: AuthzStore, database: AsyncDatabase[dict[str, Any]]
) -> None:
    await store.put("acme", Kind.SCHEMA, SCHEMA_KEY, SCHEMA, writer=Writer.API)
    await store.put("acme", Kind.POLICY, "read-all", READ_ALL, writer=Writer.API)
    # As if every optimistic read had met a change: the transactional read answers.
    snapshot_only = AuthzStore(database, optimistic_reads=0)
    version, objects = await snapshot_only.load("acme")
    assert version == "2"
    assert objects[Kind.POLICY] == {"read-all": READ_ALL}


def _stages(plan: Mapping[str, Any]) -> Iterator[str]:
    yield str(plan.get("stage"))
    for key in ("inputStage", "queryPlan", "outerStage", "innerStage"):
        child = plan.get(key)
        if isinstance(child, Mapping):
            yield from _stages(child)
    for child in plan.get("inputStages", ()):
        yield from _stages(child)


async def test_a_tenants_objects_and_version_are_read_through_indexes(store: AuthzStore) -> None:
    await store.put("acme", Kind.SCHEMA, SCHEMA_KEY, SCHEMA, writer=Writer.API)
    database = store._database  # the test explains the store's own queries
    queries = [
        (collection, {"tenant": "acme"}) for collection in authz_store.COLLECTIONS.values()
    ] + [(authz_store.VERSIONS, {"_id": "acme"})]
    for collection, query in queries:
        explained = await database.command("explain", {"find": collection, "filter": query})
        stages = set(_stages(explained["queryPlanner"]["winningPlan"]))
        assert "COLLSCAN" not in stages, (collection, stages)
        assert stages & {"IXSCAN", "IDHACK", "EXPRESS_IXSCAN", "EXPRESS_IDHACK"}, (
            collection,
            stages,
        )
