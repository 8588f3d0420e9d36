"""Differential test: our decisions equal Cedar's (cedarpy) on a generated corpus.

Each example draws a world (hierarchies, roles, attributes), a policy set of at least 50
policies (role permissions, grants, free permit/forbid policies with conditions) and contexts;
the requests are every user, action, resource and context combined. The set is exported to
Cedar text and entities JSON and evaluated by cedarpy's batch API; the decision, the
determining policies and the policies that failed to evaluate must all be the same.
Derandomized, so every run checks the same corpus.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from itertools import product

import cedarpy
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from caas_core.authz import cedar
from caas_core.authz.entities import Entity, EntityGraph
from caas_core.authz.evaluate import Request, authorize
from caas_core.authz.index import compile_policy_set
from caas_core.authz.policy import (
    And,
    Binary,
    Clause,
    Effect,
    Expr,
    Has,
    Lit,
    Or,
    Policy,
    SetOf,
    Unary,
)
from caas_core.authz.rbac import Role
from caas_core.authz.values import DateTime, Duration, Uid, ip
from tests.unit.authz import corpus

EXAMPLES = 12
POLICIES = 50
CONTEXTS = 2
_POLICY_REF = re.compile(r"policy `(policy\d+)`")
TOTAL = {"requests": 0, "allowed": 0, "forbidden": 0, "errors": 0}


@st.composite
def _case(
    draw: st.DrawFn,
) -> tuple[list[Role], list[Entity], list[Policy], list[dict[str, object]]]:
    roles, entities = draw(corpus.world())
    policies = draw(corpus.policy_set(roles, POLICIES + draw(st.integers(0, 20))))
    return roles, entities, policies, [draw(corpus.contexts()) for _ in range(CONTEXTS)]


def _cedar_ids(text_order: list[Policy], refs: list[str]) -> set[str]:
    return {text_order[int(ref.removeprefix("policy"))].id for ref in refs}


@settings(
    max_examples=EXAMPLES,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(case=_case())
def test_decisions_equal_cedars(
    case: tuple[list[Role], list[Entity], list[Policy], list[dict[str, object]]],
) -> None:
    _, entities, policies, context_list = case
    assert len(policies) >= POLICIES
    policy_set = compile_policy_set(
        tenant=corpus.T, version="v", policies=policies, actions=corpus.ACTIONS
    )
    graph = EntityGraph.build(tenant=corpus.T, entities=entities)
    requests = [
        Request(principal=p, action=a, resource=r, context=c)
        for p, a, r, c in product(corpus.USERS, corpus.LEAF_ACTIONS, corpus.RESOURCES, context_list)
    ]
    cedar_policies = cedarpy.PolicySet.from_str(cedar.policies(policies))
    cedar_entities = cedarpy.Entities.from_json_str(
        json.dumps(cedar.entities(graph.entities(), {}))
    )
    answers = cedarpy.is_authorized_batch(
        [cedar.request(r) for r in requests], cedar_policies, cedar_entities
    )
    for request, answer in zip(requests, answers, strict=True):
        ours = authorize(policy_set=policy_set, entities=graph, request=request)
        assert answer.decision in (cedarpy.Decision.Allow, cedarpy.Decision.Deny), (
            answer.diagnostics.errors
        )
        failed = [ref for error in answer.diagnostics.errors for ref in _POLICY_REF.findall(error)]
        assert len(failed) == len(answer.diagnostics.errors), answer.diagnostics.errors
        theirs = (
            answer.allowed,
            _cedar_ids(policies, answer.diagnostics.reasons),
            _cedar_ids(policies, failed),
        )
        mine = (ours.allowed, set(ours.determining), {e.policy for e in ours.errors})
        assert mine == theirs, (request, ours, answer.diagnostics.errors)
        TOTAL["requests"] += 1
        TOTAL["allowed"] += ours.allowed
        TOTAL["forbidden"] += any(
            policy_set.policies[p].effect is Effect.FORBID for p in ours.determining
        )
        TOTAL["errors"] += bool(ours.errors)


def test_the_corpus_was_large_and_varied() -> None:
    """Runs after the differential test (file order): the corpus had the size and mix required."""
    print(f"differential corpus: {TOTAL}")  # shown with -s
    assert TOTAL["requests"] >= 10_000, TOTAL
    for outcome in ("allowed", "forbidden", "errors"):
        assert TOTAL[outcome] >= 500, TOTAL
    assert TOTAL["requests"] - TOTAL["allowed"] - TOTAL["forbidden"] >= 500, TOTAL


def _dt(text: str) -> Lit:
    return Lit(DateTime.of(datetime.fromisoformat(text)))


def _b(op: str, left: Expr, right: Expr) -> Binary:
    return Binary(op=op, left=left, right=right)


EDGES: list[Expr] = [
    _b("==", Lit(ip("10.0.0.1/8")), Lit(ip("10.0.0.2/8"))),
    _b("==", Lit(ip("10.0.0.1")), Lit(ip("10.0.0.1/32"))),
    _b("isInRange", Lit(ip("10.1.2.3/8")), Lit(ip("10.0.0.0/8"))),
    _b("isInRange", Lit(ip("10.0.0.0/8")), Lit(ip("10.1.2.3/16"))),
    _b("isInRange", Lit(ip("2001:db8::1")), Lit(ip("10.0.0.0/8"))),
    _b(
        "==",
        Unary(op="toTime", arg=_dt("1969-12-31T23:00:00+00:00")),
        Lit(Duration(23 * 3_600_000)),
    ),
    _b(
        "<",
        _b("durationSince", _dt("2026-03-02T10:00:00+00:00"), _dt("2026-03-02T11:30:00+00:00")),
        Lit(Duration(0)),
    ),
    _b("==", Lit(True), Lit(1)),
    _b("==", Lit(frozenset({True})), Lit(frozenset({1}))),
    _b("==", Lit(frozenset({1, 2})), SetOf(items=(Lit(2), Lit(1), Lit(1)))),
    _b("contains", Lit(frozenset({1, "a"})), Lit("a")),
    _b("contains", Lit(frozenset({1})), Lit(True)),
    _b("<", Lit("a"), Lit("b")),
    _b("<", _dt("2026-01-01T00:00:00+00:00"), Lit(Duration(5))),
    Or(
        left=Unary(op="!", arg=_b("==", Lit(1), Lit(1))),
        right=_b("==", Lit(frozenset()), Lit(frozenset())),
    ),
    _b(
        "in",
        Lit(Uid(corpus.T, "Group", "a")),
        SetOf(items=(Lit(Uid(corpus.T, "Group", "a")), Lit(2))),
    ),
    _b("in", Lit(Uid(corpus.T, "Group", "a")), Lit(frozenset({Uid(corpus.T, "Group", "b")}))),
    _b("containsAll", Lit(frozenset({1, 2})), Lit(frozenset())),
    _b("containsAny", Lit(frozenset({1, 2})), Lit(frozenset())),
    And(left=Lit(False), right=_b("<", Lit("x"), Lit(1))),
    And(left=Lit(True), right=Lit(1)),
    Has(obj=Lit(Uid(corpus.T, "Group", "missing")), attr="x"),
]


@pytest.mark.parametrize("condition", EDGES, ids=cedar.expr)
def test_value_semantics_match_cedar_on_edge_cases(condition: Expr) -> None:
    """Edge cases of equality, sets, IP ranges, datetimes and errors, one policy each."""
    policy = Policy(id="e", effect=Effect.PERMIT, conditions=(Clause(kind="when", expr=condition),))
    policy_set = compile_policy_set(tenant=corpus.T, version="v", policies=[policy], actions={})
    request = Request(principal=corpus.USERS[0], action="read", resource=corpus.TENANT)
    graph = EntityGraph.build(tenant=corpus.T, entities=())
    ours = authorize(policy_set=policy_set, entities=graph, request=request)
    theirs = cedarpy.is_authorized(cedar.request(request), cedar.policies([policy]), [])
    assert theirs.decision in (cedarpy.Decision.Allow, cedarpy.Decision.Deny), (
        theirs.diagnostics.errors
    )
    assert (ours.allowed, bool(ours.errors)) == (theirs.allowed, bool(theirs.diagnostics.errors))
