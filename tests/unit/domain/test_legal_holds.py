"""Legal holds: what they cover, and what a retention sweep must skip."""

from datetime import UTC, datetime, timedelta

import pytest

from caas_core.domain.legal_holds import (
    LegalHold,
    blocking_tenant_deletion,
    exemption,
    from_document,
    to_document,
)

NOW = datetime(2026, 11, 24, tzinfo=UTC)


def _hold(hold_id: str = "h1", **overrides: object) -> LegalHold:
    fields: dict[str, object] = {
        "hold_id": hold_id,
        "tenant": "acme",
        "reason": "litigation 42",
        "created_at": NOW - timedelta(days=1),
    }
    return LegalHold(**{**fields, **overrides})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("hold", "data_class", "subject", "covered"),
    [
        (_hold(), "messages", "u1", True),
        (_hold(), "audit", None, True),
        (_hold(data_classes=frozenset({"messages"})), "messages", "u1", True),
        (_hold(data_classes=frozenset({"messages"})), "sessions", "u1", False),
        (_hold(subject_ids=frozenset({"u1"})), "messages", "u1", True),
        (_hold(subject_ids=frozenset({"u1"})), "messages", "u2", False),
        (_hold(subject_ids=frozenset({"u1"})), "messages", None, False),
    ],
)
def test_covers(hold: LegalHold, data_class: str, subject: str | None, covered: bool) -> None:
    assert hold.covers(data_class=data_class, subject_id=subject) is covered


def test_activity_window() -> None:
    assert _hold().active(now=NOW)
    assert not _hold(created_at=NOW + timedelta(seconds=1)).active(now=NOW)
    assert not _hold(released_at=NOW).active(now=NOW)
    assert _hold(released_at=NOW + timedelta(hours=1)).active(now=NOW)


def test_exemption_combines_active_holds_of_the_class() -> None:
    holds = [
        _hold("a", subject_ids=frozenset({"u1"})),
        _hold("b", data_classes=frozenset({"messages"}), subject_ids=frozenset({"u2"})),
        _hold("c", data_classes=frozenset({"sessions"})),
        _hold("d", released_at=NOW - timedelta(seconds=1)),
    ]
    messages = exemption(holds, data_class="messages", now=NOW)
    assert (messages.whole_class, messages.subject_ids, messages.holds) == (
        False, frozenset({"u1", "u2"}), ("a", "b"),
    )  # fmt: skip
    sessions = exemption(holds, data_class="sessions", now=NOW)
    assert sessions.whole_class
    assert sessions.holds == ("a", "c")
    assert exemption([], data_class="audit", now=NOW).holds == ()


def test_any_active_hold_blocks_tenant_deletion() -> None:
    released = _hold("old", released_at=NOW - timedelta(days=1))
    assert blocking_tenant_deletion([released], now=NOW) == ()
    narrow = _hold("narrow", subject_ids=frozenset({"u1"}))
    assert blocking_tenant_deletion([released, narrow], now=NOW) == (narrow,)


def test_document_round_trip() -> None:
    hold = _hold(data_classes=frozenset({"audit"}), subject_ids=frozenset({"u9"}))
    assert from_document(to_document(hold)) == hold
