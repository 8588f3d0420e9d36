"""The event catalogue, filters, the Kafka envelope, and platform events derived from audits."""

from datetime import UTC, datetime, timedelta

import pytest

from caas_core.domain.audit import Actor, AuditEvent, Outcome
from caas_core.domain.platform_events import (
    MAPPED_ACTIONS,
    platform_event_for,
    tenant_deleted_event,
    tenant_lifecycle_events,
)
from caas_core.domain.topics import PLATFORM_TOPIC_NAMES
from caas_core.domain.webhook_events import (
    BY_NAME,
    CATALOGUE,
    MAX_DATA_BYTES,
    PLATFORM_EVENT_TYPES,
    TENANT_EVENT_TYPES,
    EnvelopeError,
    EventOrigin,
    EventTopic,
    EventTypeError,
    data_problem,
    event_filter_rule,
    filters_matching,
    is_custom_type,
    matches_event,
    parse_envelope,
    platform_event,
    rfc3339,
    stable_event_id,
    tenant_event,
    tenant_event_id,
    unknown_event_filters,
)

pytestmark = pytest.mark.unit
NOW = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)


def test_the_catalogue_is_one_declaration_of_unique_well_formed_types() -> None:
    names = [t.name for t in CATALOGUE]
    assert len(names) == len(set(names))
    assert unknown_event_filters(names) == ()
    rule = event_filter_rule()
    assert all(f"'{name}'" in rule for name in names)
    assert "'custom.*'" in rule
    assert set(PLATFORM_EVENT_TYPES) | set(TENANT_EVENT_TYPES) == set(names)
    # The platform events are declared.
    for name in (
        "tenant.created", "tenant.ready", "tenant.deleted", "api_key.created", "api_key.revoked",
        "session.revoked", "security.audit.integrity", "webhook.endpoint_disabled",
    ):  # fmt: skip
        assert BY_NAME[name].origin is EventOrigin.PLATFORM
    assert {str(topic) for topic in EventTopic} <= set(PLATFORM_TOPIC_NAMES)


def test_filters_custom_types_and_matching() -> None:
    assert unknown_event_filters(["*", "security.*", "custom.*", "custom.order.paid"]) == ()
    assert unknown_event_filters(
        ["custom", "custom.", "custom.Order", "nope.*", "message.exploded", "security.audit.*"]
    ) == ("custom", "custom.", "custom.Order", "nope.*", "message.exploded", "security.audit.*")
    assert is_custom_type("custom.a1_b.c")
    assert not is_custom_type("custom." + "a" * 64)
    assert matches_event(["security.*"], "security.audit.integrity")
    assert matches_event(["custom.*"], "custom.order.paid")
    assert not matches_event(["custom.order"], "custom.order.paid")
    assert set(filters_matching("custom.order.paid")) == {"*", "custom.order.paid", "custom.*"}


def test_the_envelope_round_trips_with_the_tenant_as_key() -> None:
    event = platform_event("api_key.created", tenant="acme", data={"keyId": "k"}, now=NOW)
    assert event.id.startswith("evt_")
    assert event.key == "acme"
    assert event.topic is EventTopic.PLATFORM
    envelope = event.envelope()
    assert envelope == {
        "id": event.id, "type": "api_key.created", "tenant": "acme",
        "timestamp": "2026-01-02T03:04:05.678901Z", "data": {"keyId": "k"},
    }  # fmt: skip
    assert parse_envelope(envelope, topic="platform.events") == event
    for broken in ({}, {**envelope, "data": [1]}, {**envelope, "timestamp": "soon"}):
        with pytest.raises(EnvelopeError):
            parse_envelope(broken, topic="platform.events")
    with pytest.raises(EnvelopeError):
        parse_envelope(envelope, topic="internal.retry")
    with pytest.raises(ValueError, match="offset"):
        rfc3339(NOW.replace(tzinfo=None))
    assert stable_event_id("a", "b") == stable_event_id("a", "b") != stable_event_id("ab")


def test_who_may_publish_what() -> None:
    for name in ("message.created", "custom.order.paid"):
        assert tenant_event(name, tenant="t", data={}, now=NOW).topic is EventTopic.TENANT
    with pytest.raises(EventTypeError, match="platform event"):
        tenant_event("security.mfa_enabled", tenant="t", data={}, now=NOW)
    with pytest.raises(EventTypeError, match="unknown event type"):
        tenant_event("order.paid", tenant="t", data={}, now=NOW)
    with pytest.raises(EventTypeError):
        platform_event("message.created", tenant="t", data={}, now=NOW)
    with pytest.raises(ValueError, match=f"limit is {MAX_DATA_BYTES} bytes"):
        tenant_event("custom.big", tenant="t", data={"x": "y" * MAX_DATA_BYTES}, now=NOW)
    keyed = tenant_event("custom.x", tenant="t", data={}, now=NOW, id="k-1")
    assert keyed.id == tenant_event_id("t", "k-1") == stable_event_id("tenant-event", "t", "k-1")
    assert keyed.id != tenant_event_id("u", "k-1")
    with pytest.raises(ValueError, match="event id"):
        tenant_event("custom.x", tenant="t", data={}, now=NOW, id="has space")


def audited(action: str, outcome: Outcome = Outcome.SUCCESS, **fields: object) -> AuditEvent:
    return AuditEvent(
        action=action, outcome=outcome, actor=Actor(type="api_key", id="k0"), tenant="acme",
        ip="192.0.2.1", user_agent="curl", at=NOW, **fields,  # type: ignore[arg-type]
    )  # fmt: skip


def test_audited_actions_become_platform_events_without_forensic_detail() -> None:
    key = audited(
        "auth.api_key.created", target_type="api_key", target_id="k1",
        details={"name": "ci", "scopes": ["x:y"]},
    )  # fmt: skip
    event = platform_event_for(key)
    assert event is not None
    assert (event.type, event.tenant, event.timestamp) == ("api_key.created", "acme", NOW)
    assert event.data == {"keyId": "k1", "name": "ci", "scopes": ["x:y"]}
    assert event.id == stable_event_id("audit", key.id)
    assert "192.0.2.1" not in str(event.envelope())
    ended = platform_event_for(
        audited("session.terminated", target_type="session", target_id="s1",
                details={"userId": "u1"})
    )  # fmt: skip
    assert ended is not None
    assert ended.type == "session.revoked"
    assert ended.data == {"sessionId": "s1", "userId": "u1", "via": "session.terminated"}
    reuse = platform_event_for(
        audited("auth.refresh.reuse_detected", Outcome.FAILURE, target_type="session",
                target_id="s2")
    )  # fmt: skip
    assert reuse is not None
    assert reuse.type == "security.refresh_token_reuse"
    # Refusals, unmapped actions, tenantless actions and bare jti revocations: no event.
    assert platform_event_for(audited("auth.api_key.created", Outcome.FAILURE)) is None
    assert platform_event_for(audited("auth.token.refreshed")) is None
    assert platform_event_for(audited("auth.token.revoked", target_type="access_token")) is None
    tenantless = AuditEvent(
        action="auth.api_key.created", outcome=Outcome.SUCCESS, actor=Actor(type="system")
    )
    assert platform_event_for(tenantless) is None
    assert {"auth.api_key.revoked", "mfa.totp.enabled"} <= MAPPED_ACTIONS


def test_tenant_lifecycle_events_follow_status_transitions() -> None:
    ready = {"conditions": [{"type": "Ready", "status": "True"}]}
    not_ready = {"conditions": [{"type": "Ready", "status": "False"}]}
    first = tenant_lifecycle_events(
        tenant="acme", uid="u", old_status=None, new_status=not_ready, generation=1, now=NOW
    )
    assert [e.type for e in first] == ["tenant.created"]
    became = tenant_lifecycle_events(
        tenant="acme", uid="u", old_status=not_ready, new_status=ready, generation=1, now=NOW
    )
    assert [e.type for e in became] == ["tenant.ready"]
    again = tenant_lifecycle_events(
        tenant="acme", uid="u", old_status=not_ready, new_status=ready, generation=1,
        now=NOW + timedelta(seconds=5),
    )  # fmt: skip
    assert again[0].id == became[0].id  # the same fact, the same id
    steady = tenant_lifecycle_events(
        tenant="acme", uid="u", old_status=ready, new_status=ready, generation=1, now=NOW
    )
    assert steady == []
    gone = tenant_deleted_event(tenant="acme", deleted_at=NOW, policy="Retain", now=NOW)
    assert gone.type == "tenant.deleted"
    assert gone.id == tenant_deleted_event(tenant="acme", deleted_at=NOW, policy="Retain",
                                           now=NOW + timedelta(seconds=1)).id  # fmt: skip


def test_event_data_that_json_readers_or_bson_cannot_hold_is_refused_with_its_path() -> None:
    assert data_problem({"a": [1, 2.5, None, True, "é"], "b": {"c": 2**53 - 1}}) is None
    assert data_problem({"a": [0, 2**53]}) == "data.a[1]: an integer beyond ±2**53-1"
    assert data_problem({"x": float("nan")}) == "data.x: not a finite number"
    assert data_problem({"x": "\ud800"}) == "data.x: not valid Unicode (a lone surrogate)"
    assert data_problem({"\ud800": 1}) is not None
    assert data_problem({"a\x00b": 1}) is not None
    assert data_problem({"x": object()}) == "data.x: not a JSON value"
