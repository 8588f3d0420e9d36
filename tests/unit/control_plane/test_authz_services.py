"""The authorization services' rules with in-memory fakes: cache, versions, log sampling,
what-if, role writes, and the pure conversions between JSON and the engine."""

import asyncio
from collections.abc import Iterable, Mapping
from typing import Any

import pytest

from caas_control_plane.services.authz_admin import AuthzAdmin
from caas_control_plane.services.authz_decisions import DecisionPolicy, DecisionService
from caas_control_plane.services.authz_errors import AuthzDocumentError, AuthzOwnerError, refused
from caas_control_plane.services.authz_requests import (
    cached_form,
    from_cached,
    logged,
    replayable,
    request_from_json,
)
from caas_control_plane.services.context import ClientInfo
from caas_core.authz.documents import (
    SCHEMA_KEY,
    Assembled,
    Kind,
    LimitError,
    Objects,
    assemble,
    read_grant,
    read_permission,
    read_schema,
)
from caas_core.authz.evaluate import Decision, PolicyFailure, Reason
from caas_core.authz.objects import (
    Committed,
    Delete,
    ForeignObjectError,
    Operation,
    Put,
    StoredObject,
    Writer,
)
from caas_core.authz.rbac import Grant, RoleGrant
from caas_core.authz.schema import DocumentError
from caas_core.domain.audit import Actor, MemoryAuditWriter

SCHEMA = {
    "entityTypes": {"User": {}, "Channel": {}},
    "actions": {"read": {}, "write": {}},
    "context": {"ip": {"type": "ipaddr", "required": False}},
}
CALLER = Actor(type="api_key", id="k1")
CLIENT = ClientInfo(ip="10.0.0.1")


def _request(action: str = "read", **context: Any) -> dict[str, Any]:
    return {
        "principal": {"type": "User", "id": "u"},
        "action": action,
        "resource": {"type": "Channel", "id": "c"},
        "context": context,
    }


class FakeObjects:
    """A tenant's documents in memory, versioned like the store (no owner rule needed here)."""

    def __init__(self) -> None:
        self.documents: dict[Kind, dict[str, Mapping[str, Any]]] = {kind: {} for kind in Kind}
        self.documents[Kind.SCHEMA][SCHEMA_KEY] = SCHEMA
        self.number = 1
        self.loads = 0
        self.changes: list[tuple[Operation, ...]] = []

    async def version(self, tenant: str) -> str:
        return str(self.number)

    async def list_objects(self, tenant: str, kind: Kind) -> list[StoredObject]:
        raise NotImplementedError

    async def get(self, tenant: str, kind: Kind, key: str) -> StoredObject | None:
        raise NotImplementedError

    async def load_assembled(self, tenant: str) -> Assembled:
        self.loads += 1
        await asyncio.sleep(0)  # a real store yields here: other requests run meanwhile
        objects: Objects = self.documents
        return assemble(tenant=tenant, version=str(self.number), objects=objects)

    async def change(
        self,
        tenant: str,
        operations: Iterable[Operation],
        *,
        writer: Writer,
        must_exist: bool = False,
    ) -> Committed:
        ops = tuple(operations)
        self.changes.append(ops)
        for op in ops:
            if isinstance(op, Put):
                self.documents[op.kind][op.key] = op.document
            else:
                self.documents[op.kind].pop(op.key, None)
        self.number += 1
        return Committed(
            version=str(self.number), assembled=await self.load_assembled(tenant), changed=ops
        )


class FakeCache:
    """Decisions and recent records in dictionaries."""

    def __init__(self) -> None:
        self.decisions: dict[str, Mapping[str, Any]] = {}
        self.records: list[Mapping[str, Any]] = []

    async def get(self, key: str) -> Mapping[str, Any] | None:
        return self.decisions.get(key)

    async def remember(
        self,
        key: str,
        decision: Mapping[str, Any],
        *,
        ttl: int,
        tenant: str,
        record: Mapping[str, Any],
        keep: int,
    ) -> None:
        if ttl > 0:
            self.decisions[key] = decision
        self.records = [record, *self.records][:keep]

    async def recent(self, tenant: str, *, limit: int) -> list[Mapping[str, Any]]:
        return self.records[:limit]


def _service(
    store: FakeObjects, *, sample: float = 1.0, draw: float = 0.5
) -> tuple[DecisionService, FakeCache, MemoryAuditWriter]:
    cache, audit = FakeCache(), MemoryAuditWriter()
    service = DecisionService(
        store=store, cache=cache, audit=audit, policy=DecisionPolicy(log_sample=sample),
        draw=lambda: draw,
    )  # fmt: skip
    return service, cache, audit


async def test_a_decision_is_cached_under_the_version_and_recomputed_after_a_change() -> None:
    store = FakeObjects()
    store.documents[Kind.POLICY]["all"] = {"effect": "permit"}
    service, cache, _ = _service(store)
    first, second = [
        (await service.authorize("acme", [_request()], caller=CALLER, client=CLIENT))[0]
        for _ in range(2)
    ]
    assert (first.allowed, first.cached, second.cached) == (True, False, True)
    assert store.loads == 1  # compiled once per version
    await store.change("acme", [Put(Kind.POLICY, "no", {"effect": "forbid"})], writer=Writer.API)
    (third,) = await service.authorize("acme", [_request()], caller=CALLER, client=CLIENT)
    assert (third.allowed, third.cached, third.determining) == (False, False, ("no",))
    assert third.version == str(int(first.version) + 1)
    assert len(cache.decisions) == 2  # the old version's entry is simply never asked for again


async def test_denies_are_always_logged_and_allows_by_sample() -> None:
    store = FakeObjects()
    store.documents[Kind.POLICY]["read"] = {
        "effect": "permit",
        "action": {"op": "==", "actions": ["read"]},
    }
    service, _, audit = _service(store, sample=0.1, draw=0.5)
    await service.authorize(
        "acme", [_request("read"), _request("write")], caller=CALLER, client=CLIENT
    )
    assert [e.details["action"] for e in audit.events] == ["write"]
    event = audit.events[0]
    assert (event.action, event.tenant, event.actor) == ("authz.decision", "acme", CALLER)
    assert event.details["policySetVersion"] == "1"
    assert event.details["reason"] == "no_permit_matched"


async def test_a_bad_request_in_a_batch_is_refused_at_its_pointer() -> None:
    service, _, audit = _service(FakeObjects())
    with pytest.raises(AuthzDocumentError) as refused_error:
        await service.authorize("acme", [_request(), _request("fly")], caller=CALLER, client=CLIENT)
    assert refused_error.value.errors == (("/requests/1/action", "unknown action 'fly'"),)
    assert audit.events == []  # nothing was decided


async def test_what_if_replays_recent_decisions_without_applying_anything() -> None:
    store = FakeObjects()
    store.documents[Kind.POLICY]["all"] = {"effect": "permit"}
    service, _, _ = _service(store)
    await service.authorize(
        "acme", [_request("read"), _request("write")], caller=CALLER, client=CLIENT
    )
    found = await service.what_if(
        "acme",
        upsert=[
            {"id": "no-write", "effect": "forbid", "action": {"op": "==", "actions": ["write"]}}
        ],
        remove=[],
    )
    assert found["replayed"] == 2
    assert [(f["action"], f["after"]["determining"]) for f in found["flips"]] == [
        ("write", ["no-write"])
    ]
    assert "no-write" not in store.documents[Kind.POLICY]


async def test_a_role_is_written_with_exactly_its_permission_links() -> None:
    store = FakeObjects()
    store.documents[Kind.PERMISSION] = {
        "view": {"actions": ["read"]},
        "edit": {"actions": ["write"]},
    }
    admin = AuthzAdmin(store=store, audit=MemoryAuditWriter())

    async def links(tenant: str, kind: Kind) -> list[StoredObject]:
        return []

    store.list_objects = links  # type: ignore[method-assign]
    await admin.put_role("acme", "editor", inherits=[], permissions=["edit", "view", "edit"],
                         caller=CALLER, client=CLIENT)  # fmt: skip
    (ops,) = store.changes
    assert ops == (
        Put(Kind.ROLE, "editor", {"inherits": []}),
        Put(Kind.ROLE_PERMISSION, "editor/edit", {"role": "editor", "permission": "edit"}),
        Put(Kind.ROLE_PERMISSION, "editor/view", {"role": "editor", "permission": "view"}),
    )
    assert isinstance(ops[0], Put)
    assert not any(isinstance(op, Delete) for op in ops)


def test_requests_are_read_with_the_schema_at_exact_pointers() -> None:
    schema = read_schema(SCHEMA)
    request = request_from_json(_request(ip="10.0.0.1"), tenant="acme", schema=schema)
    assert (request.principal.tenant, request.action) == ("acme", "read")
    with pytest.raises(DocumentError) as bad_ip:
        request_from_json(_request(ip="nope"), tenant="acme", schema=schema, at="/requests/2")
    assert bad_ip.value.errors == (("/requests/2/context/ip", "expected ipaddr"),)
    with pytest.raises(DocumentError) as bad_type:
        request_from_json(
            {**_request(), "resource": {"type": "Planet", "id": "x"}}, tenant="acme", schema=schema
        )
    assert bad_type.value.errors[0][0] == "/resource/type"
    # A logged request the schema no longer reads is skipped by the what-if, not an error.
    assert (
        replayable({"request": _request("fly"), "allowed": True}, tenant="acme", schema=schema)
        is None
    )


def test_decisions_survive_the_cache_and_the_sample_rule() -> None:
    decision = Decision(
        allowed=False,
        reason=Reason.FORBIDDEN,
        determining=("f",),
        errors=(PolicyFailure(policy="p", message="m"),),
    )
    assert from_cached(cached_form(decision)) == decision
    assert logged(False, sample=0.0, draw=0.99)
    assert not logged(True, sample=0.0, draw=0.0)
    assert logged(True, sample=0.5, draw=0.49)


def test_documents_are_refused_at_pointers_inside_themselves() -> None:
    schema = read_schema(SCHEMA)
    with pytest.raises(DocumentError) as bad:
        read_permission({"actions": ["read", "fly"]}, tenant="acme", schema=schema)
    assert bad.value.errors == (("/actions/1", "unknown action 'fly'"),)
    both = {"principal": {"type": "User", "id": "u"}, "resource": {"type": "Channel", "id": "c"}}
    assert isinstance(
        read_grant("g", {**both, "actions": ["read"]}, tenant="a", schema=schema), Grant
    )
    assert isinstance(read_grant("g", {**both, "role": "r"}, tenant="a", schema=schema), RoleGrant)
    with pytest.raises(DocumentError):
        read_grant("g", {**both, "role": "r", "actions": ["read"]}, tenant="a", schema=schema)
    too_many: Objects = {
        Kind.SCHEMA: {SCHEMA_KEY: SCHEMA},
        Kind.ROLE: {f"r{i}": {} for i in range(1001)},
    }
    with pytest.raises(LimitError):
        assemble(tenant="a", version="1", objects=too_many)


def test_store_refusals_become_service_errors() -> None:
    stored = StoredObject(
        kind=Kind.POLICY, key="p", document={}, owner=Writer.OPERATOR, source=None,
        updated_at=None,  # type: ignore[arg-type]
    )  # fmt: skip
    error = refused(ForeignObjectError(stored, Writer.API))
    assert isinstance(error, AuthzOwnerError)
    assert error.owner is Writer.OPERATOR
    assert error.status == 409


async def test_requests_arriving_together_after_a_change_compile_the_set_once() -> None:
    store = FakeObjects()
    store.documents[Kind.POLICY]["all"] = {"effect": "permit"}
    service, _, _ = _service(store)
    answers = await asyncio.gather(
        *(service.authorize("acme", [_request()], caller=CALLER, client=CLIENT) for _ in range(20))
    )
    assert all(found.allowed for (found,) in answers)
    assert store.loads == 1
