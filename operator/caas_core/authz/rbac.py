"""Roles, permissions, user-role assignments and resource grants, as policies and parent edges.

Nothing here has its own evaluation rule: a role is an entity `Role::"name"` whose parents are
the roles it inherits; an assignment makes the role a parent of the user; a permission of a role
is a permit policy `principal in Role::"name"`; a grant is a permit policy `principal in P,
resource in R`, so it is inherited down the resource hierarchy. The engine's one mechanism
(and its Cedar equivalence) therefore covers all of them, and the closure of roles is the entity
graph's closure, computed once per version.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from caas_core.authz.entities import Entity
from caas_core.authz.policy import (
    ANY,
    ActionScope,
    Binary,
    Clause,
    Effect,
    EntityScope,
    Lit,
    Policy,
    Var,
)
from caas_core.authz.values import Uid

ROLE_TYPE = "Role"


class RoleError(ValueError):
    """A role definition is refused: a cycle (named in order), an unknown or duplicate role."""


@dataclass(frozen=True, slots=True)
class Permission:
    """Actions a role allows, on resources matching `resource` (any, a type, or a subtree)."""

    actions: tuple[str, ...]
    resource: EntityScope = ANY


@dataclass(frozen=True, slots=True)
class Role:
    """A named set of permissions, plus every permission of the roles it inherits."""

    name: str
    permissions: tuple[Permission, ...] = ()
    inherits: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Assignment:
    """`principal` (a user, or a group: its members hold the role too) holds `role`."""

    principal: Uid
    role: str


@dataclass(frozen=True, slots=True)
class Grant:
    """`principal` may do `actions` on `resource` and everything below it in the hierarchy."""

    id: str
    principal: Uid
    actions: tuple[str, ...]
    resource: Uid


def role_uid(tenant: str, name: str) -> Uid:
    """The entity id of a role."""
    return Uid(tenant, ROLE_TYPE, name)


def role_closure(roles: Iterable[Role]) -> dict[str, frozenset[str]]:
    """Every role with all the roles it inherits, transitively (itself included).

    Refuses a cycle naming it in order (`a → b → a`), a role defined twice, and an inherited
    role that is not defined.
    """
    defined: dict[str, Role] = {}
    for role in roles:
        if role.name in defined:
            raise RoleError(f"role {role.name!r} is defined twice")
        defined[role.name] = role
    closed: dict[str, frozenset[str]] = {}

    def visit(name: str, path: tuple[str, ...]) -> frozenset[str]:
        if name in path:
            cycle = (*path[path.index(name) :], name)
            raise RoleError("role inheritance cycle: " + " → ".join(cycle))
        if name not in defined:
            raise RoleError(f"role {path[-1]!r} inherits {name!r}, which is not defined")
        if name not in closed:
            found = {name}
            for parent in defined[name].inherits:
                found |= visit(parent, (*path, name))
            closed[name] = frozenset(found)
        return closed[name]

    for name in defined:
        visit(name, ())
    return closed


def effective_permissions(roles: Iterable[Role], name: str) -> tuple[Permission, ...]:
    """A role's own permissions and those it inherits (for display; decisions use the graph)."""
    listed = tuple(roles)
    closure = role_closure(listed)
    by_name = {role.name: role for role in listed}
    return tuple(p for held in sorted(closure[name]) for p in by_name[held].permissions)


def role_policies(*, tenant: str, roles: Iterable[Role]) -> list[Policy]:
    """One permit per permission of each role, scoped `principal in Role::"name"`."""
    return [
        Policy(
            id=f"role:{role.name}:{number}",
            effect=Effect.PERMIT,
            principal=EntityScope(op="in", entity=role_uid(tenant, role.name)),
            action=ActionScope(op="in", actions=permission.actions),
            resource=permission.resource,
        )
        for role in roles
        for number, permission in enumerate(role.permissions)
    ]


@dataclass(frozen=True, slots=True)
class RoleGrant:
    """`principal` holds `role` (with what it inherits) only on `resource` and below it."""

    id: str
    principal: Uid
    role: str
    resource: Uid


def _within(scope: EntityScope, subtree: Uid) -> tuple[EntityScope, tuple[Clause, ...]]:
    """A permission's resource scope narrowed to `subtree` (a condition where a scope can't)."""
    inside = Binary(op="in", left=Var(name="resource"), right=Lit(subtree))
    if scope.op == "any":
        return EntityScope(op="in", entity=subtree), ()
    if scope.op == "is" and scope.entity is None:
        return EntityScope(op="is", type=scope.type, entity=subtree), ()
    assert scope.entity is not None
    also = Clause(
        kind="when", expr=Binary(op="in", left=Var(name="resource"), right=Lit(scope.entity))
    )
    if scope.op == "is":
        return EntityScope(op="is", type=scope.type, entity=subtree), (also,)
    if scope.op == "in":
        return EntityScope(op="in", entity=subtree), (also,)
    return scope, (Clause(kind="when", expr=inside),)


def role_grant_policies(*, roles: Iterable[Role], grants: Iterable[RoleGrant]) -> list[Policy]:
    """Each role grant as the role's permissions (inherited ones included), each narrowed to
    the granted subtree and to the grantee: `principal in P, resource in R`."""
    listed = tuple(roles)
    closure = role_closure(listed)
    by_name = {role.name: role for role in listed}
    out = []
    for grant in grants:
        if grant.role not in closure:
            raise RoleError(f"grant {grant.id!r} names unknown role {grant.role!r}")
        for held in sorted(closure[grant.role]):
            for number, permission in enumerate(by_name[held].permissions):
                resource, conditions = _within(permission.resource, grant.resource)
                out.append(
                    Policy(
                        id=f"grant:{grant.id}:{held}:{number}",
                        effect=Effect.PERMIT,
                        principal=EntityScope(op="in", entity=grant.principal),
                        action=ActionScope(op="in", actions=permission.actions),
                        resource=resource,
                        conditions=conditions,
                    )
                )
    return out


def grant_policies(*, grants: Iterable[Grant]) -> list[Policy]:
    """One permit per grant, scoped `principal in P, resource in R` (inherited downwards)."""
    return [
        Policy(
            id=f"grant:{grant.id}",
            effect=Effect.PERMIT,
            principal=EntityScope(op="in", entity=grant.principal),
            action=ActionScope(op="in", actions=grant.actions),
            resource=EntityScope(op="in", entity=grant.resource),
        )
        for grant in grants
    ]


def with_roles(
    *,
    tenant: str,
    entities: Iterable[Entity],
    roles: Iterable[Role],
    assignments: Iterable[Assignment],
) -> list[Entity]:
    """The entities plus one entity per role, with assignments added as parent edges.

    A principal assigned a role but not otherwise given becomes a bare entity, so that the
    assignment still counts.
    """
    listed = tuple(roles)
    role_closure(listed)  # refuse cycles and unknown roles before anything is built
    defined = {role.name for role in listed}
    extra: dict[Uid, list[Uid]] = {}
    for assignment in assignments:
        if assignment.role not in defined:
            raise RoleError(f"{assignment.principal} is assigned unknown role {assignment.role!r}")
        extra.setdefault(assignment.principal, []).append(role_uid(tenant, assignment.role))
    out = [_add_parents(entity, extra.pop(entity.uid, ())) for entity in entities]
    out.extend(Entity(uid=uid, parents=tuple(parents)) for uid, parents in extra.items())
    out.extend(
        Entity(
            uid=role_uid(tenant, role.name),
            parents=tuple(role_uid(tenant, parent) for parent in role.inherits),
        )
        for role in listed
    )
    return out


def _add_parents(entity: Entity, parents: Iterable[Uid]) -> Entity:
    added = tuple(parents)
    if not added:
        return entity
    merged = tuple(dict.fromkeys((*entity.parents, *added)))
    return Entity(uid=entity.uid, attrs=entity.attrs, parents=merged)


def actions_of(roles: Iterable[Role]) -> Mapping[str, tuple[str, ...]]:
    """Every action some role's permission names (with no groups), for schemas built from roles."""
    return {action: () for role in roles for p in role.permissions for action in p.actions}
