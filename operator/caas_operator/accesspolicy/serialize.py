"""Pure: a parsed policy back to the JSON form the authorization store keeps.

The store holds every policy as its JSON document, while an AccessPolicy may give its policies
as Cedar-like text. `caas_core.authz.text` reads text into those documents but keeps them
internal, so a policy read from text is written back here: `parse_policy(policy_document(p))`
equals `p` (unit-tested on every construct), so what is stored decides exactly as what was read.
"""

from typing import Any

from caas_core.authz.policy import (
    ActionScope,
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
    Var,
)
from caas_core.authz.values import DateTime, Duration, IpRange, Uid

Document = dict[str, Any]


def policy_document(policy: Policy) -> Document:
    """The policy's JSON document (`caas_core.authz.parse`'s form), id included."""
    return {
        "id": policy.id,
        "effect": policy.effect.value,
        "principal": _scope(policy.principal),
        "action": _action(policy.action),
        "resource": _scope(policy.resource),
        "conditions": [{"kind": c.kind, "body": _expr(c.expr)} for c in policy.conditions],
    }


def _entity(uid: Uid) -> Document:
    # The tenant is not part of a document: the store keys every object by its tenant.
    return {"type": uid.type, "id": uid.id}


def _scope(scope: EntityScope) -> Document:
    out: Document = {"op": scope.op}
    if scope.type is not None:
        out["type"] = scope.type
    if scope.entity is not None:
        out["entity"] = _entity(scope.entity)
    return out


def _action(scope: ActionScope) -> Document:
    if scope.op == "any":
        return {"op": "any"}
    return {"op": scope.op, "actions": list(scope.actions)}


def _literal(value: object) -> Document:
    if isinstance(value, bool | int | str):
        return {"op": "value", "value": value}
    if isinstance(value, Uid):
        return {"op": "entity", **_entity(value)}
    if isinstance(value, IpRange):
        return {"op": "ip", "value": value.with_prefixlen}
    if isinstance(value, DateTime):
        return {"op": "datetime", "value": value.iso()}
    if isinstance(value, Duration):
        return {"op": "duration", "value": value.cedar()}
    if isinstance(value, frozenset):
        # Sorted by their JSON text, so one set always gives one document.
        items = sorted((_literal(item) for item in value), key=repr)
        return {"op": "set", "items": items}
    raise TypeError(f"no JSON form for the literal {value!r}")


def _expr(node: Expr) -> Document:  # noqa: PLR0911 (one branch per node type)
    if isinstance(node, Lit):
        return _literal(node.value)
    if isinstance(node, Var):
        return {"op": "var", "name": node.name}
    if isinstance(node, GetAttr):
        return {"op": "getAttr", "of": _expr(node.obj), "attr": node.attr}
    if isinstance(node, Has):
        return {"op": "has", "of": _expr(node.obj), "attr": node.attr}
    if isinstance(node, Binary):
        return {"op": node.op, "left": _expr(node.left), "right": _expr(node.right)}
    if isinstance(node, Unary):
        return {"op": node.op, "arg": _expr(node.arg)}
    if isinstance(node, And | Or):
        # Two arguments each: the reader folds `[a, b, c]` to ((a, b), c), so this reads back
        # to the very same tree.
        op = "&&" if isinstance(node, And) else "||"
        return {"op": op, "args": [_expr(node.left), _expr(node.right)]}
    if isinstance(node, SetOf):
        return {"op": "set", "items": [_expr(item) for item in node.items]}
    raise TypeError(f"no JSON form for the expression {node!r}")
