"""Conditions compiled to closures once per policy-set version, with Cedar's runtime semantics.

Walking the expression tree on every decision would cost an `isinstance` dispatch per node;
compiling it once into nested closures leaves only the work itself. Errors (a missing
attribute, a wrong type) raise `EvalError`, which makes the whole policy not apply, as in Cedar.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from caas_core.authz.entities import EntityGraph
from caas_core.authz.policy import (
    And,
    Binary,
    Clause,
    Expr,
    GetAttr,
    Has,
    Lit,
    Or,
    Unary,
    Var,
)
from caas_core.authz.values import (
    LONG_MAX,
    LONG_MIN,
    DateTime,
    Duration,
    EvalError,
    IpRange,
    Uid,
    equal,
    in_range,
    type_name,
)

_DAY_MS = 86_400_000


class Env:
    """One request as the conditions see it."""

    __slots__ = ("action", "context", "graph", "principal", "resource")

    def __init__(
        self,
        *,
        principal: Uid,
        action: Uid,
        resource: Uid,
        context: Mapping[str, object],
        graph: EntityGraph,
    ) -> None:
        self.principal = principal
        self.action = action
        self.resource = resource
        self.context = context
        self.graph = graph


Compiled = Callable[[Env], object]


def _attrs_of(value: object, env: Env) -> Mapping[str, object]:
    if isinstance(value, Uid):
        return env.graph.attrs(value)
    if isinstance(value, Mapping):
        return value
    raise EvalError(f"expected an entity or record, got {type_name(value)}")


def _get(value: object, attr: str, env: Env) -> object:
    try:
        return _attrs_of(value, env)[attr]
    except KeyError:
        raise EvalError(f"{value} does not have the attribute `{attr}`") from None


def _bool(value: object) -> bool:
    if not isinstance(value, bool):
        raise EvalError(f"expected Bool, got {type_name(value)}")
    return value


def _set(value: object) -> frozenset[object]:
    if not isinstance(value, frozenset):
        raise EvalError(f"expected Set, got {type_name(value)}")
    return value


def _contains(items: frozenset[object], value: object) -> bool:
    if isinstance(value, bool | int | frozenset):
        return any(equal(item, value) for item in items)
    return value in items


def _contains_all(items: frozenset[object], wanted: frozenset[object]) -> bool:
    return all(_contains(items, value) for value in wanted)


def _contains_any(items: frozenset[object], wanted: frozenset[object]) -> bool:
    return any(_contains(items, value) for value in wanted)


def _order(left: object, right: object) -> tuple[int, int]:
    if type(left) is int and type(right) is int:
        return left, right
    if isinstance(left, DateTime) and isinstance(right, DateTime):
        return left.ms, right.ms
    if isinstance(left, Duration) and isinstance(right, Duration):
        return left.ms, right.ms
    raise EvalError(f"cannot order {type_name(left)} and {type_name(right)}")


def _is_in(left: object, right: object, env: Env) -> bool:
    if not isinstance(left, Uid):
        raise EvalError(f"`in` needs an entity on the left, got {type_name(left)}")
    ancestors = env.graph.ancestors(left)
    if isinstance(right, Uid):
        return right in ancestors
    if isinstance(right, frozenset):
        if not all(isinstance(item, Uid) for item in right):
            raise EvalError("`in` needs a set of entities on the right")
        return not ancestors.isdisjoint(right)
    raise EvalError(f"`in` needs an entity or a set on the right, got {type_name(right)}")


def _ip_in(left: object, right: object) -> bool:
    if isinstance(left, IpRange) and isinstance(right, IpRange):
        return in_range(left, right)
    raise EvalError(f"isInRange needs two ipaddr, got {type_name(left)}, {type_name(right)}")


def _since(left: object, right: object) -> Duration:
    if isinstance(left, DateTime) and isinstance(right, DateTime):
        ms = left.ms - right.ms
        if not LONG_MIN <= ms <= LONG_MAX:
            raise EvalError("durationSince overflows")
        return Duration(ms)
    raise EvalError(f"durationSince needs two datetimes, got {type_name(left)}, {type_name(right)}")


def _binary(op: str, left: Compiled, right: Compiled) -> Compiled:  # noqa: PLR0911
    if op == "==":
        return lambda env: equal(left(env), right(env))
    if op == "!=":
        return lambda env: not equal(left(env), right(env))
    if op in ("<", "<=", ">", ">="):
        test: Callable[[int, int], bool] = {
            "<": int.__lt__,
            "<=": int.__le__,
            ">": int.__gt__,
            ">=": int.__ge__,
        }[op]
        return lambda env: test(*_order(left(env), right(env)))
    if op == "in":
        return lambda env: _is_in(left(env), right(env), env)
    if op == "contains":
        return lambda env: _contains(_set(left(env)), right(env))
    if op == "containsAll":
        return lambda env: _contains_all(_set(left(env)), _set(right(env)))
    if op == "containsAny":
        return lambda env: _contains_any(_set(left(env)), _set(right(env)))
    if op == "isInRange":
        return lambda env: _ip_in(left(env), right(env))
    if op == "durationSince":
        return lambda env: _since(left(env), right(env))
    raise ValueError(f"unknown operator {op!r}")


def _to_time(value: object) -> Duration:
    if not isinstance(value, DateTime):
        raise EvalError(f"toTime needs a datetime, got {type_name(value)}")
    return Duration(value.ms % _DAY_MS)


def _make_set(items: tuple[Compiled, ...], env: Env) -> frozenset[object]:
    values = [item(env) for item in items]
    if any(isinstance(value, Mapping) for value in values):
        raise EvalError("sets of records are not supported")
    return frozenset(values)


def compile_expr(expr: Expr) -> Compiled:  # noqa: PLR0911
    """A closure computing `expr` for a request."""
    if isinstance(expr, Lit):
        value = expr.value
        return lambda env: value
    if isinstance(expr, Var):
        return _var(expr)
    if isinstance(expr, GetAttr):
        return _getattr(expr)
    if isinstance(expr, Has):
        obj = compile_expr(expr.obj)
        name = expr.attr
        return lambda env: name in _attrs_of(obj(env), env)
    if isinstance(expr, Binary):
        return _binary(expr.op, compile_expr(expr.left), compile_expr(expr.right))
    if isinstance(expr, Unary):
        arg = compile_expr(expr.arg)
        if expr.op == "!":
            return lambda env: not _bool(arg(env))
        return lambda env: _to_time(arg(env))
    if isinstance(expr, And):
        left, right = compile_expr(expr.left), compile_expr(expr.right)
        return lambda env: _bool(left(env)) and _bool(right(env))
    if isinstance(expr, Or):
        left, right = compile_expr(expr.left), compile_expr(expr.right)
        return lambda env: _bool(left(env)) or _bool(right(env))
    items = tuple(compile_expr(item) for item in expr.items)
    return lambda env: _make_set(items, env)


def _var(expr: Var) -> Compiled:
    name = expr.name
    if name == "principal":
        return lambda env: env.principal
    if name == "resource":
        return lambda env: env.resource
    if name == "action":
        return lambda env: env.action
    return lambda env: env.context


def _getattr(expr: GetAttr) -> Compiled:
    name = expr.attr
    if isinstance(expr.obj, Var) and expr.obj.name == "context":
        # The most common access, kept to one dict lookup.
        def context_attr(env: Env) -> object:
            try:
                return env.context[name]
            except KeyError:
                raise EvalError(f"context does not have the attribute `{name}`") from None

        return context_attr
    obj = compile_expr(expr.obj)
    return lambda env: _get(obj(env), name, env)


def compile_clauses(clauses: tuple[Clause, ...]) -> Callable[[Env], bool] | None:
    """One closure for all of a policy's `when`/`unless` clauses, in order; None if none."""
    if not clauses:
        return None
    compiled = tuple((clause.kind == "when", compile_expr(clause.expr)) for clause in clauses)

    def holds(env: Env) -> bool:
        return all(_bool(test(env)) is wanted for wanted, test in compiled)

    return holds
