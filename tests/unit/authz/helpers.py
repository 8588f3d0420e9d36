"""Small builders shared by the authorization tests (terse policies over one tenant)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from caas_core.authz.entities import Entity, EntityGraph
from caas_core.authz.evaluate import Decision, Request, authorize
from caas_core.authz.index import CompiledPolicySet, compile_policy_set
from caas_core.authz.policy import (
    ANY,
    ANY_ACTION,
    ActionScope,
    Clause,
    Effect,
    EntityScope,
    Expr,
    GetAttr,
    Policy,
    Var,
)
from caas_core.authz.values import Uid

TENANT = "acme"
ACTIONS: Mapping[str, tuple[str, ...]] = {
    "read": ("view",),
    "list": ("view",),
    "write": ("edit",),
    "delete": ("edit",),
    "view": (),
    "edit": (),
}


def uid(type_: str, id_: str, tenant: str = TENANT) -> Uid:
    return Uid(tenant, type_, id_)


def attr(var: str, name: str) -> GetAttr:
    return GetAttr(obj=Var(name=var), attr=name)  # type: ignore[arg-type]


def in_(entity: Uid) -> EntityScope:
    return EntityScope(op="in", entity=entity)


def eq(entity: Uid) -> EntityScope:
    return EntityScope(op="==", entity=entity)


def is_(type_: str, entity: Uid | None = None) -> EntityScope:
    return EntityScope(op="is", type=type_, entity=entity)


def acts(*names: str) -> ActionScope:
    return ActionScope(op="in", actions=names) if names else ANY_ACTION


def permit(
    id_: str,
    *,
    principal: EntityScope = ANY,
    action: ActionScope = ANY_ACTION,
    resource: EntityScope = ANY,
    when: Iterable[Expr] = (),
    unless: Iterable[Expr] = (),
) -> Policy:
    clauses = (
        *(Clause(kind="when", expr=e) for e in when),
        *(Clause(kind="unless", expr=e) for e in unless),
    )
    return Policy(
        id=id_,
        effect=Effect.PERMIT,
        principal=principal,
        action=action,
        resource=resource,
        conditions=clauses,
    )


def forbid(id_: str, **kwargs: object) -> Policy:
    policy = permit(id_, **kwargs)  # type: ignore[arg-type]
    return Policy(
        id=policy.id,
        effect=Effect.FORBID,
        principal=policy.principal,
        action=policy.action,
        resource=policy.resource,
        conditions=policy.conditions,
    )


def compiled(*policies: Policy, tenant: str = TENANT) -> CompiledPolicySet:
    return compile_policy_set(tenant=tenant, version="v1", policies=policies, actions=ACTIONS)


def graph(*entities: Entity, tenant: str = TENANT) -> EntityGraph:
    return EntityGraph.build(tenant=tenant, entities=entities)


def decide(
    policy_set: CompiledPolicySet,
    entities: EntityGraph,
    principal: Uid,
    action: str,
    resource: Uid,
    context: Mapping[str, object] | None = None,
) -> Decision:
    request = Request(principal=principal, action=action, resource=resource, context=context or {})
    return authorize(policy_set=policy_set, entities=entities, request=request)
