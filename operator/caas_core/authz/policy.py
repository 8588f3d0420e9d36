"""The policy model: permit/forbid policies with scopes and conditions, as frozen values.

Every construct maps one-to-one onto Cedar (the differential tests translate it and compare
decisions), so its meaning is Cedar's: forbid overrides permit, nothing is allowed by default,
and a policy whose condition fails to evaluate neither permits nor forbids.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

from caas_core.authz.values import Uid

VarName = Literal["principal", "action", "resource", "context"]
BINARY_OPS = frozenset(
    {
        "==",
        "!=",
        "<",
        "<=",
        ">",
        ">=",
        "in",
        "contains",
        "containsAll",
        "containsAny",
        "isInRange",
        "durationSince",
    }
)
UNARY_OPS = frozenset({"!", "toTime"})


class Effect(StrEnum):
    """Permit grants; forbid overrides every permit."""

    PERMIT = "permit"
    FORBID = "forbid"


@dataclass(frozen=True, slots=True)
class Lit:
    """A literal value (Bool, Long, String, entity, ipaddr, datetime, duration or a set)."""

    value: object


@dataclass(frozen=True, slots=True)
class Var:
    """`principal`, `action`, `resource` or `context`."""

    name: VarName


@dataclass(frozen=True, slots=True)
class GetAttr:
    """`obj.attr`: an error (not false) when the attribute is absent, as in Cedar."""

    obj: Expr
    attr: str


@dataclass(frozen=True, slots=True)
class Has:
    """`obj has attr`."""

    obj: Expr
    attr: str


@dataclass(frozen=True, slots=True)
class Binary:
    """A comparison, membership, set test, `isInRange` or `durationSince`."""

    op: str
    left: Expr
    right: Expr


@dataclass(frozen=True, slots=True)
class Unary:
    """`!x` or `x.toTime()` (time of day of a datetime, as a duration since midnight UTC)."""

    op: str
    arg: Expr


@dataclass(frozen=True, slots=True)
class And:
    """`left && right`, short-circuiting left to right like Cedar (so errors agree too)."""

    left: Expr
    right: Expr


@dataclass(frozen=True, slots=True)
class Or:
    """`left || right`, short-circuiting."""

    left: Expr
    right: Expr


@dataclass(frozen=True, slots=True)
class SetOf:
    """A set built from expressions, e.g. `[Group::"a", context.group]`."""

    items: tuple[Expr, ...]


Expr = Lit | Var | GetAttr | Has | Binary | Unary | And | Or | SetOf


@dataclass(frozen=True, slots=True)
class EntityScope:
    """Scope on the principal or the resource.

    `op` is `any` (no constraint), `==` an entity, `in` an entity (itself or any descendant in
    the hierarchy), or `is` a type, optionally `in` an entity as well.
    """

    op: Literal["any", "==", "in", "is"]
    entity: Uid | None = None
    type: str | None = None

    def __post_init__(self) -> None:
        if self.op in ("==", "in") and (self.entity is None or self.type is not None):
            raise ValueError(f"scope `{self.op}` takes an entity and no type")
        if self.op == "is" and self.type is None:
            raise ValueError("scope `is` takes a type")
        if self.op == "any" and (self.entity is not None or self.type is not None):
            raise ValueError("scope `any` takes nothing")


ANY = EntityScope(op="any")


@dataclass(frozen=True, slots=True)
class ActionScope:
    """Scope on the action: any, one action, or any of a list (action groups included)."""

    op: Literal["any", "==", "in"]
    actions: tuple[str, ...] = ()


ANY_ACTION = ActionScope(op="any")


@dataclass(frozen=True, slots=True)
class Clause:
    """A `when` (must hold) or `unless` (must not hold) condition."""

    kind: Literal["when", "unless"]
    expr: Expr


@dataclass(frozen=True, slots=True)
class Policy:
    """One policy of one tenant; its id is unique within the tenant's policy set."""

    id: str
    effect: Effect
    principal: EntityScope = ANY
    action: ActionScope = ANY_ACTION
    resource: EntityScope = ANY
    conditions: tuple[Clause, ...] = ()


# --- Templates: policies with a principal and/or resource slot, linked to concrete entities ----

PRINCIPAL_SLOT = Uid("", "?principal", "")
RESOURCE_SLOT = Uid("", "?resource", "")


@dataclass(frozen=True, slots=True)
class Template:
    """A policy whose principal and/or resource scope entity is a slot (`?principal`,
    `?resource`), like Cedar's templates: one shape, linked many times (e.g. "viewer of X")."""

    id: str
    body: Policy

    def slots(self) -> frozenset[str]:
        """Which slots the template has."""
        found = set()
        if self.body.principal.entity == PRINCIPAL_SLOT:
            found.add("principal")
        if self.body.resource.entity == RESOURCE_SLOT:
            found.add("resource")
        return frozenset(found)


def link(
    template: Template, *, link_id: str, principal: Uid | None = None, resource: Uid | None = None
) -> Policy:
    """A concrete policy from `template`: every slot filled, no other value accepted."""
    given = {name for name, value in (("principal", principal), ("resource", resource)) if value}
    if given != template.slots():
        raise ValueError(
            f"template {template.id!r} has slots {sorted(template.slots())}, given {sorted(given)}"
        )
    body = template.body

    def fill(scope: EntityScope, value: Uid | None) -> EntityScope:
        if value is None:
            return scope
        return EntityScope(op=scope.op, entity=value, type=scope.type)

    return Policy(
        id=link_id,
        effect=body.effect,
        principal=fill(body.principal, principal),
        action=body.action,
        resource=fill(body.resource, resource),
        conditions=body.conditions,
    )
