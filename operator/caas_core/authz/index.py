"""A tenant's policies compiled once per version into an index by action, resource and principal.

A decision looks up its action, then the index keys of its resource (itself, its ancestors, its
type, "any") and, in each bucket found, the keys of its principal. It therefore touches only the
policies whose scopes can match: the cost does not grow with policies or grants on other actions,
other resources or other principals. Action groups are expanded here, so a request names one
action and never walks the action hierarchy.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Final

from caas_core.authz.conditions import Env, compile_clauses
from caas_core.authz.entities import Entity
from caas_core.authz.policy import (
    PRINCIPAL_SLOT,
    RESOURCE_SLOT,
    And,
    Binary,
    EntityScope,
    Expr,
    GetAttr,
    Has,
    Lit,
    Or,
    Policy,
    SetOf,
    Unary,
)
from caas_core.authz.values import TypeKey, Uid

MAX_POLICIES: Final = 1_000_000

# action key → resource key → principal key → policies filed there
Index = dict[str | None, dict[Hashable, dict[Hashable, tuple["CompiledPolicy", ...]]]]


class PolicySetError(ValueError):
    """The policy set cannot be compiled (duplicate id, another tenant's entity, too large)."""


@dataclass(frozen=True, slots=True)
class CompiledPolicy:
    """A policy ready to evaluate: residual scope checks the index keys leave, and its condition."""

    id: str
    forbid: bool
    principal_eq: Uid | None
    principal_type: str | None
    resource_eq: Uid | None
    resource_type: str | None
    condition: Callable[[Env], bool] | None
    source: Policy


@dataclass(frozen=True, slots=True)
class CompiledPolicySet:
    """One version of one tenant's policy set. Immutable: a change compiles a new one."""

    tenant: str
    version: str
    index: Index
    any_action: dict[Hashable, dict[Hashable, tuple[CompiledPolicy, ...]]]
    policies: Mapping[str, Policy]
    action_parents: Mapping[str, frozenset[str]]
    actions: Mapping[str, tuple[str, ...]]

    def __len__(self) -> int:
        return len(self.policies)


def _scope_key(scope: EntityScope, tenant: str) -> tuple[Hashable, Uid | None, str | None]:
    """(index key, exact entity to re-check, type to re-check) for a principal/resource scope."""
    if scope.op == "any":
        return None, None, None
    if scope.op == "==":
        return scope.entity, scope.entity, None
    if scope.op == "in":
        return scope.entity, None, None
    if scope.entity is not None:  # `is T in E`
        return scope.entity, None, scope.type
    assert scope.type is not None
    return TypeKey(tenant, scope.type), None, None


def _expr_uids(expr: Expr) -> Iterator[Uid]:
    if isinstance(expr, Lit):
        values = expr.value if isinstance(expr.value, frozenset) else (expr.value,)
        yield from (value for value in values if isinstance(value, Uid))
    elif isinstance(expr, GetAttr | Has):
        yield from _expr_uids(expr.obj)
    elif isinstance(expr, Binary | And | Or):
        yield from _expr_uids(expr.left)
        yield from _expr_uids(expr.right)
    elif isinstance(expr, Unary):
        yield from _expr_uids(expr.arg)
    elif isinstance(expr, SetOf):
        for item in expr.items:
            yield from _expr_uids(item)


def policy_uids(policy: Policy) -> Iterator[Uid]:
    """Every entity id a policy names, in its scopes and its conditions."""
    for scope in (policy.principal, policy.resource):
        if scope.entity is not None:
            yield scope.entity
    for clause in policy.conditions:
        yield from _expr_uids(clause.expr)


def action_closure(actions: Mapping[str, Iterable[str]]) -> dict[str, frozenset[str]]:
    """Each declared action with every group it is transitively in (itself included)."""
    closed: dict[str, frozenset[str]] = {}

    def visit(name: str, path: tuple[str, ...]) -> frozenset[str]:
        if name in path:
            raise PolicySetError("action group cycle: " + " → ".join((*path, name)))
        if name not in closed:
            found = {name}
            for group in actions.get(name, ()):
                found |= visit(group, (*path, name))
            closed[name] = frozenset(found)
        return closed[name]

    for name in actions:
        visit(name, ())
    return closed


def compile_policy_set(
    *,
    tenant: str,
    version: str,
    policies: Iterable[Policy],
    actions: Mapping[str, Iterable[str]],
    max_policies: int = MAX_POLICIES,
) -> CompiledPolicySet:
    """Check every policy belongs to `tenant`, compile conditions, and file each policy.

    `actions` maps every declared action to the groups it is directly in.
    """
    closure = action_closure(actions)
    by_id: dict[str, Policy] = {}
    filed: dict[str | None, list[CompiledPolicy]] = {}
    for policy in policies:
        if policy.id in by_id:
            raise PolicySetError(f"policy id {policy.id!r} is used twice")
        if len(by_id) >= max_policies:
            raise PolicySetError(f"a policy set holds at most {max_policies} policies")
        for uid in policy_uids(policy):
            if uid in (PRINCIPAL_SLOT, RESOURCE_SLOT):
                raise PolicySetError(f"policy {policy.id!r} has an unlinked template slot {uid}")
            if uid.tenant != tenant:
                raise PolicySetError(f"policy {policy.id!r} names {uid} of another tenant")
        by_id[policy.id] = policy
        compiled = _compile_one(policy, tenant)
        for key in _action_keys(policy, closure):
            filed.setdefault(key, []).append(compiled)
    any_action = _file(filed.pop(None, []), tenant)
    index: Index = {}
    for action in {*closure, *filed}:
        index[action] = _file([*filed.get(action, ()), *_flatten(any_action)], tenant)
    return CompiledPolicySet(
        tenant=tenant,
        version=version,
        index=index,
        any_action=any_action,
        policies=by_id,
        action_parents=closure,
        actions={name: tuple(groups) for name, groups in actions.items()},
    )


def _compile_one(policy: Policy, tenant: str) -> CompiledPolicy:
    _, principal_eq, principal_type = _scope_key(policy.principal, tenant)
    _, resource_eq, resource_type = _scope_key(policy.resource, tenant)
    return CompiledPolicy(
        id=policy.id,
        forbid=policy.effect == "forbid",
        principal_eq=principal_eq,
        principal_type=principal_type,
        resource_eq=resource_eq,
        resource_type=resource_type,
        condition=compile_clauses(policy.conditions),
        source=policy,
    )


def _action_keys(policy: Policy, closure: Mapping[str, frozenset[str]]) -> set[str | None]:
    scope = policy.action
    if scope.op == "any":
        return {None}
    if scope.op == "==":
        return {scope.actions[0]}
    listed = set(scope.actions)
    members = {action for action, groups in closure.items() if not groups.isdisjoint(listed)}
    return {*listed, *members}


def _file(
    policies: Iterable[CompiledPolicy], tenant: str
) -> dict[Hashable, dict[Hashable, tuple[CompiledPolicy, ...]]]:
    by_resource: dict[Hashable, dict[Hashable, list[CompiledPolicy]]] = {}
    for policy in policies:
        resource_key = _scope_key(policy.source.resource, tenant)[0]
        principal_key = _scope_key(policy.source.principal, tenant)[0]
        by_resource.setdefault(resource_key, {}).setdefault(principal_key, []).append(policy)
    return {
        resource_key: {key: tuple(found) for key, found in by_principal.items()}
        for resource_key, by_principal in by_resource.items()
    }


def _flatten(
    filed: dict[Hashable, dict[Hashable, tuple[CompiledPolicy, ...]]],
) -> Iterator[CompiledPolicy]:
    for by_principal in filed.values():
        for policies in by_principal.values():
            yield from policies


def action_entities(*, tenant: str, actions: Mapping[str, Iterable[str]]) -> list[Entity]:
    """The declared actions as entities (`Action::"name"` in its groups), for conditions on them."""
    return [
        Entity(
            uid=Uid(tenant, "Action", name), parents=tuple(Uid(tenant, "Action", g) for g in groups)
        )
        for name, groups in actions.items()
    ]
