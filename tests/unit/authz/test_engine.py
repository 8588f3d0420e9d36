"""The façade the integration step uses: build a version, decide, explain, cache keys, logs."""

from __future__ import annotations

import pytest

from caas_core.authz.engine import TenantPolicies, build, decision_key, log_record
from caas_core.authz.entities import Entity
from caas_core.authz.evaluate import Reason, Request
from caas_core.authz.index import PolicySetError
from caas_core.authz.policy import PRINCIPAL_SLOT, RESOURCE_SLOT, Template, link
from caas_core.authz.rbac import Assignment, Grant, Permission, Role, RoleError
from caas_core.authz.values import ip
from caas_core.authz.whatif import Change, Record
from tests.unit.authz.helpers import ACTIONS, acts, forbid, in_, permit, uid

ALICE, BOB = uid("User", "alice"), uid("User", "bob")
ORG, APP, CHAN = uid("Tenant", "acme"), uid("Application", "app"), uid("Channel", "c")


def _source(**changes: object) -> TenantPolicies:
    base: dict[str, object] = {
        "tenant": "acme",
        "version": "7",
        "actions": ACTIONS,
        "policies": (forbid("no-delete-on-tenant", action=acts("delete"), resource=in_(ORG)),),
        "roles": (
            Role(name="viewer", permissions=(Permission(actions=("view",)),)),
            Role(name="editor", inherits=("viewer",), permissions=(Permission(actions=("edit",)),)),
        ),
        "assignments": (Assignment(principal=ALICE, role="editor"),),
        "grants": (Grant(id="bob-app", principal=BOB, actions=("read",), resource=APP),),
        "entities": (
            Entity(uid=ORG),
            Entity(uid=APP, parents=(ORG,)),
            Entity(uid=CHAN, parents=(APP,)),
            Entity(uid=BOB),
        ),
    }
    base.update(changes)
    return TenantPolicies(**base)  # type: ignore[arg-type]


def test_a_built_version_decides_with_roles_grants_and_forbids() -> None:
    authorizer = build(_source())
    ask = authorizer.authorize
    assert ask(
        Request(principal=ALICE, action="write", resource=CHAN)
    ).allowed  # editor → edit group
    assert ask(Request(principal=ALICE, action="list", resource=CHAN)).allowed  # inherited viewer
    deleted = ask(Request(principal=ALICE, action="delete", resource=CHAN))
    assert (deleted.allowed, deleted.reason, deleted.determining) == (
        False,
        Reason.FORBIDDEN,
        ("no-delete-on-tenant",),
    )
    assert ask(Request(principal=BOB, action="read", resource=CHAN)).determining == (
        "grant:bob-app",
    )
    assert not ask(Request(principal=BOB, action="list", resource=CHAN)).allowed
    assert authorizer.tenant == "acme"
    assert authorizer.version == "7"
    batch = authorizer.authorize_batch(
        [Request(principal=p, action="read", resource=CHAN) for p in (ALICE, BOB)]
    )
    assert [d.allowed for d in batch] == [True, True]
    assert authorizer.explain(Request(principal=BOB, action="read", resource=CHAN)).decision.allowed
    flips = authorizer.what_if(
        Change(remove=("grant:bob-app",)),
        [Record(Request(principal=BOB, action="read", resource=CHAN), allowed=True)],
    )
    assert len(flips) == 1


def test_building_refuses_role_cycles_and_foreign_ids() -> None:
    cyclic = (Role(name="a", inherits=("b",)), Role(name="b", inherits=("a",)))
    with pytest.raises(RoleError, match="a → b → a"):
        build(_source(roles=cyclic, assignments=()))
    foreign = Grant(
        id="x", principal=uid("User", "eve", tenant="evil"), actions=("read",), resource=APP
    )
    with pytest.raises(PolicySetError, match="another tenant"):
        build(_source(grants=(foreign,)))


def test_templates_link_into_policies() -> None:
    viewer_of = Template(
        id="viewer-of",
        body=permit(
            "t", principal=in_(PRINCIPAL_SLOT), action=acts("view"), resource=in_(RESOURCE_SLOT)
        ),
    )
    assert viewer_of.slots() == {"principal", "resource"}
    linked = link(viewer_of, link_id="bob-views-app", principal=BOB, resource=APP)
    authorizer = build(_source(policies=(linked,)))
    assert authorizer.authorize(
        Request(principal=BOB, action="list", resource=CHAN)
    ).determining == ("bob-views-app",)
    with pytest.raises(ValueError, match="slots"):
        link(viewer_of, link_id="x", principal=BOB)
    with pytest.raises(PolicySetError, match="unlinked template slot"):
        build(_source(policies=(viewer_of.body,)))


def test_decision_keys_carry_tenant_and_version_and_the_whole_request() -> None:
    request = Request(principal=ALICE, action="read", resource=CHAN, context={"ip": ip("10.0.0.1")})
    key = decision_key(tenant="acme", version="7", request=request)
    assert key.startswith("authz:acme:7:")
    assert key == decision_key(
        tenant="acme",
        version="7",
        request=Request(
            principal=ALICE, action="read", resource=CHAN, context={"ip": ip("10.0.0.1")}
        ),
    )
    others = {
        decision_key(tenant="acme", version="8", request=request),
        decision_key(
            tenant="acme",
            version="7",
            request=Request(
                principal=ALICE, action="read", resource=CHAN, context={"ip": ip("10.0.0.2")}
            ),
        ),
        decision_key(
            tenant="acme", version="7", request=Request(principal=BOB, action="read", resource=CHAN)
        ),
    }
    assert key not in others
    assert len(others) == 3


def test_log_records_name_version_reason_and_determining_policies() -> None:
    authorizer = build(_source())
    request = Request(principal=ALICE, action="delete", resource=CHAN)
    record = log_record(
        authorizer=authorizer, request=request, decision=authorizer.authorize(request)
    )
    assert record == {
        "tenant": "acme",
        "policy_set_version": "7",
        "principal": 'User::"alice"',
        "action": "delete",
        "resource": 'Channel::"c"',
        "allowed": False,
        "reason": "forbidden",
        "determining": ["no-delete-on-tenant"],
        "errors": [],
    }
