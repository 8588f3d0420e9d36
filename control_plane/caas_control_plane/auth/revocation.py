"""The in-memory revocation set every API instance checks per request (the facts themselves are
`caas_core.domain.revocations`)."""

from caas_core.domain.revocations import Revocation, RevocationKind

__all__ = ["Revocation", "RevocationKind", "RevocationSet"]


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
