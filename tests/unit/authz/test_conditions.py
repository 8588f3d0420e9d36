"""Conditions: time windows, IP ranges, MFA level and age, device trust, plan, owner, errors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from caas_core.authz.entities import Entity
from caas_core.authz.policy import And, Binary, Expr, Has, Lit, Or, SetOf, Unary, Var
from caas_core.authz.values import DateTime, Duration, equal, ip
from tests.unit.authz.helpers import attr, compiled, decide, graph, permit, uid

ALICE, BOB = uid("User", "alice"), uid("User", "bob")
DOC = uid("Doc", "d")
NOON = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)


def _allowed(condition: Expr, context: dict[str, object], principal: object = ALICE) -> bool:
    world = graph(
        Entity(uid=ALICE, attrs={"level": 3, "tags": frozenset({"a", "b"})}),
        Entity(uid=BOB, attrs={"level": 1}),
        Entity(uid=DOC, attrs={"owner": ALICE, "public": False}),
    )
    policies = compiled(permit("p", when=[condition]))
    return decide(policies, world, principal, "read", DOC, context).allowed  # type: ignore[arg-type]


def _ms(hours: float) -> Lit:
    return Lit(Duration(int(hours * 3_600_000)))


def _office_hours() -> Expr:
    time = Unary(op="toTime", arg=attr("context", "now"))
    return And(
        left=Binary(op=">=", left=time, right=_ms(9)),
        right=Binary(op="<", left=time, right=_ms(17)),
    )


@pytest.mark.parametrize(("hour", "allowed"), [(8, False), (9, True), (16, True), (17, False)])
def test_time_window(hour: int, allowed: bool) -> None:
    now = DateTime.of(NOON.replace(hour=hour))
    assert _allowed(_office_hours(), {"now": now}) is allowed


def test_time_window_across_midnight() -> None:
    time = Unary(op="toTime", arg=attr("context", "now"))
    night = Or(
        left=Binary(op=">=", left=time, right=_ms(22)),
        right=Binary(op="<", left=time, right=_ms(6)),
    )
    hours = [h for h in range(24) if _allowed(night, {"now": DateTime.of(NOON.replace(hour=h))})]
    assert hours == [0, 1, 2, 3, 4, 5, 22, 23]


def test_absolute_validity_period() -> None:
    until = Binary(op="<", left=attr("context", "now"), right=Lit(DateTime.of(NOON)))
    assert _allowed(until, {"now": DateTime.of(NOON - timedelta(seconds=1))})
    assert not _allowed(until, {"now": DateTime.of(NOON)})


@pytest.mark.parametrize(
    ("address", "allowed"),
    [("10.1.2.3", True), ("10.255.0.1", True), ("11.0.0.1", False), ("::1", False)],
)
def test_ip_range(address: str, allowed: bool) -> None:
    inside = Binary(op="isInRange", left=attr("context", "ip"), right=Lit(ip("10.0.0.0/8")))
    assert _allowed(inside, {"ip": ip(address)}) is allowed


def test_ip_ranges_nest() -> None:
    inside = Binary(op="isInRange", left=attr("context", "ip"), right=Lit(ip("10.0.0.0/8")))
    assert _allowed(inside, {"ip": ip("10.2.0.0/16")})
    assert not _allowed(inside, {"ip": ip("10.0.0.0/7")})


def _mfa(level: int, max_age_s: int) -> Expr:
    age = Binary(op="durationSince", left=attr("context", "now"), right=attr("context", "mfa_at"))
    return And(
        left=Binary(op=">=", left=attr("context", "mfa_level"), right=Lit(level)),
        right=Binary(op="<=", left=age, right=Lit(Duration(max_age_s * 1000))),
    )


@pytest.mark.parametrize(
    ("level", "age_s", "allowed"),
    [(2, 0, True), (2, 300, True), (2, 301, False), (1, 10, False), (3, 10, True)],
)
def test_mfa_level_and_age(level: int, age_s: int, allowed: bool) -> None:
    context = {
        "now": DateTime.of(NOON),
        "mfa_at": DateTime.of(NOON - timedelta(seconds=age_s)),
        "mfa_level": level,
    }
    assert _allowed(_mfa(2, 300), context) is allowed


def test_device_trust_and_tenant_plan() -> None:
    trusted = And(
        left=attr("context", "device_trusted"),
        right=Binary(
            op="contains", left=Lit(frozenset({"pro", "enterprise"})), right=attr("context", "plan")
        ),
    )
    assert _allowed(trusted, {"device_trusted": True, "plan": "pro"})
    assert not _allowed(trusted, {"device_trusted": False, "plan": "pro"})
    assert not _allowed(trusted, {"device_trusted": True, "plan": "free"})


def test_resource_owner_is_the_principal() -> None:
    owner = Binary(op="==", left=attr("resource", "owner"), right=Var(name="principal"))
    assert _allowed(owner, {})
    assert not _allowed(owner, {}, principal=BOB)


def test_set_operations_and_has() -> None:
    tags = attr("principal", "tags")
    assert _allowed(Binary(op="containsAll", left=tags, right=Lit(frozenset({"a"}))), {})
    assert not _allowed(Binary(op="containsAll", left=tags, right=Lit(frozenset({"a", "z"}))), {})
    assert _allowed(Binary(op="containsAny", left=tags, right=Lit(frozenset({"z", "b"}))), {})
    assert _allowed(Has(obj=Var(name="principal"), attr="tags"), {})
    assert not _allowed(Has(obj=Var(name="principal"), attr="tags"), {}, principal=BOB)
    members = SetOf(items=(Lit(BOB), Var(name="principal")))
    assert _allowed(Binary(op="in", left=Var(name="principal"), right=members), {})


@pytest.mark.parametrize(
    "broken",
    [
        attr("context", "absent"),  # a missing attribute is an error, not false
        Binary(op="<", left=Lit("a"), right=Lit(1)),  # ordering other types
        Unary(op="!", arg=Lit(1)),
        And(left=Lit(1), right=Lit(True)),
        Binary(op="in", left=Lit(1), right=Lit(ALICE)),
        Binary(op="isInRange", left=Lit("10.0.0.1"), right=Lit(ip("10.0.0.0/8"))),
        Unary(op="toTime", arg=Lit(5)),
    ],
)
def test_type_errors_make_the_policy_not_apply(broken: Expr) -> None:
    assert not _allowed(broken, {})


def test_short_circuit_skips_errors_like_cedar() -> None:
    assert _allowed(Or(left=Lit(True), right=attr("context", "absent")), {})
    assert not _allowed(And(left=Lit(False), right=attr("context", "absent")), {})


def test_equality_keeps_bool_and_long_apart() -> None:
    assert not equal(True, 1)
    assert not equal(frozenset({True}), frozenset({1}))
    assert not equal(DateTime(5), Duration(5))
    assert equal(frozenset({1, 2}), frozenset({2, 1}))
    assert not _allowed(Binary(op="==", left=Lit(True), right=Lit(1)), {})
    assert not _allowed(Binary(op="contains", left=Lit(frozenset({1})), right=Lit(True)), {})


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone"):
        DateTime.of(datetime(2026, 1, 1))
