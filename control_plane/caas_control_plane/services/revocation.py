"""Revocation: durable facts in MongoDB, broadcast through the outbox, applied in memory.

Writing a revocation: (1) the state it implies (families, sessions), (2) the durable fact in
`revoked_tokens`, (3) this instance's in-memory set, (4) an outbox message for
`auth.revocation.events`, which the relay publishes at once (or when Kafka is back). Every
instance applies what it consumes from that topic and re-reads the durable facts periodically, so
a revocation reaches all instances even if the broadcast was lost.
"""

import asyncio
import hashlib
import logging
import math
import time
from collections import deque
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any, Final

from caas_control_plane.auth.refresh import RevocationReason
from caas_control_plane.auth.revocation import Revocation, RevocationKind, RevocationSet
from caas_control_plane.auth.signing import DEFAULT_LEEWAY, AccessClaims
from caas_control_plane.ports import RefreshFamilies, RevocationLog, Sessions
from caas_core.domain.revocations import api_key_changed

logger = logging.getLogger(__name__)

Clock = Callable[[], datetime]
_LATENCY_SAMPLES: Final = 10_000


def _digest(user_id: str) -> str:
    """A fixed-length stand-in for a user id inside a revocation's id (itself capped at 256
    characters): any id a token may carry fits, including those issued before the API capped
    user ids at 128 characters (the subject field keeps the id itself)."""
    return hashlib.sha256(user_id.encode()).hexdigest()[:32]


class RevocationService:
    """Revokes sessions, tokens, users and tenants; answers "is this token revoked?" in memory."""

    def __init__(
        self,
        *,
        store: RevocationLog,
        families: RefreshFamilies,
        sessions: Sessions,
        access_token_ttl: timedelta,
        clock: Clock,
        leeway: timedelta = DEFAULT_LEEWAY,
    ) -> None:
        self._store = store
        self._families = families
        self._sessions = sessions
        self._clock = clock
        self._horizon = access_token_ttl + leeway
        self._leeway = leeway
        self.state = RevocationSet()
        # Broadcast latency as seen by this instance (seconds from revokedAt to applied here).
        self.latencies: deque[float] = deque(maxlen=_LATENCY_SAMPLES)

    # -- queries (hot path) --------------------------------------------------------------------

    def check(self, claims: AccessClaims) -> RevocationKind | None:
        """Why this token is revoked, or None."""
        return self.state.check(
            tenant=claims.tid, user=claims.sub, session=claims.sid, jti=claims.jti,
            issued_at=claims.iat,
        )  # fmt: skip

    def not_before(self, *, tenant: str, user: str) -> int:
        """Tokens for this user must be issued at or after this epoch second."""
        return self.state.not_before(tenant=tenant, user=user)

    def session_revoked(self, *, tenant: str, session_id: str) -> bool:
        """Whether the session is known to be revoked."""
        return self.state.session_revoked(tenant=tenant, session=session_id)

    # -- use cases -------------------------------------------------------------------------------

    async def revoke_session(
        self, *, tenant: str, session_id: str, reason: RevocationReason
    ) -> Revocation:
        """End a session: its refresh family, its record, and every access token it holds."""
        now = self._clock()
        await asyncio.gather(
            self._families.revoke_session(
                tenant=tenant, session_id=session_id, reason=reason, now=now
            ),
            self._sessions.revoke(
                tenant=tenant, session_ids=[session_id], reason=reason.value, now=now
            ),
        )
        revocation = Revocation(
            id=f"session:{tenant}:{session_id}",
            kind=RevocationKind.SESSION,
            tenant=tenant,
            subject=session_id,
            expires_at=math.ceil((now + self._horizon).timestamp()),
            revoked_at=now.timestamp(),
            reason=reason.value,
        )
        await self.publish(revocation)
        return revocation

    async def revoke_access_token(self, claims: AccessClaims, *, reason: str) -> Revocation:
        """Revoke one access token by its jti (until it expires on its own)."""
        now = self._clock()
        revocation = Revocation(
            id=f"token:{claims.tid}:{claims.jti}",
            kind=RevocationKind.TOKEN,
            tenant=claims.tid,
            subject=claims.jti,
            expires_at=claims.exp + math.ceil(self._leeway.total_seconds()),
            revoked_at=now.timestamp(),
            reason=reason,
        )
        await self.publish(revocation)
        return revocation

    async def revoke_user(
        self, *, tenant: str, user_id: str, reason: RevocationReason
    ) -> Revocation:
        """Revoke every token a user holds now (tokens issued from the next second on live)."""
        now = self._clock()
        await asyncio.gather(
            self._families.revoke_user(tenant=tenant, user_id=user_id, reason=reason, now=now),
            self._sessions.revoke_user(
                tenant=tenant, user_id=user_id, reason=reason.value, now=now
            ),
        )
        not_before = math.ceil(now.timestamp())
        revocation = Revocation(
            id=f"user:{tenant}:{_digest(user_id)}:{not_before}",
            kind=RevocationKind.USER,
            tenant=tenant,
            subject=user_id,
            not_before=not_before,
            expires_at=not_before + math.ceil(self._horizon.total_seconds()),
            revoked_at=now.timestamp(),
            reason=reason.value,
        )
        await self.publish(revocation)
        return revocation

    async def revoke_tenant(self, *, tenant: str, reason: RevocationReason) -> Revocation:
        """Revoke every token of a tenant issued until now."""
        now = self._clock()
        await asyncio.gather(
            self._families.revoke_tenant(tenant=tenant, reason=reason, now=now),
            self._sessions.revoke_all(tenant=tenant, reason=reason.value, now=now),
        )
        not_before = math.ceil(now.timestamp())
        revocation = Revocation(
            id=f"tenant:{tenant}:{not_before}",
            kind=RevocationKind.TENANT,
            tenant=tenant,
            not_before=not_before,
            expires_at=not_before + math.ceil(self._horizon.total_seconds()),
            revoked_at=now.timestamp(),
            reason=reason.value,
        )
        await self.publish(revocation)
        return revocation

    async def api_key_changed(self, *, tenant: str, key_id: str, reason: str) -> Revocation:
        """Tell every instance to drop its cached copy of an API key (revoked or updated)."""
        revocation = api_key_changed(tenant, key_id, now=self._clock(), reason=reason)
        await self.publish(revocation)
        return revocation

    def api_key_changed_at(self, key_id: str) -> float:
        """When an API key was last revoked or changed, as far as this instance knows."""
        return self.state.api_key_changed_at(key_id)

    async def publish(self, revocation: Revocation) -> None:
        """Make a revocation durable and its broadcast queued (one transaction), then effective
        here; the outbox relay broadcasts it to every instance."""
        await self._store.record_and_broadcast(revocation, now=self._clock())
        self.state.apply(revocation, now=self._clock().timestamp())

    # -- propagation ------------------------------------------------------------------------------

    def on_event(self, payload: Mapping[str, Any]) -> None:
        """Apply a revocation consumed from Kafka (called on the event loop)."""
        try:
            revocation = Revocation.from_dict(payload)
        except ValueError as exc:
            logger.warning("malformed revocation event ignored", extra={"error": str(exc)})
            return
        if self.state.apply(revocation, now=time.time()):
            self.latencies.append(max(0.0, time.time() - revocation.revoked_at))

    async def resync(self) -> int:
        """Apply every durable revocation (idempotent); prune expired entries."""
        now = self._clock().timestamp()
        applied = sum(self.state.apply(r, now=now) for r in await self._store.active(now=now))
        self.state.prune(now=now)
        return applied

    async def run_resync(self, *, interval: float) -> None:
        """`resync` every `interval` seconds until cancelled."""
        while True:
            await asyncio.sleep(interval)
            try:
                applied = await self.resync()
                if applied:
                    logger.info("revocations applied from MongoDB", extra={"count": applied})
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("revocation resync failed; retrying")
