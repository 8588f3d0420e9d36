"""The decision model: default deny, forbid overrides, scopes, hierarchies, errors, limits."""

from __future__ import annotations

import pytest

from caas_core.authz.entities import Entity, EntityGraph, HierarchyError
from caas_core.authz.evaluate import Reason, Request, candidates
from caas_core.authz.index import PolicySetError, compile_policy_set
from caas_core.authz.policy import Binary, EntityScope, Lit
from tests.unit.authz.helpers import (
    ACTIONS,
    acts,
    attr,
    compiled,
    decide,
    eq,
    forbid,
    graph,
    in_,
    is_,
    permit,
    uid,
)

ALICE, BOB = uid("User", "alice"), uid("User", "bob")
ENG, OPS = uid("Group", "eng"), uid("Group", "ops")
TENANT_E, APP, CHAN, OTHER_CHAN = (
    uid("Tenant", "acme"),
    uid("Application", "app"),
    uid("Channel", "general"),
    uid("Channel", "random"),
)


def _world() -> EntityGraph:
    return graph(
        Entity(uid=ALICE, attrs={"level": 3}, parents=(ENG,)),
        Entity(uid=BOB, attrs={"level": 1}, parents=(OPS,)),
        Entity(uid=ENG, parents=(OPS,)),  # eng is a sub-group of ops
        Entity(uid=OPS),
        Entity(uid=TENANT_E),
        Entity(uid=APP, parents=(TENANT_E,)),
        Entity(uid=CHAN, parents=(APP,)),
        Entity(uid=OTHER_CHAN, parents=(APP,)),
    )


def test_nothing_is_allowed_by_default() -> None:
    decision = decide(compiled(), _world(), ALICE, "read", CHAN)
    assert not decision.allowed
    assert decision.reason is Reason.NO_PERMIT
    assert decision.determining == ()


def test_permit_names_every_permit_that_matched() -> None:
    policies = compiled(
        permit("p1"), permit("p2", principal=eq(ALICE)), permit("p3", principal=eq(BOB))
    )
    decision = decide(policies, _world(), ALICE, "read", CHAN)
    assert decision.allowed
    assert decision.reason is Reason.PERMITTED
    assert set(decision.determining) == {"p1", "p2"}


def test_forbid_overrides_every_permit_and_is_named() -> None:
    policies = compiled(
        permit("p1"), forbid("f1", principal=in_(OPS)), forbid("f2", resource=eq(OTHER_CHAN))
    )
    world = _world()
    decision = decide(policies, world, ALICE, "read", CHAN)
    assert (decision.allowed, decision.reason, decision.determining) == (
        False,
        Reason.FORBIDDEN,
        ("f1",),
    )
    both = decide(policies, world, BOB, "read", OTHER_CHAN)
    assert set(both.determining) == {"f1", "f2"}


@pytest.mark.parametrize(
    ("scope", "alice", "bob"),
    [
        (eq(ALICE), True, False),
        (in_(ALICE), True, False),
        (in_(ENG), True, False),
        (in_(OPS), True, True),  # alice is in ops through eng
        (is_("User"), True, True),
        (is_("User", ENG), True, False),
        (is_("Group"), False, False),
        (eq(ENG), False, False),  # == is exact: members of eng are not eng
    ],
)
def test_principal_scopes(scope: EntityScope, alice: bool, bob: bool) -> None:
    policies, world = compiled(permit("p", principal=scope)), _world()
    assert decide(policies, world, ALICE, "read", CHAN).allowed is alice
    assert decide(policies, world, BOB, "read", CHAN).allowed is bob


@pytest.mark.parametrize(
    ("scope", "allowed"),
    [
        (in_(TENANT_E), {CHAN, OTHER_CHAN, APP, TENANT_E}),  # a grant on the tenant covers all
        (in_(APP), {CHAN, OTHER_CHAN, APP}),
        (in_(CHAN), {CHAN}),
        (eq(APP), {APP}),
        (is_("Channel"), {CHAN, OTHER_CHAN}),
        (is_("Channel", APP), {CHAN, OTHER_CHAN}),
        (is_("Application", TENANT_E), {APP}),
    ],
)
def test_resource_scopes_are_inherited_down_the_hierarchy(
    scope: EntityScope, allowed: set[object]
) -> None:
    policies, world = compiled(permit("p", resource=scope)), _world()
    for resource in (TENANT_E, APP, CHAN, OTHER_CHAN):
        assert decide(policies, world, ALICE, "read", resource).allowed is (resource in allowed)


def test_action_scopes_and_action_groups() -> None:
    policies = compiled(
        permit("exact", principal=eq(ALICE), action=acts("write")),
        permit("group", principal=eq(BOB), action=acts("view")),
    )
    world = _world()
    allowed = {
        (who, act)
        for who in (ALICE, BOB)
        for act in ACTIONS
        if decide(policies, world, who, act, CHAN).allowed
    }
    assert allowed == {(ALICE, "write"), (BOB, "read"), (BOB, "list"), (BOB, "view")}


def test_an_undeclared_action_is_matched_only_by_any_action() -> None:
    policies, world = compiled(permit("any"), permit("read", action=acts("read"))), _world()
    decision = decide(policies, world, ALICE, "launch", CHAN)
    assert decision.determining == ("any",)


def test_a_failing_condition_neither_permits_nor_forbids_and_is_reported() -> None:
    broken = Binary(op=">", left=attr("principal", "missing"), right=Lit(1))
    policies = compiled(permit("p"), forbid("f", when=[broken]))
    decision = decide(policies, _world(), ALICE, "read", CHAN)
    assert decision.allowed
    assert [(e.policy, "missing" in e.message) for e in decision.errors] == [("f", True)]


def test_unless_clauses_invert_and_clauses_combine_in_order() -> None:
    senior = Binary(op=">=", left=attr("principal", "level"), right=Lit(2))
    policies = compiled(
        permit("p", when=[senior], unless=[Binary(op="==", left=Lit(1), right=Lit(2))])
    )
    world = _world()
    assert decide(policies, world, ALICE, "read", CHAN).allowed
    assert not decide(policies, world, BOB, "read", CHAN).allowed


def test_policy_ids_must_be_unique() -> None:
    with pytest.raises(PolicySetError, match="used twice"):
        compiled(permit("p"), permit("p"))


def test_policy_set_size_is_limited() -> None:
    with pytest.raises(PolicySetError, match="at most 3 policies"):
        compile_policy_set(
            tenant="acme",
            version="v",
            policies=[permit(f"p{i}") for i in range(4)],
            actions=ACTIONS,
            max_policies=3,
        )


def test_hierarchy_cycles_are_refused_and_named() -> None:
    a, b, c = uid("Group", "a"), uid("Group", "b"), uid("Group", "c")
    with pytest.raises(HierarchyError, match=r'Group::"a" → Group::"b" → Group::"c" → Group::"a"'):
        graph(Entity(uid=a, parents=(b,)), Entity(uid=b, parents=(c,)), Entity(uid=c, parents=(a,)))


def test_hierarchy_depth_and_fan_out_are_bounded() -> None:
    chain = [
        Entity(uid=uid("Folder", str(i)), parents=(uid("Folder", str(i + 1)),)) for i in range(40)
    ]
    with pytest.raises(HierarchyError, match="levels deep"):
        graph(*chain)
    wide = Entity(uid=ALICE, parents=tuple(uid("Group", str(i)) for i in range(1100)))
    with pytest.raises(HierarchyError, match="at most 1024"):
        graph(wide)


def test_entities_given_twice_are_refused() -> None:
    with pytest.raises(HierarchyError, match="given twice"):
        graph(Entity(uid=ALICE), Entity(uid=ALICE))


def test_a_layered_graph_sees_its_base_and_adds_new_ids_only() -> None:
    base = _world()
    key = uid("ApiKey", "k")
    layered = base.with_entities([Entity(uid=key, parents=(ENG,))])
    assert layered.is_in(key, OPS)
    assert layered.is_in(CHAN, TENANT_E)
    assert not base.known(key)
    with pytest.raises(HierarchyError, match="given twice"):
        layered.with_entities([Entity(uid=ALICE)])


def test_unrelated_policies_and_grants_are_never_looked_at() -> None:
    """Not timed: the index offers the same candidates with 20,000 unrelated policies added —
    on other resources, other principals (grants to other users on the same channel) and
    other actions — so a decision's work does not grow with them."""
    world = _world()
    related = [permit("p", principal=in_(ENG), resource=in_(APP)), forbid("f", principal=eq(ALICE))]
    unrelated = [
        *(permit(f"other-res-{i}", resource=eq(uid("Channel", f"x{i}"))) for i in range(5000)),
        *(
            permit(f"other-user-{i}", principal=eq(uid("User", f"u{i}")), resource=eq(CHAN))
            for i in range(10000)
        ),
        *(
            permit(f"other-action-{i}", principal=eq(ALICE), action=acts("delete"))
            for i in range(5000)
        ),
    ]
    request = Request(principal=ALICE, action="read", resource=CHAN)
    small = {p.id for p in candidates(compiled(*related), world, request)}
    large = {p.id for p in candidates(compiled(*related, *unrelated), world, request)}
    assert small == large == {"p", "f"}
