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
from itertools import product

import cedarpy
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from caas_core.authz import cedar
from caas_core.authz.entities import Entity, EntityGraph
from caas_core.authz.evaluate import Request, authorize
from caas_core.authz.index import compile_policy_set
from caas_core.authz.policy import Effect, Policy
from caas_core.authz.rbac import Role
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
