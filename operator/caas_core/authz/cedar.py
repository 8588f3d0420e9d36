"""Export to Cedar: policy text, entities JSON and requests, for one tenant.

The engine's meaning is Cedar's, and this is how that is checked: the differential tests
translate generated policy sets with these functions and compare every decision with Cedar's own.
It also lets a tenant take its policies to any Cedar tool. Tenants are not part of Cedar ids:
one export is one tenant's, and the engine refuses to mix tenants before anything is exported.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from caas_core.authz.entities import Entity
from caas_core.authz.evaluate import Request
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
    Unary,
    Var,
)
from caas_core.authz.values import DateTime, Duration, IpRange, Uid

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_RESERVED = frozenset({"true", "false", "if", "then", "else", "in", "like", "has", "is", "__cedar"})
_METHODS = {
    "contains": "contains",
    "containsAll": "containsAll",
    "containsAny": "containsAny",
    "isInRange": "isInRange",
    "durationSince": "durationSince",
}


def string(text: str) -> str:
    """A Cedar string literal: printable ASCII as is, everything else escaped."""
    out = []
    for char in text:
        if char in '"\\':
            out.append("\\" + char)
        elif " " <= char <= "~":
            out.append(char)
        else:
            out.append(f"\\u{{{ord(char):x}}}")
    return '"' + "".join(out) + '"'


def uid(value: Uid) -> str:
    """`Type::"id"`."""
    return f"{value.type}::{string(value.id)}"


def literal(value: object) -> str:  # noqa: PLR0911
    """A value as a Cedar expression."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return string(value)
    if isinstance(value, Uid):
        return uid(value)
    if isinstance(value, IpRange):
        return f"ip({string(value.with_prefixlen)})"
    if isinstance(value, DateTime):
        return f"datetime({string(value.iso())})"
    if isinstance(value, Duration):
        return f"duration({string(value.cedar())})"
    if isinstance(value, frozenset):
        return "[" + ", ".join(sorted(literal(item) for item in value)) + "]"
    raise TypeError(f"no Cedar literal for {value!r}")


def _attr(obj: str, name: str) -> str:
    if _IDENT.match(name) and name not in _RESERVED:
        return f"{obj}.{name}"
    return f"{obj}[{string(name)}]"


def expr(node: Expr) -> str:  # noqa: PLR0911
    """An expression as Cedar text, fully parenthesised (no precedence to get wrong)."""
    if isinstance(node, Lit):
        return literal(node.value)
    if isinstance(node, Var):
        return node.name
    if isinstance(node, GetAttr):
        return _attr(f"({expr(node.obj)})", node.attr)
    if isinstance(node, Has):
        name = node.attr if _IDENT.match(node.attr) and node.attr not in _RESERVED else None
        return f"(({expr(node.obj)}) has {name or string(node.attr)})"
    if isinstance(node, Binary):
        if node.op in _METHODS:
            return f"(({expr(node.left)}).{_METHODS[node.op]}({expr(node.right)}))"
        return f"(({expr(node.left)}) {node.op} ({expr(node.right)}))"
    if isinstance(node, Unary):
        if node.op == "!":
            return f"(!({expr(node.arg)}))"
        return f"(({expr(node.arg)}).toTime())"
    if isinstance(node, And):
        return f"(({expr(node.left)}) && ({expr(node.right)}))"
    if isinstance(node, Or):
        return f"(({expr(node.left)}) || ({expr(node.right)}))"
    return "[" + ", ".join(expr(item) for item in node.items) + "]"


def _scope(var: str, scope: EntityScope) -> str:
    if scope.op == "any":
        return var
    if scope.op in ("==", "in"):
        assert scope.entity is not None
        return f"{var} {scope.op} {uid(scope.entity)}"
    suffix = f" in {uid(scope.entity)}" if scope.entity is not None else ""
    return f"{var} is {scope.type}{suffix}"


def _action(scope: ActionScope) -> str:
    names = [f"Action::{string(name)}" for name in scope.actions]
    if scope.op == "any":
        return "action"
    if scope.op == "==":
        return f"action == {names[0]}"
    return "action in [" + ", ".join(names) + "]"


def policy(item: Policy) -> str:
    """One policy, annotated with its id (`@id`), so Cedar's reasons name our ids."""
    head = (
        f"@id({string(item.id)})\n{item.effect.value} (\n  {_scope('principal', item.principal)},"
        f"\n  {_action(item.action)},\n  {_scope('resource', item.resource)}\n)"
    )
    body = "".join(f"\n{c.kind} {{ {expr(c.expr)} }}" for c in item.conditions)
    return head + body + ";"


def policies(items: Iterable[Policy]) -> str:
    """A policy set as Cedar text."""
    return "\n\n".join(policy(item) for item in items) + "\n"


def value_json(value: object) -> object:  # noqa: PLR0911
    """A value in Cedar's JSON entity/context format (`__entity`, `__extn`)."""
    if isinstance(value, bool | int | str):
        return value
    if isinstance(value, Uid):
        return {"__entity": {"type": value.type, "id": value.id}}
    if isinstance(value, IpRange):
        return {"__extn": {"fn": "ip", "arg": value.with_prefixlen}}
    if isinstance(value, DateTime):
        return {"__extn": {"fn": "datetime", "arg": value.iso()}}
    if isinstance(value, Duration):
        return {"__extn": {"fn": "duration", "arg": value.cedar()}}
    if isinstance(value, frozenset):
        return [value_json(item) for item in value]
    if isinstance(value, Mapping):
        return {str(key): value_json(item) for key, item in value.items()}
    raise TypeError(f"no Cedar JSON for {value!r}")


def _uid_json(value: Uid) -> dict[str, str]:
    return {"type": value.type, "id": value.id}


def entities(items: Iterable[Entity], actions: Mapping[str, Iterable[str]]) -> list[object]:
    """Entities (and the declared actions with their groups) as Cedar's entities JSON."""
    out: list[object] = [
        {
            "uid": _uid_json(item.uid),
            "attrs": {key: value_json(value) for key, value in item.attrs.items()},
            "parents": [_uid_json(parent) for parent in item.parents],
        }
        for item in items
    ]
    for name, groups in actions.items():
        out.append(
            {
                "uid": {"type": "Action", "id": name},
                "attrs": {},
                "parents": [{"type": "Action", "id": group} for group in groups],
            }
        )
    return out


def request(item: Request) -> dict[str, object]:
    """A request as cedarpy takes it."""
    return {
        "principal": _uid_json(item.principal),
        "action": {"type": "Action", "id": item.action},
        "resource": _uid_json(item.resource),
        "context": value_json(item.context),
    }
