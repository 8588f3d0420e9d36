"""The pure ApiKey lifecycle: issue once, store from the Secret, rotate with overlap, report."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from caas_core.domain.api_key_records import ApiKeyRecord, KeyWriter, ResourceRef
from caas_core.domain.api_keys import ApiKey, format_api_key, hash_api_key, new_api_key
from caas_core.resources.apikey import ApiKeySpec
from caas_operator.apikey.plan import (
    KEY_FIELD,
    ROTATION_ANNOTATION,
    ApiKeyObserved,
    ApiKeyPlan,
    NewSecret,
    counts_against_quota,
    plan_api_key,
    retiring,
)
from caas_operator.apikey.status import ready_message, status_fields
from caas_operator.shared.status import ObservedSecret

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
UID = "uid-1"


def spec(**fields: object) -> ApiKeySpec:
    return ApiKeySpec.model_validate({"scopes": ["tokens:issue"], **fields})


def owned_secret(key: ApiKey | None, *, rotation: int = 0, owned: bool = True) -> ObservedSecret:
    data = {} if key is None else {KEY_FIELD: format_api_key(key), "keyId": key.key_id}
    return ObservedSecret(
        owned=owned,
        resource_version="42",
        annotations={ROTATION_ANNOTATION: str(rotation)},
        data=data,
    )


def record(key: ApiKey, **fields: object) -> ApiKeyRecord:
    base = ApiKeyRecord(
        key_id=key.key_id,
        tenant="acme",
        name="backend",
        key_hash=hash_api_key(key),
        scopes=("tokens:issue",),
        managed_by=KeyWriter.OPERATOR,
        created_at=NOW - timedelta(days=1),
        source=ResourceRef(namespace="tenant-acme", name="backend", uid=UID),
    )
    return replace(base, **fields)  # type: ignore[arg-type]


def observed(**fields: object) -> ApiKeyObserved:
    base = ApiKeyObserved(
        namespace="tenant-acme", name="backend", uid=UID, tenant="acme", secret=None, records=()
    )
    return replace(base, **fields)  # type: ignore[arg-type]


def plan(s: ApiKeySpec, o: ApiKeyObserved, fresh: ApiKey | None = None) -> ApiKeyPlan:
    return plan_api_key(s, o, fresh=fresh or new_api_key(), now=NOW)


def test_first_reconcile_writes_the_secret_and_nothing_else() -> None:
    fresh = new_api_key()
    step = plan(spec(), observed(), fresh)
    assert step.write_secret == NewSecret(key=fresh, rotation_generation=0, replace_version=None)
    assert step.insert is None
    assert step.save == ()
    assert step.failure is None
    assert step.write_secret.data() == {KEY_FIELD: format_api_key(fresh), "keyId": fresh.key_id}
    assert format_api_key(fresh) not in repr(step)  # plans get logged; the key must not


def test_the_key_in_the_secret_is_stored_as_a_hash_then_nothing_is_left_to_do() -> None:
    key = new_api_key()
    step = plan(spec(expiresAt="2026-01-01T00:00:00Z"), observed(secret=owned_secret(key)))
    assert step.write_secret is None
    stored = step.insert
    assert stored is not None
    assert stored.key_hash == hash_api_key(key)
    assert format_api_key(key) not in repr(stored)
    assert stored.managed_by is KeyWriter.OPERATOR
    assert stored.source == ResourceRef(namespace="tenant-acme", name="backend", uid=UID)
    assert stored.expires_at == datetime(2026, 1, 1, tzinfo=UTC)
    assert stored.scopes == ("tokens:issue",)
    again = plan(spec(expiresAt="2026-01-01T00:00:00Z"),
                 observed(secret=owned_secret(key), records=(stored,)))  # fmt: skip
    assert not again.writes
    assert again.current == stored
    assert again.failure is None
    assert again.applied_rotation == 0


def test_a_converged_key_is_never_rewritten() -> None:
    key = new_api_key()
    step = plan(spec(), observed(secret=owned_secret(key), records=(record(key),)))
    assert not step.writes
    assert step.current == record(key)


def test_scope_and_expiry_changes_update_the_record_only() -> None:
    key = new_api_key()
    changed = spec(scopes=["tokens:*"], expiresAt="2030-01-01T00:00:00Z")
    step = plan(changed, observed(secret=owned_secret(key), records=(record(key),)))
    assert step.write_secret is None
    assert step.insert is None
    assert [r.scopes for r in step.save] == [("tokens:*",)]
    assert step.save[0].expires_at == datetime(2030, 1, 1, tzinfo=UTC)


def test_rotation_replaces_the_secret_at_the_version_read() -> None:
    old = new_api_key()
    fresh = new_api_key()
    step = plan(spec(rotation={"generation": 1}),
                observed(secret=owned_secret(old), records=(record(old),)), fresh)  # fmt: skip
    assert step.write_secret == NewSecret(key=fresh, rotation_generation=1, replace_version="42")


def test_after_rotation_the_new_key_is_stored_and_the_old_gets_the_overlap() -> None:
    old, new = new_api_key(), new_api_key()
    s = spec(rotation={"generation": 1, "overlapSeconds": 600})
    step = plan(s, observed(secret=owned_secret(new, rotation=1), records=(record(old),)))
    assert step.insert is not None
    assert step.insert.key_id == new.key_id
    assert step.save == (
        record(old, replaced_by=new.key_id, valid_until=NOW + timedelta(minutes=10)),
    )
    # Once both writes landed: converged, and the status names the retiring key.
    records = (step.save[0], step.insert)
    done = plan(s, observed(secret=owned_secret(new, rotation=1), records=records))
    assert not done.writes
    assert done.applied_rotation == 1
    previous = retiring(records, done.current, now=NOW)
    assert previous is not None
    assert previous.key_id == old.key_id
    assert retiring(records, done.current, now=NOW + timedelta(minutes=10)) is None
    fields = status_fields(tenant="acme", secret="backend-api-key", current=done.current,
                           retiring_record=previous, rotation=1)  # fmt: skip
    assert fields["keyId"] == new.key_id
    assert fields["retiringKeyId"] == old.key_id
    assert fields["retiringUntil"] == "2025-03-01T12:10:00Z"
    assert done.current is not None
    assert "works until 2025-03-01T12:10:00Z" in ready_message(done.current, previous, "s")


def test_a_crash_between_secret_and_status_does_not_rotate_twice() -> None:
    # The Secret remembers which rotation it answers; status may still say 0.
    new = new_api_key()
    step = plan(spec(rotation={"generation": 1}),
                observed(secret=owned_secret(new, rotation=1), status_rotation=0))  # fmt: skip
    assert step.write_secret is None
    assert step.insert is not None


def test_a_lost_secret_is_reported_not_regenerated() -> None:
    key = new_api_key()
    step = plan(spec(), observed(records=(record(key),), status_rotation=0))
    assert not step.writes
    assert step.failure is not None
    assert step.failure.reason == "SecretLost"
    assert not step.failure.retryable
    assert "rotation.generation" in step.failure.message


def test_rotation_is_the_remedy_for_a_lost_secret() -> None:
    key, fresh = new_api_key(), new_api_key()
    step = plan(spec(rotation={"generation": 1}),
                observed(records=(record(key),), status_rotation=0), fresh)  # fmt: skip
    assert step.write_secret == NewSecret(key=fresh, rotation_generation=1, replace_version=None)


def test_a_secret_it_did_not_create_is_never_adopted() -> None:
    step = plan(spec(), observed(secret=owned_secret(new_api_key(), owned=False)))
    assert not step.writes
    assert step.failure is not None
    assert step.failure.reason == "SecretConflict"


def test_a_key_owned_by_the_rest_api_is_left_alone() -> None:
    foreign_key = new_api_key()
    foreign = record(foreign_key, managed_by=KeyWriter.API, source=None)
    step = plan(spec(), observed(secret=owned_secret(foreign_key), foreign=foreign))
    assert not step.writes
    assert step.failure is not None
    assert step.failure.reason == "ForeignKey"
    assert "managed by the api" in step.failure.message


@pytest.mark.parametrize(
    ("data", "reason"), [({}, "SecretInvalid"), ({KEY_FIELD: "caas_sk_nope"}, "SecretInvalid")]
)
def test_a_secret_without_a_key_is_reported(data: dict[str, str], reason: str) -> None:
    secret = ObservedSecret(owned=True, resource_version="1", annotations={}, data=data)
    step = plan(spec(), observed(secret=secret, records=(record(new_api_key()),)))
    assert step.failure is not None
    assert step.failure.reason == reason


def test_a_rotated_out_key_put_back_stays_retired() -> None:
    old, new = new_api_key(), new_api_key()
    records = (record(old, replaced_by=new.key_id, valid_until=NOW), record(new))
    step = plan(spec(), observed(secret=owned_secret(old), records=records))
    assert step.failure is not None
    assert step.failure.reason == "SecretInvalid"
    assert not step.writes


def test_a_revoked_key_is_reported() -> None:
    key = new_api_key()
    step = plan(spec(), observed(secret=owned_secret(key), records=(record(key, revoked_at=NOW),)))
    assert step.failure is not None
    assert step.failure.reason == "Revoked"


def test_expiry_is_reported_and_a_past_expiry_issues_nothing() -> None:
    past = (NOW - timedelta(hours=1)).isoformat()
    step = plan(spec(expiresAt=past), observed())
    assert step.failure is not None
    assert step.failure.reason == "Expired"
    assert not step.writes
    key = new_api_key()
    live = record(key, expires_at=NOW - timedelta(hours=1))
    step = plan(spec(expiresAt=past), observed(secret=owned_secret(key), records=(live,)))
    assert step.failure is not None
    assert step.failure.reason == "Expired"


def test_the_quota_stops_a_first_issuance_only() -> None:
    full = observed(tenant_keys=3, quota=3)
    step = plan(spec(), full)
    assert step.failure is not None
    assert step.failure.reason == "QuotaExceeded"
    assert step.failure.retryable
    assert "maxApiKeys" in step.failure.message
    assert plan(spec(), observed(tenant_keys=2, quota=3)).write_secret is not None
    assert plan(spec(), observed(tenant_keys=99, quota=None)).write_secret is not None
    key = new_api_key()
    rotating = replace(full, secret=owned_secret(key), records=(record(key),))
    assert plan(spec(rotation={"generation": 1}), rotating).write_secret is not None


def test_only_held_keys_count_against_the_quota() -> None:
    key = new_api_key()
    assert counts_against_quota(record(key), now=NOW)
    assert not counts_against_quota(record(key, revoked_at=NOW), now=NOW)
    assert not counts_against_quota(
        record(key, replaced_by="x", valid_until=NOW + timedelta(1)), now=NOW
    )
    assert not counts_against_quota(record(key, expires_at=NOW), now=NOW)
