"""Revocations of access tokens and the in-memory set every API instance checks per request.

Four kinds, each forgotten once every token it concerns has expired on its own (`expires_at`):

- `token`: one access token by `jti`;
- `session`: every access token of a session (`sid`), e.g. logout or a revoked refresh family;
- `user` / `tenant`: every token issued before `not_before` (revoke-all), compared with `iat`;
- `api_key`: an API key (`subject` = key id) was revoked or changed: instances drop their cached
  copy of it fetched before `revoked_at` (no access token is affected).

A revocation's `id` is stable: the same fact delivered twice (Kafka at-least-once, the MongoDB
resync) changes nothing the second time.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

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


class RevocationSet:
    """What this instance knows to be revoked; checked on every authenticated request.

    Not thread-safe: it lives on the event loop (the Kafka consumer hands events to the loop).
    """

    def __init__(self) -> None:
        self._tokens: dict[tuple[str, str], int] = {}
        self._sessions: dict[tuple[str, str], int] = {}
        self._users: dict[tuple[str, str], tuple[int, int]] = {}
        self._tenants: dict[str, tuple[int, int]] = {}
        self._api_keys: dict[str, tuple[float, int]] = {}  # key id -> (changed at, expires)
        self._seen: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self._tokens) + len(self._sessions) + len(self._users) + len(self._tenants)

    def seen(self, revocation_id: str) -> bool:
        """Whether this revocation was applied already."""
        return revocation_id in self._seen

    def apply(self, revocation: Revocation, *, now: float) -> bool:
        """Record a revocation; False when it was already known or has expired."""
        if revocation.id in self._seen or revocation.expires_at < now:
            return False
        self._seen[revocation.id] = revocation.expires_at
        exp = revocation.expires_at
        match revocation.kind:
            case RevocationKind.TOKEN:
                key = (revocation.tenant, revocation.subject or "")
                self._tokens[key] = max(exp, self._tokens.get(key, 0))
            case RevocationKind.SESSION:
                key = (revocation.tenant, revocation.subject or "")
                self._sessions[key] = max(exp, self._sessions.get(key, 0))
            case RevocationKind.USER:
                key = (revocation.tenant, revocation.subject or "")
                self._users[key] = _later(self._users.get(key), revocation)
            case RevocationKind.TENANT:
                self._tenants[revocation.tenant] = _later(
                    self._tenants.get(revocation.tenant), revocation
                )
            case RevocationKind.API_KEY:
                key_id = revocation.subject or ""
                changed, until = self._api_keys.get(key_id, (0.0, 0))
                self._api_keys[key_id] = (max(changed, revocation.revoked_at), max(until, exp))
        return True

    def api_key_changed_at(self, key_id: str) -> float:
        """When an API key was last revoked or changed (epoch seconds; 0.0 when not known)."""
        entry = self._api_keys.get(key_id)
        return 0.0 if entry is None else entry[0]

    def check(
        self, *, tenant: str, user: str, session: str, jti: str, issued_at: int
    ) -> RevocationKind | None:
        """Why a token with these claims is revoked, or None when it is not."""
        # Four dict lookups: cheap enough for every request.
        if (tenant, jti) in self._tokens:
            return RevocationKind.TOKEN
        if (tenant, session) in self._sessions:
            return RevocationKind.SESSION
        user_entry = self._users.get((tenant, user))
        if user_entry is not None and issued_at < user_entry[0]:
            return RevocationKind.USER
        tenant_entry = self._tenants.get(tenant)
        if tenant_entry is not None and issued_at < tenant_entry[0]:
            return RevocationKind.TENANT
        return None

    def session_revoked(self, *, tenant: str, session: str) -> bool:
        """Whether a whole session is known to be revoked."""
        return (tenant, session) in self._sessions

    def not_before(self, *, tenant: str, user: str) -> int:
        """The latest revoke-all moment for this user (or their tenant); 0 when none."""
        user_entry = self._users.get((tenant, user))
        tenant_entry = self._tenants.get(tenant)
        return max(user_entry[0] if user_entry else 0, tenant_entry[0] if tenant_entry else 0)

    def prune(self, *, now: float) -> int:
        """Forget entries whose tokens have all expired; returns how many were dropped."""
        before = len(self)
        self._tokens = {k: v for k, v in self._tokens.items() if v >= now}
        self._sessions = {k: v for k, v in self._sessions.items() if v >= now}
        self._users = {k: v for k, v in self._users.items() if v[1] >= now}
        self._tenants = {k: v for k, v in self._tenants.items() if v[1] >= now}
        self._api_keys = {k: v for k, v in self._api_keys.items() if v[1] >= now}
        self._seen = {k: v for k, v in self._seen.items() if v >= now}
        return before - len(self)


def _later(current: tuple[int, int] | None, revocation: Revocation) -> tuple[int, int]:
    """Merge a not-before entry: the latest not_before, the latest expiry."""
    not_before = revocation.not_before or 0
    if current is None:
        return (not_before, revocation.expires_at)
    return (max(current[0], not_before), max(current[1], revocation.expires_at))
