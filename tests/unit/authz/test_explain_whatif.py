"""Explanations (every policy and why) and what-if (decisions a change would flip)."""

from __future__ import annotations

from itertools import product

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from caas_core.authz.entities import Entity, EntityGraph
from caas_core.authz.evaluate import Reason, Request, authorize
from caas_core.authz.explain import Outcome, explain
from caas_core.authz.index import compile_policy_set
from caas_core.authz.policy import Binary, Lit, Policy
from caas_core.authz.rbac import Role
from caas_core.authz.whatif import Change, Record, apply_change, what_if
from tests.unit.authz import corpus
from tests.unit.authz.helpers import acts, attr, compiled, eq, forbid, graph, in_, is_, permit, uid

ALICE, BOB = uid("User", "alice"), uid("User", "bob")
APP, CHAN, OTHER = uid("Application", "app"), uid("Channel", "c"), uid("Channel", "elsewhere")


def _world() -> EntityGraph:
    return graph(
        Entity(uid=ALICE, attrs={"level": 3}),
        Entity(uid=BOB, attrs={"level": 1}),
        Entity(uid=APP),
        Entity(uid=CHAN, parents=(APP,)),
        Entity(uid=OTHER),
    )


POLICIES = (
    permit("applies", principal=eq(ALICE), resource=in_(APP)),
    permit("other-user", principal=eq(BOB)),
    permit("other-action", action=acts("write")),
    permit("other-resource", resource=in_(OTHER)),
    permit("other-type", resource=is_("Application")),
    permit("false", when=[Binary(op="<", left=attr("principal", "level"), right=Lit(2))]),
    forbid("fails", unless=[attr("context", "absent")]),
)


def test_explanation_traces_every_policy_with_its_reason() -> None:
    request = Request(principal=ALICE, action="read", resource=CHAN)
    explanation = explain(policy_set=compiled(*POLICIES), entities=_world(), request=request)
    outcomes = {t.policy: (t.outcome, t.detail) for t in explanation.traces}
    assert outcomes == {
        "applies": (Outcome.APPLIED, ""),
        "other-user": (Outcome.PRINCIPAL_MISMATCH, 'User::"alice" is not User::"bob"'),
        "other-action": (Outcome.ACTION_MISMATCH, "action 'read' is not in ['write']"),
        "other-resource": (
            Outcome.RESOURCE_MISMATCH,
            'Channel::"c" is not in Channel::"elsewhere"',
        ),
        "other-type": (Outcome.RESOURCE_MISMATCH, 'Channel::"c" is not a Application'),
        "false": (Outcome.CONDITION_FALSE, "when #0 is false"),
        "fails": (Outcome.ERROR, "unless #0: context does not have the attribute `absent`"),
    }
    assert explanation.decision.allowed
    assert explanation.decision.determining == ("applies",)
    assert (explanation.policies_in_set, explanation.candidates) == (7, 3)
    only = explain(
        policy_set=compiled(*POLICIES), entities=_world(), request=request, only_candidates=True
    )
    assert {t.policy for t in only.traces} == {"applies", "false", "fails"}


@settings(
    max_examples=6,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(world=corpus.world(), contexts=corpus.contexts(), data=st.data())
def test_explanations_agree_with_decisions_and_the_index_misses_nothing(
    world: tuple[list[Role], list[Entity]], contexts: dict[str, object], data: st.DataObject
) -> None:
    roles, entities = world
    policies = data.draw(corpus.policy_set(roles, 60))
    policy_set = compile_policy_set(
        tenant=corpus.T, version="v", policies=policies, actions=corpus.ACTIONS
    )
    entity_graph = EntityGraph.build(tenant=corpus.T, entities=entities)
    for p, a, r in product(corpus.USERS[:4], corpus.LEAF_ACTIONS, corpus.RESOURCES):
        request = Request(principal=p, action=a, resource=r, context=contexts)
        explanation = explain(policy_set=policy_set, entities=entity_graph, request=request)
        decision = explanation.decision
        applied = {t.policy: t for t in explanation.traces if t.outcome is Outcome.APPLIED}
        failed = {t.policy for t in explanation.traces if t.outcome is Outcome.ERROR}
        # Every policy whose scope matches was offered by the index.
        assert all(
            t.candidate
            for t in explanation.traces
            if t.outcome in (Outcome.APPLIED, Outcome.ERROR, Outcome.CONDITION_FALSE)
        )
        forbids = {i for i, t in applied.items() if t.effect == "forbid"}
        permits = set(applied) - forbids
        expected = forbids if forbids else permits
        assert set(decision.determining) == expected
        assert decision.allowed is (not forbids and bool(permits))
        assert {e.policy for e in decision.errors} == failed


def _records(policy_set_policies: tuple[Policy, ...]) -> list[Record]:
    policy_set, world = compiled(*policy_set_policies), _world()
    return [
        Record(request=r, allowed=d.allowed, determining=d.determining)
        for r in (
            Request(principal=who, action=act, resource=what)
            for who in (ALICE, BOB)
            for act in ("read", "write")
            for what in (CHAN, OTHER)
        )
        for d in (authorize(policy_set=policy_set, entities=world, request=r),)
    ]


def test_what_if_lists_exactly_the_decisions_that_would_flip() -> None:
    current = (
        permit("alice-app", principal=eq(ALICE), resource=in_(APP)),
        permit("bob-writes", principal=eq(BOB), action=acts("write")),
    )
    records = _records(current)
    policy_set, world = compiled(*current), _world()
    assert what_if(current=policy_set, entities=world, change=Change(), records=records) == []
    no_writes = Change(upsert=(forbid("no-writes", action=acts("write")),))
    flipped = what_if(current=policy_set, entities=world, change=no_writes, records=records)
    assert [
        (f.record.request.principal, f.record.request.action, f.record.request.resource)
        for f in flipped
    ] == [
        (ALICE, "write", CHAN),
        (BOB, "write", CHAN),
        (BOB, "write", OTHER),
    ]
    assert all(
        f.after.reason is Reason.FORBIDDEN and f.after.determining == ("no-writes",)
        for f in flipped
    )
    removed = what_if(
        current=policy_set, entities=world, change=Change(remove=("alice-app",)), records=records
    )
    assert {(f.record.request.action, f.after.reason) for f in removed} == {
        ("read", Reason.NO_PERMIT),
        ("write", Reason.NO_PERMIT),
    }
    assert policy_set.policies.keys() == {"alice-app", "bob-writes"}  # the current set is untouched


def test_what_if_with_a_new_hierarchy_and_replacing_policies() -> None:
    current = (permit("app", principal=eq(ALICE), resource=in_(APP)),)
    records = _records(current)
    moved = graph(
        Entity(uid=ALICE, attrs={"level": 3}),
        Entity(uid=BOB, attrs={"level": 1}),
        Entity(uid=APP),
        Entity(uid=CHAN, parents=(APP,)),
        Entity(uid=OTHER, parents=(APP,)),  # OTHER moves under APP
    )
    flipped = what_if(
        current=compiled(*current),
        entities=_world(),
        change=Change(),
        records=records,
        proposed_entities=moved,
    )
    assert {(f.record.request.action, f.record.request.resource) for f in flipped} == {
        ("read", OTHER),
        ("write", OTHER),
    }
    replaced = apply_change(
        current, Change(upsert=(permit("app", principal=eq(BOB), resource=in_(APP)),))
    )
    assert [p.principal.entity for p in replaced] == [BOB]
