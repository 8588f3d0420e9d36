"""Conditions follow the Kubernetes API conventions."""

from datetime import UTC, datetime, timedelta

import pytest

from caas_core.domain.conditions import (
    Condition,
    ConditionStatus,
    DesiredCondition,
    dump_conditions,
    find_condition,
    parse_conditions,
    set_condition,
    set_conditions,
    status_differs,
    utc_now,
)

pytestmark = pytest.mark.unit

T0 = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
T1 = T0 + timedelta(minutes=5)


def _ready(status: ConditionStatus, reason: str = "Provisioned") -> DesiredCondition:
    return DesiredCondition(type="Ready", status=status, reason=reason, message="m")


def test_new_condition_is_appended_with_now_and_generation() -> None:
    result = set_condition((), _ready(ConditionStatus.TRUE), observed_generation=3, now=T0)
    assert result == (
        Condition(
            type="Ready",
            status=ConditionStatus.TRUE,
            reason="Provisioned",
            message="m",
            last_transition_time=T0,
            observed_generation=3,
        ),
    )


def test_transition_time_is_kept_while_status_stays() -> None:
    first = set_condition((), _ready(ConditionStatus.FALSE, "A"), observed_generation=1, now=T0)
    second = set_condition(first, _ready(ConditionStatus.FALSE, "B"), observed_generation=2, now=T1)
    assert second[0].last_transition_time == T0
    assert second[0].reason == "B"
    assert second[0].observed_generation == 2


def test_transition_time_moves_when_status_flips() -> None:
    first = set_condition((), _ready(ConditionStatus.FALSE), observed_generation=1, now=T0)
    second = set_condition(first, _ready(ConditionStatus.TRUE), observed_generation=1, now=T1)
    assert second[0].last_transition_time == T1


def test_other_conditions_and_order_are_kept() -> None:
    desired = [
        DesiredCondition(type="Ready", status=ConditionStatus.TRUE, reason="Ok"),
        DesiredCondition(type="MongoReady", status=ConditionStatus.TRUE, reason="Ok"),
    ]
    first = set_conditions((), desired, observed_generation=1, now=T0)
    updated = set_condition(
        first, _ready(ConditionStatus.FALSE, "Broken"), observed_generation=1, now=T1
    )
    assert [c.type for c in updated] == ["Ready", "MongoReady"]
    mongo = find_condition(updated, "MongoReady")
    assert mongo is not None
    assert mongo.last_transition_time == T0


@pytest.mark.parametrize("reason", ["lowercase", "Two Words", "Snake_Case", ""])
def test_reasons_must_be_one_camel_case_word(reason: str) -> None:
    with pytest.raises(ValueError, match="CamelCase"):
        DesiredCondition(type="Ready", status=ConditionStatus.TRUE, reason=reason)


def test_types_must_be_pascal_case() -> None:
    with pytest.raises(ValueError, match="PascalCase"):
        DesiredCondition(type="ready", status=ConditionStatus.TRUE, reason="Ok")


def test_dump_uses_kubernetes_field_names_and_rfc3339() -> None:
    conditions = set_condition((), _ready(ConditionStatus.TRUE), observed_generation=7, now=T0)
    assert dump_conditions(conditions) == [
        {
            "type": "Ready",
            "status": "True",
            "reason": "Provisioned",
            "message": "m",
            "lastTransitionTime": "2024-05-01T12:00:00Z",
            "observedGeneration": 7,
        }
    ]


def test_parse_round_trips_and_skips_malformed_entries() -> None:
    dumped = dump_conditions(
        set_condition((), _ready(ConditionStatus.TRUE), observed_generation=1, now=T0)
    )
    parsed = parse_conditions([*dumped, {"type": "Broken"}, "junk"])
    assert dump_conditions(parsed) == dumped
    assert parse_conditions(None) == ()
    assert parse_conditions("not a list") == ()


def test_status_differs_only_on_our_keys() -> None:
    new = {"observedGeneration": 2, "conditions": [{"type": "Ready"}]}
    assert status_differs(None, new)
    assert status_differs({"observedGeneration": 1, "conditions": [{"type": "Ready"}]}, new)
    assert not status_differs({**new, "somethingElse": 1}, new)


def test_rewriting_a_converged_status_is_not_a_change() -> None:
    first = set_condition((), _ready(ConditionStatus.TRUE), observed_generation=1, now=T0)
    old_status = {"conditions": dump_conditions(first), "observedGeneration": 1}
    again = set_condition(
        parse_conditions(old_status["conditions"]),
        _ready(ConditionStatus.TRUE),
        observed_generation=1,
        now=T1,
    )
    new_status = {"conditions": dump_conditions(again), "observedGeneration": 1}
    assert not status_differs(old_status, new_status)


def test_utc_now_has_second_precision() -> None:
    assert utc_now().microsecond == 0
    assert utc_now().tzinfo is UTC
