"""Pure ApiKey lifecycle: from what exists (Secret, stored records) to the next step.

The Secret is the delivery record: a key is issued by writing it into the Secret (once), and
the store entry is derived from the Secret's key. So a crash between the two writes is repaired
by the next reconcile (it finds a Secret whose key has no record and stores its hash), and a key
never exists in the store without its owner being able to read it. Each reconcile runs
plan → apply → re-gather until the plan has nothing left to write.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Final

from caas_core.domain.api_key_records import ApiKeyRecord, KeyWriter, ResourceRef
from caas_core.domain.api_keys import (
    ApiKey,
    ApiKeyFormatError,
    format_api_key,
    hash_api_key,
    parse_api_key,
)
from caas_core.domain.naming import API_GROUP
from caas_core.resources.apikey import ApiKeySpec
from caas_operator.shared.scope import Failure
from caas_operator.shared.status import ObservedSecret

SECRET_TYPE: Final = f"{API_GROUP}/api-key"
KEY_FIELD: Final = "apiKey"
KEY_ID_FIELD: Final = "keyId"
ROTATION_ANNOTATION: Final = f"{API_GROUP}/rotation-generation"


def secret_name(name: str, spec: ApiKeySpec) -> str:
    """Where the key is delivered."""
    return spec.secret_name or f"{name}-api-key"


@dataclass(frozen=True, slots=True, kw_only=True)
class NewSecret:
    """Write this key into the Secret (create, or replace the version we read)."""

    key: ApiKey = field(repr=False)
    rotation_generation: int
    replace_version: str | None

    def data(self) -> dict[str, str]:
        """The Secret's data."""
        return {KEY_FIELD: format_api_key(self.key), KEY_ID_FIELD: self.key.key_id}

    def annotations(self) -> dict[str, str]:
        """Which rotation the key answers, so a crash cannot make us rotate twice."""
        return {ROTATION_ANNOTATION: str(self.rotation_generation)}


@dataclass(frozen=True, slots=True, kw_only=True)
class ApiKeyPlan:
    """The next writes (at most one Secret write, then record writes), or why none can happen."""

    write_secret: NewSecret | None = None
    insert: ApiKeyRecord | None = None
    save: tuple[ApiKeyRecord, ...] = ()
    failure: Failure | None = None
    current: ApiKeyRecord | None = None
    applied_rotation: int | None = None

    @property
    def writes(self) -> bool:
        """Whether applying the plan changes anything."""
        return self.write_secret is not None or self.insert is not None or bool(self.save)


@dataclass(frozen=True, slots=True, kw_only=True)
class ApiKeyObserved:
    """What exists for one ApiKey resource."""

    namespace: str
    name: str
    uid: str
    tenant: str
    secret: ObservedSecret | None
    # Records whose source is this resource (by uid), oldest first.
    records: tuple[ApiKeyRecord, ...]
    # The record whose id is the Secret's key, when that record is not one of `records`.
    foreign: ApiKeyRecord | None = None
    # The tenant's keys that count against its quota, this resource's excluded.
    tenant_keys: int = 0
    quota: int | None = None
    # status.rotationGeneration: what was applied when the Secret cannot tell us.
    status_rotation: int | None = None


def secret_key(secret: ObservedSecret) -> ApiKey | None:
    """The key held by a Secret, or None when it holds no well-formed key."""
    try:
        return parse_api_key(secret.data.get(KEY_FIELD, ""))
    except ApiKeyFormatError:
        return None


def secret_rotation(secret: ObservedSecret) -> int | None:
    """The rotation generation recorded on the Secret."""
    raw = secret.annotations.get(ROTATION_ANNOTATION, "")
    return int(raw) if raw.isdigit() else None


def counts_against_quota(record: ApiKeyRecord, *, now: datetime) -> bool:
    """A key the tenant holds: usable and not a retiring predecessor."""
    return record.unusable(now=now) is None and record.replaced_by is None


def plan_api_key(
    spec: ApiKeySpec, observed: ApiKeyObserved, *, fresh: ApiKey, now: datetime
) -> ApiKeyPlan:
    """Decide the next step; `fresh` is used only when a new key must be issued."""
    secret = observed.secret
    name = secret_name(observed.name, spec)
    wanted = spec.rotation.generation
    if secret is not None and not secret.owned:
        return ApiKeyPlan(
            failure=Failure(
                reason="SecretConflict",
                message=(
                    f"Secret {name} exists but was not created by this ApiKey; the operator "
                    "never adopts a Secret: delete it or set spec.secretName to a free name"
                ),
                retryable=True,
            )
        )
    if secret is None:
        return _without_secret(spec, observed, fresh=fresh, now=now, name=name)
    applied = secret_rotation(secret) or 0
    if wanted > applied:
        return ApiKeyPlan(
            write_secret=NewSecret(
                key=fresh, rotation_generation=wanted, replace_version=secret.resource_version
            )
        )
    key = secret_key(secret)
    if key is None:
        return ApiKeyPlan(
            failure=Failure(
                reason="SecretInvalid",
                message=(
                    f"Secret {name} no longer holds a well-formed key; "
                    "raise spec.rotation.generation to issue a new one"
                ),
            )
        )
    return _converge(spec, observed, key=key, applied=applied, now=now)


def _without_secret(
    spec: ApiKeySpec, observed: ApiKeyObserved, *, fresh: ApiKey, now: datetime, name: str
) -> ApiKeyPlan:
    if not observed.records:
        return _issue(spec, observed, fresh=fresh, now=now, name=name)
    wanted = spec.rotation.generation
    if wanted > (observed.status_rotation or 0):
        # The explicit remedy for a lost Secret: a rotation issues a new key into a new one.
        return ApiKeyPlan(
            write_secret=NewSecret(key=fresh, rotation_generation=wanted, replace_version=None)
        )
    live = [r for r in observed.records if r.revoked_at is None]
    return ApiKeyPlan(
        current=live[-1] if live else None,
        failure=Failure(
            reason="SecretLost",
            message=(
                f"Secret {name} holding the key is gone and a key is shown only once; "
                "raise spec.rotation.generation to issue a new key"
            ),
        ),
    )


def _issue(
    spec: ApiKeySpec, observed: ApiKeyObserved, *, fresh: ApiKey, now: datetime, name: str
) -> ApiKeyPlan:
    if spec.expires_at is not None and spec.expires_at <= now:
        return ApiKeyPlan(
            failure=Failure(
                reason="Expired",
                message=f"expiresAt {spec.expires_at.isoformat()} is in the past; no key issued",
            )
        )
    if observed.quota is not None and observed.tenant_keys >= observed.quota:
        return ApiKeyPlan(
            failure=Failure(
                reason="QuotaExceeded",
                message=(
                    f"tenant {observed.tenant} already holds {observed.tenant_keys} API keys; "
                    f"its plan allows {observed.quota} (spec.plan.maxApiKeys)"
                ),
                retryable=True,
            )
        )
    return ApiKeyPlan(
        write_secret=NewSecret(
            key=fresh, rotation_generation=spec.rotation.generation, replace_version=None
        )
    )


def _converge(
    spec: ApiKeySpec, observed: ApiKeyObserved, *, key: ApiKey, applied: int, now: datetime
) -> ApiKeyPlan:
    current = next((r for r in observed.records if r.key_id == key.key_id), None)
    if current is None and observed.foreign is not None:
        foreign = observed.foreign
        return ApiKeyPlan(
            failure=Failure(
                reason="ForeignKey",
                message=(
                    f"the Secret holds key {foreign.key_id}, which is managed by the "
                    f"{foreign.managed_by.value}"
                    + ("" if foreign.source is None else f" for {foreign.source.name}")
                    + "; the operator leaves it untouched: raise spec.rotation.generation"
                ),
            )
        )
    desired = _desired(spec, observed, key=key, now=now)
    if current is None:
        # Issued into the Secret but not yet stored (the step after a write, or after a crash).
        return ApiKeyPlan(insert=desired, save=_retire(observed, key, spec, now=now))
    if current.revoked_at is not None:
        return ApiKeyPlan(
            current=current,
            failure=Failure(
                reason="Revoked",
                message=(
                    f"key {current.key_id} was revoked; "
                    "raise spec.rotation.generation to issue a new one"
                ),
            ),
        )
    if current.replaced_by is not None:
        # A rotated-out key put back into the Secret stays retired: rotation is one-way.
        return ApiKeyPlan(
            failure=Failure(
                reason="SecretInvalid",
                message=(
                    f"Secret holds key {current.key_id}, which was rotated out; "
                    "raise spec.rotation.generation to issue a new one"
                ),
            ),
        )
    updated = replace(
        current, name=desired.name, scopes=desired.scopes, expires_at=desired.expires_at
    )
    save = _retire(observed, key, spec, now=now)
    if updated != current:
        save = (updated, *save)
    failure = None
    if updated.expires_at is not None and updated.expires_at <= now:
        failure = Failure(
            reason="Expired",
            message=f"key {key.key_id} expired at {updated.expires_at.isoformat()}",
        )
    return ApiKeyPlan(save=save, current=updated, applied_rotation=applied, failure=failure)


def _desired(
    spec: ApiKeySpec, observed: ApiKeyObserved, *, key: ApiKey, now: datetime
) -> ApiKeyRecord:
    return ApiKeyRecord(
        key_id=key.key_id,
        tenant=observed.tenant,
        name=observed.name,
        key_hash=hash_api_key(key),
        scopes=tuple(spec.scopes),
        managed_by=KeyWriter.OPERATOR,
        created_at=now,
        expires_at=spec.expires_at,
        source=ResourceRef(namespace=observed.namespace, name=observed.name, uid=observed.uid),
    )


def _retire(
    observed: ApiKeyObserved, key: ApiKey, spec: ApiKeySpec, *, now: datetime
) -> tuple[ApiKeyRecord, ...]:
    """Predecessors still fully valid get the overlap window (ones already retiring keep theirs)."""
    until = now + timedelta(seconds=spec.rotation.overlap_seconds)
    return tuple(
        r.replaced(by=key.key_id, valid_until=until)
        for r in observed.records
        if r.key_id != key.key_id and r.revoked_at is None and r.replaced_by is None
    )


def retiring(
    records: Sequence[ApiKeyRecord], current: ApiKeyRecord | None, *, now: datetime
) -> ApiKeyRecord | None:
    """The predecessor whose overlap window is still running (the latest to end)."""
    if current is None:
        return None
    candidates = [
        r
        for r in records
        if r.replaced_by == current.key_id
        and r.valid_until is not None
        and r.valid_until > now
        and r.unusable(now=now) is None
    ]
    return max(candidates, key=lambda r: r.valid_until or now, default=None)


def records_by_id(records: Sequence[ApiKeyRecord]) -> Mapping[str, ApiKeyRecord]:
    """Records indexed by key id."""
    return {r.key_id: r for r in records}
