"""Roles with inheritance, assignments, grants inherited down the tree, the platform's scopes."""

from __future__ import annotations

from itertools import chain, combinations

import pytest

from caas_control_plane.auth import scopes
from caas_core.authz import platform
from caas_core.authz.entities import Entity
from caas_core.authz.rbac import (
    Assignment,
    Grant,
    Permission,
    Role,
    RoleError,
    RoleGrant,
    effective_permissions,
    grant_policies,
    role_closure,
    role_grant_policies,
    role_policies,
    with_roles,
)
from tests.unit.authz.helpers import TENANT, compiled, decide, graph, is_, uid

ALICE, BOB, CAROL = uid("User", "alice"), uid("User", "bob"), uid("User", "carol")
TEAM = uid("Group", "team")
ORG, APP, CHAN = uid("Tenant", "acme"), uid("Application", "app"), uid("Channel", "c")
ROLES = (
    Role(name="viewer", permissions=(Permission(actions=("read", "list")),)),
    Role(name="editor", inherits=("viewer",), permissions=(Permission(actions=("write",)),)),
    Role(
        name="admin",
        inherits=("editor",),
        permissions=(Permission(actions=("delete",), resource=is_("Channel")),),
    ),
)


def _world(*assignments: Assignment, grants: tuple[Grant, ...] = ()) -> tuple[object, object]:
    entities = with_roles(
        tenant=TENANT,
        entities=[
            Entity(uid=ORG),
            Entity(uid=APP, parents=(ORG,)),
            Entity(uid=CHAN, parents=(APP,)),
            Entity(uid=CAROL, parents=(TEAM,)),
        ],
        roles=ROLES,
        assignments=assignments,
    )
    policies = [*role_policies(tenant=TENANT, roles=ROLES), *grant_policies(grants=grants)]
    return compiled(*policies), graph(*entities)


def _can(world: tuple[object, object], who: object, action: str, what: object = CHAN) -> bool:
    return decide(world[0], world[1], who, action, what).allowed  # type: ignore[arg-type]


def test_role_inheritance_gives_inherited_permissions_only_upwards() -> None:
    world = _world(
        Assignment(principal=ALICE, role="admin"), Assignment(principal=BOB, role="viewer")
    )
    assert [a for a in ("read", "list", "write", "delete") if _can(world, ALICE, a)] == [
        "read",
        "list",
        "write",
        "delete",
    ]
    assert [a for a in ("read", "list", "write", "delete") if _can(world, BOB, a)] == [
        "read",
        "list",
    ]
    assert not _can(world, ALICE, "delete", APP)  # admin's delete is on channels only


def test_a_group_can_hold_a_role_for_its_members() -> None:
    world = _world(Assignment(principal=TEAM, role="editor"))
    assert _can(world, CAROL, "write")
    assert not _can(world, CAROL, "delete")


def test_closure_and_effective_permissions() -> None:
    assert role_closure(ROLES)["admin"] == {"admin", "editor", "viewer"}
    actions = {a for p in effective_permissions(ROLES, "editor") for a in p.actions}
    assert actions == {"read", "list", "write"}


def test_role_cycles_are_refused_with_the_cycle_named() -> None:
    cyclic = (
        Role(name="a", inherits=("b",)),
        Role(name="b", inherits=("c",)),
        Role(name="c", inherits=("a",)),
    )
    with pytest.raises(RoleError, match="role inheritance cycle: a → b → c → a"):
        role_closure(cyclic)
    with pytest.raises(RoleError, match="cycle: s → s"):
        role_closure((Role(name="s", inherits=("s",)),))


def test_unknown_and_duplicate_roles_are_refused() -> None:
    with pytest.raises(RoleError, match="not defined"):
        role_closure((Role(name="a", inherits=("ghost",)),))
    with pytest.raises(RoleError, match="defined twice"):
        role_closure((Role(name="a"), Role(name="a")))
    with pytest.raises(RoleError, match="unknown role"):
        with_roles(
            tenant=TENANT, entities=(), roles=ROLES, assignments=[Assignment(ALICE, "ghost")]
        )


def test_grants_are_inherited_down_the_resource_hierarchy_only() -> None:
    grant = Grant(id="g1", principal=BOB, actions=("write",), resource=APP)
    world = _world(grants=(grant,))
    assert _can(world, BOB, "write", APP)
    assert _can(world, BOB, "write", CHAN)  # below the app
    assert not _can(world, BOB, "write", ORG)  # above it
    assert not _can(world, BOB, "read", CHAN)  # another action
    assert not _can(world, ALICE, "write", CHAN)  # another principal
    decision = decide(world[0], world[1], BOB, "write", CHAN)  # type: ignore[arg-type]
    assert decision.determining == ("grant:g1",)


def test_platform_scopes_match_the_control_plane() -> None:
    assert set(platform.SCOPES) == scopes.KNOWN
    assert {role.name for role in platform.builtin_roles()} == set(scopes.GRANTABLE)


def _subsets(items: tuple[str, ...]) -> chain[tuple[str, ...]]:
    """Every set of at most three scopes, and every set missing at most one: each scope alone,
    in pairs and triples, and nearly everything (all subsets would be 2**17 sets)."""
    small = chain.from_iterable(combinations(items, size) for size in range(4))
    large = (tuple(s for s in items if s not in left) for left in combinations(items, 1))
    return chain(small, large, (items,))


def test_engine_answers_exactly_what_has_scope_answers() -> None:
    """Every known scope against many sets of grantable scopes (and junk granting nothing)."""
    checked = 0
    sets = 0
    for held in _subsets(scopes.GRANTABLE):
        sets += 1
        for extra in ((), ("tokens:launch", "tokens", "")):
            granted = (*held, *extra)
            for required in sorted(scopes.KNOWN):
                engine = platform.scope_allows(tenant="acme", granted=granted, required=required)
                assert engine is scopes.has_scope(granted, required), (granted, required)
                checked += 1
    assert checked == sets * 2 * len(scopes.KNOWN)


def test_unknown_required_scopes_are_denied() -> None:
    assert not platform.scope_allows(tenant="acme", granted=["*"], required="rockets:launch")


def test_a_key_decision_names_the_role_policy() -> None:
    decision = platform.authorize_key(
        tenant="acme", key_id="k1", granted=["tokens:*"], required="tokens:issue"
    )
    assert decision.allowed
    assert decision.determining == ("role:tokens:issue:0",)


def test_a_role_granted_on_a_subtree_applies_only_there_with_inherited_permissions() -> None:
    other_app, other_chan = uid("Application", "other"), uid("Channel", "o")
    grant = RoleGrant(id="rg", principal=BOB, role="admin", resource=APP)
    policies = [
        *role_policies(tenant=TENANT, roles=ROLES),
        *role_grant_policies(roles=ROLES, grants=[grant]),
    ]
    entities = with_roles(
        tenant=TENANT,
        entities=[
            Entity(uid=ORG),
            Entity(uid=APP, parents=(ORG,)),
            Entity(uid=CHAN, parents=(APP,)),
            Entity(uid=other_app, parents=(ORG,)),
            Entity(uid=other_chan, parents=(other_app,)),
        ],
        roles=ROLES,
        assignments=(),
    )
    world = (compiled(*policies), graph(*entities))
    assert [a for a in ("read", "write", "delete") if _can(world, BOB, a, CHAN)] == [
        "read",
        "write",
        "delete",
    ]
    assert not _can(world, BOB, "delete", APP)  # admin's delete is on channels only
    assert _can(world, BOB, "write", APP)
    assert not any(_can(world, BOB, a, other_chan) for a in ("read", "write", "delete"))
    assert not _can(world, BOB, "read", ORG)
    with pytest.raises(RoleError, match="unknown role"):
        role_grant_policies(
            roles=ROLES, grants=[RoleGrant(id="x", principal=BOB, role="ghost", resource=APP)]
        )
