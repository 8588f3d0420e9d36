"""Conditions from their JSON form, type-checked against the tenant's schema as they are read.

Each node is an object with an `op`: `value`, `entity`, `set`, `ip`, `datetime`, `duration`,
`var`, `getAttr`, `has`, a comparison or method (`==`, `<`, `in`, `contains`, `isInRange`,
`durationSince`…), `!`, `toTime`, or `&&` / `||` over `args`. The first mistake found is
reported with its JSON pointer; size and depth are bounded so a policy cannot be made
expensive to evaluate.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from caas_core.authz.policy import And, Binary, Expr, GetAttr, Has, Lit, Or, SetOf, Unary, Var
from caas_core.authz.schema import Attribute, Schema, Type, pointer_join
from caas_core.authz.values import DateTime, Duration, Uid, ip

MAX_DEPTH: Final = 24
MAX_NODES: Final = 512
MAX_SET: Final = 1000
MAX_STRING: Final = 1024
_DURATION = re.compile(r"(-?)(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m(?!s))?(?:(\d+)s)?(?:(\d+)ms)?\Z")
_UNITS = (86_400_000, 3_600_000, 60_000, 1000, 1)
BOOL, LONG, STRING = Type(kind="Bool"), Type(kind="Long"), Type(kind="String")
DATETIME, DURATION, IPADDR = Type(kind="datetime"), Type(kind="duration"), Type(kind="ipaddr")
_ORDERED = frozenset({"Long", "datetime", "duration"})


class Invalid(Exception):  # noqa: N818 (an internal signal, turned into DocumentError)
    """The first error met in a policy: where and what."""

    def __init__(self, at: str, message: str) -> None:
        super().__init__(message)
        self.at = at
        self.message = message


def same(left: Type, right: Type) -> bool:
    """Whether two types can hold equal values (entity types and empty sets are lenient)."""
    if left.kind != right.kind:
        return False
    if left.kind == "Set" and left.element is not None and right.element is not None:
        return same(left.element, right.element)
    return True


@dataclass
class Checker:
    """Reads one policy's conditions: the schema, the scope-derived variable types, a budget."""

    tenant: str
    schema: Schema
    principal: frozenset[str]
    resource: frozenset[str]
    nodes: int = 0

    def read(self, doc: object, at: str, depth: int = 0) -> tuple[Expr, Type]:  # noqa: PLR0911
        """The expression and its type, or `Invalid` at the first mistake."""
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise Invalid(at, f"a policy's conditions have at most {MAX_NODES} nodes")
        if depth > MAX_DEPTH:
            raise Invalid(at, f"conditions nest at most {MAX_DEPTH} levels")
        if not isinstance(doc, dict) or not isinstance(doc.get("op"), str):
            raise Invalid(at, "expected an expression object with an `op`")
        op = doc["op"]
        reader = _LITERALS.get(op)
        if reader is not None:
            return reader(self, doc, at)
        if op == "var":
            return self._var(doc, at)
        if op in ("getAttr", "has"):
            return self._attr(op, doc, at, depth)
        if op in ("&&", "||"):
            return self._logic(op, doc, at, depth)
        if op in ("!", "toTime"):
            arg, arg_type = self.read(doc.get("arg"), pointer_join(at, "arg"), depth + 1)
            wanted = BOOL if op == "!" else DATETIME
            self._expect(arg_type, wanted, pointer_join(at, "arg"))
            return Unary(op=op, arg=arg), BOOL if op == "!" else DURATION
        if op == "set":
            return self._set(doc, at, depth)
        left, lt = self.read(doc.get("left"), pointer_join(at, "left"), depth + 1)
        right, rt = self.read(doc.get("right"), pointer_join(at, "right"), depth + 1)
        return Binary(op=op, left=left, right=right), _binary_type(op, lt, rt, at)

    def _expect(self, found: Type, wanted: Type, at: str) -> None:
        if not same(found, wanted):
            raise Invalid(at, f"expected {wanted.describe()}, found {found.describe()}")

    def _var(self, doc: dict[str, object], at: str) -> tuple[Expr, Type]:
        name = doc.get("name")
        if name == "principal":
            return Var(name="principal"), Type(kind="Entity", entities=self.principal)
        if name == "resource":
            return Var(name="resource"), Type(kind="Entity", entities=self.resource)
        if name == "action":
            return Var(name="action"), Type(kind="Entity", entities=frozenset(("Action",)))
        if name == "context":
            return Var(name="context"), Type(kind="Record", attributes=self.schema.context)
        raise Invalid(pointer_join(at, "name"), "expected principal, action, resource or context")

    def _attr(self, op: str, doc: dict[str, object], at: str, depth: int) -> tuple[Expr, Type]:
        obj, obj_type = self.read(doc.get("of"), pointer_join(at, "of"), depth + 1)
        name = doc.get("attr")
        if not isinstance(name, str) or not name:
            raise Invalid(pointer_join(at, "attr"), "expected an attribute name")
        found = self._lookup(obj_type, name, pointer_join(at, "attr"))
        if op == "has":
            return Has(obj=obj, attr=name), BOOL
        return GetAttr(obj=obj, attr=name), found.type

    def _lookup(self, owner: Type, name: str, at: str) -> Attribute:
        if owner.kind == "Record":
            attrs = [owner.attributes.get(name)] if owner.attributes is not None else []
        elif owner.kind == "Entity":
            types = self.schema.entity_types
            attrs = [types[t].attributes.get(name) for t in sorted(owner.entities) if t in types]
        else:
            raise Invalid(at, f"{owner.describe()} has no attributes")
        present = [a for a in attrs if a is not None]
        if not present:
            raise Invalid(at, f"unknown attribute `{name}` of {owner.describe()}")
        if any(not same(a.type, present[0].type) for a in present):
            raise Invalid(at, f"attribute `{name}` has different types on {owner.describe()}")
        return present[0]

    def _logic(self, op: str, doc: dict[str, object], at: str, depth: int) -> tuple[Expr, Type]:
        args = doc.get("args")
        if not isinstance(args, list) or len(args) < 2:
            raise Invalid(pointer_join(at, "args"), f"`{op}` takes a list of two or more")
        read = []
        for i, item in enumerate(args):
            expr, found = self.read(item, pointer_join(at, "args", i), depth + 1)
            self._expect(found, BOOL, pointer_join(at, "args", i))
            read.append(expr)
        combined = read[0]
        for expr in read[1:]:
            combined = (
                And(left=combined, right=expr) if op == "&&" else Or(left=combined, right=expr)
            )
        return combined, BOOL

    def _set(self, doc: dict[str, object], at: str, depth: int) -> tuple[Expr, Type]:
        items = doc.get("items")
        if not isinstance(items, list) or len(items) > MAX_SET:
            raise Invalid(pointer_join(at, "items"), f"expected a list of at most {MAX_SET}")
        read = [
            self.read(item, pointer_join(at, "items", i), depth + 1) for i, item in enumerate(items)
        ]
        for i, (_, found) in enumerate(read[1:], start=1):
            self._expect(found, read[0][1], pointer_join(at, "items", i))
        element = read[0][1] if read else None
        exprs = tuple(expr for expr, _ in read)
        if all(isinstance(expr, Lit) for expr in exprs):
            return Lit(frozenset(expr.value for expr in exprs if isinstance(expr, Lit))), Type(
                kind="Set", element=element
            )
        return SetOf(items=exprs), Type(kind="Set", element=element)


def _binary_type(op: str, left: Type, right: Type, at: str) -> Type:  # noqa: PLR0911, PLR0912
    here = pointer_join(at, "right")
    if op in ("==", "!="):
        if not same(left, right):
            raise Invalid(here, f"compares {left.describe()} with {right.describe()}: never equal")
        return BOOL
    if op in ("<", "<=", ">", ">="):
        if left.kind not in _ORDERED or not same(left, right):
            raise Invalid(here, f"cannot order {left.describe()} and {right.describe()}")
        return BOOL
    if op == "in":
        if left.kind != "Entity":
            raise Invalid(
                pointer_join(at, "left"), f"`in` needs an entity, found {left.describe()}"
            )
        if right.kind == "Entity":
            return BOOL
        if right.kind == "Set" and (right.element is None or right.element.kind == "Entity"):
            return BOOL
        raise Invalid(here, f"`in` needs an entity or a set of entities, found {right.describe()}")
    if op in ("contains", "containsAll", "containsAny"):
        if left.kind != "Set":
            raise Invalid(pointer_join(at, "left"), f"`{op}` needs a set, found {left.describe()}")
        wanted = left.element if op == "contains" else left
        if wanted is not None and not same(right, wanted):
            raise Invalid(here, f"expected {wanted.describe()}, found {right.describe()}")
        return BOOL
    if op == "isInRange":
        if left.kind != "ipaddr" or right.kind != "ipaddr":
            raise Invalid(at, "isInRange takes two ipaddr")
        return BOOL
    if op == "durationSince":
        if left.kind != "datetime" or right.kind != "datetime":
            raise Invalid(at, "durationSince takes two datetimes")
        return DURATION
    raise Invalid(pointer_join(at, "op"), f"unknown operator {op!r}")


def _value(checker: Checker, doc: dict[str, object], at: str) -> tuple[Expr, Type]:
    value = doc.get("value")
    if isinstance(value, bool):
        return Lit(value), BOOL
    if isinstance(value, int) and -(2**63) <= value < 2**63:
        return Lit(value), LONG
    if isinstance(value, str) and len(value) <= MAX_STRING:
        return Lit(value), STRING
    raise Invalid(pointer_join(at, "value"), "expected a Bool, a 64-bit Long or a short String")


def _entity(checker: Checker, doc: dict[str, object], at: str) -> tuple[Expr, Type]:
    type_name, id_ = doc.get("type"), doc.get("id")
    if not isinstance(type_name, str) or (
        type_name != "Action" and type_name not in checker.schema.entity_types
    ):
        raise Invalid(pointer_join(at, "type"), f"unknown entity type {type_name!r}")
    if not isinstance(id_, str) or not 0 < len(id_) <= MAX_STRING:
        raise Invalid(pointer_join(at, "id"), "expected an entity id")
    if type_name == "Action" and id_ not in checker.schema.actions:
        raise Invalid(pointer_join(at, "id"), f"unknown action {id_!r}")
    return Lit(Uid(checker.tenant, type_name, id_)), Type(
        kind="Entity", entities=frozenset((type_name,))
    )


def _text(doc: dict[str, object], at: str) -> str:
    value = doc.get("value")
    if not isinstance(value, str) or len(value) > MAX_STRING:
        raise Invalid(pointer_join(at, "value"), "expected a string")
    return value


def _ip(checker: Checker, doc: dict[str, object], at: str) -> tuple[Expr, Type]:
    try:
        return Lit(ip(_text(doc, at))), IPADDR
    except ValueError:
        raise Invalid(pointer_join(at, "value"), "expected an IP address or CIDR range") from None


def _datetime(checker: Checker, doc: dict[str, object], at: str) -> tuple[Expr, Type]:
    try:
        return Lit(DateTime.of(datetime.fromisoformat(_text(doc, at)))), DATETIME
    except ValueError:
        raise Invalid(pointer_join(at, "value"), "expected an ISO 8601 time with a zone") from None


def _duration(checker: Checker, doc: dict[str, object], at: str) -> tuple[Expr, Type]:
    match = _DURATION.match(_text(doc, at))
    if match is None or not any(match.groups()[1:]):
        raise Invalid(pointer_join(at, "value"), "expected a duration like 1h30m, 300s or 500ms")
    ms = sum(int(part or 0) * unit for part, unit in zip(match.groups()[1:], _UNITS, strict=True))
    return Lit(Duration(-ms if match.group(1) else ms)), DURATION


_LITERALS: Final = {
    "value": _value,
    "entity": _entity,
    "ip": _ip,
    "datetime": _datetime,
    "duration": _duration,
}
