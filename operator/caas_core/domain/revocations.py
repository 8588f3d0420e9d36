"""Revocation facts: what the control plane stores in `caas_platform.revoked_tokens` and
broadcasts on `auth.revocation.events`, and the operator emits when a tenant is deleted.

Four kinds, each forgotten once every token it concerns has expired on its own (`expires_at`):

- `token`: one access token by `jti`;
- `session`: every access token of a session (`sid`), e.g. logout or a revoked refresh family;
- `user` / `tenant`: every token issued before `not_before` (revoke-all), compared with `iat`;
- `api_key`: an API key (`subject` = key id) was revoked or changed: instances drop their cached
  copy of it fetched before `revoked_at` (no access token is affected).

A revocation's `id` is stable: the same fact delivered twice (Kafka at-least-once, the MongoDB
resync) changes nothing the second time.
"""

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Final

REVOCATION_TOPIC: Final = "auth.revocation.events"
# The longest a refresh family may live (CAAS_REFRESH_TOKEN_TTL_SECONDS is capped at it): a
# revocation meant to outlive every token issued before it lasts this long.
MAX_REFRESH_LIFETIME: Final = timedelta(days=400)
TENANT_DELETED: Final = "tenant_deleted"
# API instances cache a key for seconds (CAAS_API_KEY_CACHE_SECONDS); an hour covers any.
API_KEY_HORIZON: Final = timedelta(hours=1)
# How long after a tenant's teardown its keys may still be honoured somewhere: the broadcast
# waits for an API instance's outbox scan (2 s) and Kafka. Logins started meanwhile are covered.
TEARDOWN_PROPAGATION: Final = timedelta(seconds=5)
_MAX_FIELD: Final = 256


class RevocationKind(StrEnum):
    """What a revocation covers."""

    TOKEN = "token"  # noqa: S105 - a kind name
    SESSION = "session"
    USER = "user"
    TENANT = "tenant"
    API_KEY = "api_key"


_NEEDS_SUBJECT: Final = frozenset(
    {RevocationKind.TOKEN, RevocationKind.SESSION, RevocationKind.USER, RevocationKind.API_KEY}
)
_NEEDS_NOT_BEFORE: Final = frozenset({RevocationKind.USER, RevocationKind.TENANT})


@dataclass(frozen=True, slots=True, kw_only=True)
class Revocation:
    """One revocation fact, as stored in MongoDB and broadcast on Kafka."""

    id: str
    kind: RevocationKind
    tenant: str
    subject: str | None = None  # jti, sid or user id; None for a whole tenant
    not_before: int | None = None  # user/tenant: tokens with iat < not_before are revoked
    expires_at: int  # epoch seconds after which no token it concerns can still be valid
    revoked_at: float
    reason: str = "revoked"

    def __post_init__(self) -> None:
        if not self.id or not self.tenant:
            raise ValueError("a revocation needs an id and a tenant")
        if (self.kind in _NEEDS_SUBJECT) != bool(self.subject):
            raise ValueError("a subject is set for token, session, user and key revocations only")
        if (self.kind in _NEEDS_NOT_BEFORE) != (self.not_before is not None):
            raise ValueError("not_before is set exactly for user and tenant revocations")
        for value in (self.id, self.tenant, self.subject or "", self.reason):
            if len(value) > _MAX_FIELD:
                raise ValueError("revocation fields are limited to 256 characters")

    def to_dict(self) -> dict[str, object]:
        """The JSON form (Kafka payload and MongoDB document body)."""
        return {
            "id": self.id,
            "kind": self.kind.value,
            "tenant": self.tenant,
            "subject": self.subject,
            "notBefore": self.not_before,
            "expiresAt": self.expires_at,
            "revokedAt": self.revoked_at,
            "reason": self.reason,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> "Revocation":
        """Parse the JSON form; raises ValueError on anything malformed."""
        try:
            kind = RevocationKind(str(data["kind"]))
            subject = data.get("subject")
            not_before = data.get("notBefore")
            expires_at = data["expiresAt"]
            revoked_at = data["revokedAt"]
            reason = data.get("reason", "revoked")
            if type(expires_at) is not int:
                raise ValueError("expiresAt must be an integer")
            if not isinstance(revoked_at, int | float) or isinstance(revoked_at, bool):
                raise ValueError("revokedAt must be a number")  # noqa: TRY004 - bad input
            if not_before is not None and type(not_before) is not int:
                raise ValueError("notBefore must be an integer")
            if subject is not None and not isinstance(subject, str):
                raise ValueError("subject must be a string")
            return cls(
                id=str(data["id"]),
                kind=kind,
                tenant=str(data["tenant"]),
                subject=subject,
                not_before=not_before,
                expires_at=expires_at,
                revoked_at=float(revoked_at),
                reason=str(reason),
            )
        except KeyError as exc:
            raise ValueError(f"revocation lacks {exc.args[0]!r}") from None


def api_key_changed(tenant: str, key_id: str, *, now: datetime, reason: str) -> Revocation:
    """Tell every API instance to drop its cached copy of an API key (revoked or updated)."""
    return Revocation(
        id=f"api_key:{tenant}:{key_id}:{int(now.timestamp() * 1000)}",
        kind=RevocationKind.API_KEY,
        tenant=tenant,
        subject=key_id,
        expires_at=math.ceil((now + API_KEY_HORIZON).timestamp()),
        revoked_at=now.timestamp(),
        reason=reason,
    )


def tenant_deleted(tenant: str, *, deleted_at: datetime, now: datetime) -> Revocation:
    """Every token of a tenant deleted at `deleted_at` (its id: a retried teardown yields the
    same fact) issued until its teardown at `now` has propagated, refresh families included.
    It lasts as long as the longest refresh family can, so a Tenant re-created under the same
    name starts with none of the old sessions."""
    not_before = math.ceil((now + TEARDOWN_PROPAGATION).timestamp())
    return Revocation(
        id=f"tenant-deleted:{tenant}:{int(deleted_at.timestamp())}",
        kind=RevocationKind.TENANT,
        tenant=tenant,
        not_before=not_before,
        expires_at=not_before + math.ceil(MAX_REFRESH_LIFETIME.total_seconds()),
        revoked_at=now.timestamp(),
        reason=TENANT_DELETED,
    )
