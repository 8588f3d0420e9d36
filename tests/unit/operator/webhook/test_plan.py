"""Webhook records, signing secrets, event filters and the pure Webhook lifecycle."""

import base64
import re
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from caas_core.domain.webhook_records import (
    EVENT_CATEGORIES,
    EVENT_TYPES,
    SecretRef,
    WebhookEndpoint,
    WebhookSource,
    WebhookWriter,
    endpoint_id,
    event_filter_rule,
    fingerprint,
    from_document,
    matches_event,
    new_signing_secret,
    signing_key,
    to_document,
    unknown_event_filters,
)
from caas_core.domain.webhook_urls import UrlProblem, WebhookUrl, WebhookUrlError
from caas_core.resources.webhook import WebhookSpec
from caas_operator.shared.status import ObservedSecret
from caas_operator.webhook.plan import (
    SIGNING_FIELD,
    WebhookObserved,
    WebhookPlan,
    plan_webhook,
)
from caas_operator.webhook.status import ready_message, status_fields

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
UID = "uid-w"
GOOD = WebhookUrl(
    url="https://hooks.example.com/caas",
    scheme="https",
    host="hooks.example.com",
    port=443,
    addresses=("93.184.215.14",),
)


# --- Secrets and filters ---------------------------------------------------------------------


def test_signing_secrets_follow_standard_webhooks() -> None:
    secret = new_signing_secret()
    assert re.fullmatch(r"whsec_[A-Za-z0-9+/]+=*", secret)
    assert len(signing_key(secret)) == 32
    assert new_signing_secret() != secret
    assert len(signing_key(new_signing_secret(24))) == 24
    assert len(signing_key(new_signing_secret(64))) == 64
    for size in (23, 65):
        with pytest.raises(ValueError, match="24 to 64"):
            new_signing_secret(size)
    for bad in ("sk_abc", "whsec_!!!", "whsec_" + base64.b64encode(b"short").decode()):
        with pytest.raises(ValueError):
            signing_key(bad)
    assert len(fingerprint(secret)) == 16
    assert fingerprint(secret) == fingerprint(secret)


def test_event_filters_against_the_catalogue() -> None:
    assert unknown_event_filters(["*", "message.created", "session.*"]) == ()
    assert unknown_event_filters(["message.exploded", "nope.*", "MESSAGE.created"]) == (
        "message.exploded",
        "nope.*",
        "MESSAGE.created",
    )
    assert matches_event(["message.*"], "message.read")
    assert matches_event(["*"], "user.deleted")
    assert matches_event(["user.deleted"], "user.deleted")
    assert not matches_event(["message.*"], "user.deleted")
    rule = event_filter_rule()
    assert all(f"'{t}'" in rule for t in EVENT_TYPES)
    assert all(f"'{c}.*'" in rule for c in EVENT_CATEGORIES)


def endpoint(**fields: object) -> WebhookEndpoint:
    base = WebhookEndpoint(
        endpoint_id=endpoint_id(UID),
        tenant="acme",
        url=GOOD.url,
        event_types=("*",),
        enabled=True,
        secret_ref=SecretRef(namespace="tenant-acme", name="orders-webhook", key=SIGNING_FIELD),
        secret_fingerprint="f" * 16,
        managed_by=WebhookWriter.OPERATOR,
        created_at=NOW,
        updated_at=NOW,
        source=WebhookSource(namespace="tenant-acme", name="orders", uid=UID),
        generation=1,
    )
    return replace(base, **fields)  # type: ignore[arg-type]


def test_endpoint_documents_round_trip_without_the_secret() -> None:
    record = endpoint()
    doc = to_document(record)
    assert doc["_id"] == f"whep_{UID}"
    assert doc["secretRef"] == {
        "namespace": "tenant-acme",
        "name": "orders-webhook",
        "key": SIGNING_FIELD,
    }
    assert from_document(doc) == record
    assert record.same_registration(replace(record, updated_at=datetime(2030, 1, 1, tzinfo=UTC)))
    assert not record.same_registration(replace(record, url="https://other.example.com/"))


# --- Planning --------------------------------------------------------------------------------


def spec(**fields: object) -> WebhookSpec:
    return WebhookSpec.model_validate({"url": GOOD.url, **fields})


def observed(**fields: object) -> WebhookObserved:
    base = WebhookObserved(
        namespace="tenant-acme", name="orders", uid=UID, generation=1, tenant="acme",
        verdict=GOOD, development=False, secret=None, endpoint=None,
    )  # fmt: skip
    return replace(base, **fields)  # type: ignore[arg-type]


def secret(value: str, *, owned: bool = True) -> ObservedSecret:
    return ObservedSecret(
        owned=owned, resource_version="7", annotations={}, data={SIGNING_FIELD: value}
    )


def plan(s: WebhookSpec, o: WebhookObserved, fresh: str = "whsec_fresh") -> WebhookPlan:
    return plan_webhook(s, o, fresh_secret=fresh, now=NOW)


def test_first_the_secret_then_the_registration_then_nothing() -> None:
    first = plan(spec(), observed())
    assert first.new_secret == "whsec_fresh"
    assert first.register is None
    assert "whsec_fresh" not in repr(first)
    signing = new_signing_secret()
    second = plan(spec(eventTypes=["message.*", "user.created"]), observed(secret=secret(signing)))
    registered = second.register
    assert registered is not None
    assert second.new_secret is None
    assert registered.secret_fingerprint == fingerprint(signing)
    assert registered.event_types == ("message.*", "user.created")
    assert registered.managed_by is WebhookWriter.OPERATOR
    assert signing not in repr(to_document(registered))
    third = plan(spec(eventTypes=["message.*", "user.created"]),
                 observed(secret=secret(signing), endpoint=registered))  # fmt: skip
    assert not third.writes
    assert third.registered == registered
    assert "resolves to public addresses only (93.184.215.14)" in ready_message(registered, GOOD)


def test_spec_changes_update_the_registration_keeping_its_creation_time() -> None:
    signing = new_signing_secret()
    current = endpoint(created_at=datetime(2024, 1, 1, tzinfo=UTC),
                       secret_fingerprint=fingerprint(signing))  # fmt: skip
    step = plan(spec(enabled=False), observed(secret=secret(signing), endpoint=current))
    assert step.register is not None
    assert step.register.enabled is False
    assert step.register.created_at == datetime(2024, 1, 1, tzinfo=UTC)


def test_a_refused_url_unregisters_at_once() -> None:
    error = WebhookUrlError(
        UrlProblem.PRIVATE_ADDRESS, "host x resolves to 10.0.0.1, a private address"
    )
    step = plan(spec(), observed(verdict=error, endpoint=endpoint()))
    assert step.unregister
    assert step.failure is not None
    assert step.failure.reason == "PrivateAddress"
    assert not step.failure.retryable
    assert plan(spec(), observed(verdict=error)).writes is False


def test_a_failed_lookup_keeps_the_registration_and_retries() -> None:
    error = WebhookUrlError(
        UrlProblem.UNRESOLVABLE_HOST, "host x could not be resolved", retryable=True
    )
    step = plan(spec(), observed(verdict=error, endpoint=endpoint()))
    assert not step.unregister
    assert step.registered == endpoint()
    assert step.failure is not None
    assert step.failure.retryable


def test_http_needs_the_development_operator() -> None:
    error = WebhookUrlError(UrlProblem.INSECURE_SCHEME, "url must use https")
    step = plan(
        spec(url="http://hooks.example.com/", allowInsecureHttp=True), observed(verdict=error)
    )
    assert step.failure is not None
    assert "CAAS_ENV=development" in step.failure.message


def test_secret_conflicts_loss_and_damage_are_reported() -> None:
    foreign = plan(spec(), observed(secret=secret(new_signing_secret(), owned=False)))
    assert foreign.failure is not None
    assert foreign.failure.reason == "SecretConflict"
    assert not foreign.writes
    lost = plan(spec(), observed(endpoint=endpoint()))
    assert lost.failure is not None
    assert lost.failure.reason == "SecretLost"
    assert not lost.writes
    broken = plan(spec(), observed(secret=secret("nope"), endpoint=endpoint()))
    assert broken.failure is not None
    assert broken.failure.reason == "SecretInvalid"


def test_the_quota_stops_new_endpoints_only() -> None:
    full = observed(tenant_endpoints=2, quota=2)
    step = plan(spec(), full)
    assert step.failure is not None
    assert step.failure.reason == "QuotaExceeded"
    assert not step.writes
    signing = new_signing_secret()
    existing = replace(
        full, secret=secret(signing), endpoint=endpoint(secret_fingerprint=fingerprint(signing))
    )
    assert plan(spec(), existing).failure is None


def test_unknown_event_types_are_refused_even_past_the_crd() -> None:
    s = spec().model_copy(update={"event_types": ["bogus.thing"]})
    step = plan(s, observed(endpoint=endpoint()))
    assert step.failure is not None
    assert step.failure.reason == "UnknownEventType"
    assert step.unregister


def test_status_fields() -> None:
    fields = status_fields(tenant="acme", secret="s", endpoint=endpoint(), verdict=GOOD)
    assert fields == {
        "tenant": "acme",
        "secretName": "s",
        "endpointId": f"whep_{UID}",
        "host": "hooks.example.com",
        "addresses": ["93.184.215.14"],
    }
    cleared = status_fields(tenant="acme", secret="s", endpoint=None, verdict=None)
    assert cleared["endpointId"] is None
    assert cleared["addresses"] == []
