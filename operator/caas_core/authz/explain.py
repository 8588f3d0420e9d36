"""A full trace of one decision: every policy, whether it applied, and if not, why.

The fast path (`authorize`) only looks at what the index offers; an explanation walks every
policy of the set (or only the index's candidates), checks each scope on its own and evaluates
each clause separately, so a tenant can see that its policy missed because the resource is not
under the application it named, or because its second `when` was false, or failed. Its
decision is `authorize`'s own.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from caas_core.authz.conditions import Env, compile_expr
from caas_core.authz.entities import EntityGraph
from caas_core.authz.evaluate import (
    Decision,
    Request,
    action_uid,
    authorize,
    candidates,
    request_problem,
)
from caas_core.authz.index import CompiledPolicySet
from caas_core.authz.policy import ActionScope, EntityScope, Policy
from caas_core.authz.values import EvalError, Uid


class Outcome(StrEnum):
    """What happened to one policy."""

    APPLIED = "applied"
    PRINCIPAL_MISMATCH = "principal_not_in_scope"
    ACTION_MISMATCH = "action_not_in_scope"
    RESOURCE_MISMATCH = "resource_not_in_scope"
    CONDITION_FALSE = "condition_false"
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class PolicyTrace:
    """One policy's part in the decision."""

    policy: str
    effect: str
    outcome: Outcome
    detail: str = ""
    candidate: bool = False  # offered by the index (every policy that applies is)


@dataclass(frozen=True, slots=True)
class Explanation:
    """The decision, and the trace of every policy looked at."""

    decision: Decision
    traces: tuple[PolicyTrace, ...]
    policies_in_set: int
    candidates: int


def _entity_scope(scope: EntityScope, uid: Uid, graph: EntityGraph) -> str | None:
    """None if `uid` is in scope, else why not."""
    if scope.op == "==" and uid != scope.entity:
        return f"{uid} is not {scope.entity}"
    if scope.op == "in" and scope.entity is not None and not graph.is_in(uid, scope.entity):
        return f"{uid} is not in {scope.entity}"
    if scope.op == "is":
        if uid.type != scope.type:
            return f"{uid} is not a {scope.type}"
        if scope.entity is not None and not graph.is_in(uid, scope.entity):
            return f"{uid} is not in {scope.entity}"
    return None


def _action_scope(scope: ActionScope, action: str, policy_set: CompiledPolicySet) -> str | None:
    groups = policy_set.action_parents.get(action, frozenset((action,)))
    if scope.op == "==" and action != scope.actions[0]:
        return f"action {action!r} is not {scope.actions[0]!r}"
    if scope.op == "in" and groups.isdisjoint(scope.actions):
        return f"action {action!r} is not in {list(scope.actions)}"
    return None


def _trace(  # noqa: PLR0911
    policy: Policy, request: Request, env: Env, policy_set: CompiledPolicySet, candidate: bool
) -> PolicyTrace:
    def done(outcome: Outcome, detail: str = "") -> PolicyTrace:
        return PolicyTrace(policy.id, policy.effect.value, outcome, detail, candidate)

    graph = env.graph
    why = _entity_scope(policy.principal, request.principal, graph)
    if why is not None:
        return done(Outcome.PRINCIPAL_MISMATCH, why)
    why = _action_scope(policy.action, request.action, policy_set)
    if why is not None:
        return done(Outcome.ACTION_MISMATCH, why)
    why = _entity_scope(policy.resource, request.resource, graph)
    if why is not None:
        return done(Outcome.RESOURCE_MISMATCH, why)
    for number, clause in enumerate(policy.conditions):
        try:
            value = compile_expr(clause.expr)(env)
        except EvalError as error:
            return done(Outcome.ERROR, f"{clause.kind} #{number}: {error}")
        if not isinstance(value, bool):
            return done(Outcome.ERROR, f"{clause.kind} #{number}: not a Bool")
        if value is not (clause.kind == "when"):
            return done(Outcome.CONDITION_FALSE, f"{clause.kind} #{number} is {str(value).lower()}")
    return done(Outcome.APPLIED)


def explain(
    *,
    policy_set: CompiledPolicySet,
    entities: EntityGraph,
    request: Request,
    only_candidates: bool = False,
) -> Explanation:
    """The decision with a trace of every policy (or of the index's candidates only)."""
    decision = authorize(policy_set=policy_set, entities=entities, request=request)
    if request_problem(policy_set, entities, request) is not None:
        return Explanation(decision, (), len(policy_set), 0)
    offered = {p.id for p in candidates(policy_set, entities, request)}
    env = Env(
        principal=request.principal,
        action=action_uid(policy_set.tenant, request.action),
        resource=request.resource,
        context=request.context,
        graph=entities,
    )
    looked_at = (
        [policy_set.policies[i] for i in offered]
        if only_candidates
        else policy_set.policies.values()
    )
    traces = tuple(
        _trace(policy, request, env, policy_set, policy.id in offered)
        for policy in sorted(looked_at, key=lambda p: p.id)
    )
    return Explanation(decision, traces, len(policy_set), len(offered))
