"""Signing keys at run time: the ring every request verifies with, JWKS, rotation, refresh."""

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from caas_control_plane.auth import key_lifecycle
from caas_control_plane.auth.jwks import jwks_document
from caas_control_plane.auth.key_lifecycle import KeyRecord, describe
from caas_control_plane.auth.signing import (
    DEFAULT_LEEWAY,
    AccessClaims,
    KeyRing,
    SigningKey,
    UnknownKidError,
    sign_access_token,
    verify_access_token,
)
from caas_control_plane.ports import SigningKeys

logger = logging.getLogger(__name__)

Clock = Callable[[], datetime]
# An unknown kid may be a key another instance just activated: re-read the store, but at most
# this often, so forged kids cannot turn into a database load.
_UNKNOWN_KID_RELOAD: Final = 1.0


def utcnow() -> datetime:
    """The current time, timezone-aware."""
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True, kw_only=True)
class KeyPolicy:
    """How long keys live and how they overlap."""

    access_token_ttl: timedelta
    rotate_after: timedelta  # 0: no scheduled rotation
    publish_for: timedelta  # a new key sits in the JWKS this long before it signs
    leeway: timedelta = DEFAULT_LEEWAY

    @property
    def verify_for(self) -> timedelta:
        """How long a superseded key keeps verifying: every token it signed expires first."""
        return self.access_token_ttl + self.leeway


class KeyService:
    """Holds the current ring; verification and signing never touch the store."""

    def __init__(
        self,
        store: SigningKeys,
        *,
        policy: KeyPolicy,
        issuer: str,
        audience: str,
        clock: Clock = utcnow,
    ) -> None:
        self._store = store
        self._policy = policy
        self._issuer = issuer
        self._audience = audience
        self._clock = clock
        self._records: list[KeyRecord] = []
        self._ring: KeyRing | None = None
        self._ring_until: datetime | None = None
        self._loaded_at = 0.0
        self._reload_lock = asyncio.Lock()

    # -- hot path ---------------------------------------------------------------------------

    @property
    def ring(self) -> KeyRing:
        """The ring at this moment (recomputed when a key activates or retires)."""
        now = self._clock()
        if self._ring is None or (self._ring_until is not None and now >= self._ring_until):
            self._recompute(now)
        if self._ring is None:
            raise RuntimeError("no signing keys loaded; KeyService.start() was not awaited")
        return self._ring

    def sign(self, claims: AccessClaims) -> str:
        """Sign with the active key."""
        return sign_access_token(claims, ring=self.ring)

    def verify(self, token: str, *, now: datetime) -> AccessClaims:
        """Verify a token's signature, header and claims (raises a `TokenError`)."""
        return verify_access_token(
            token,
            ring=self.ring,
            issuer=self._issuer,
            audience=self._audience,
            now=now,
            leeway=self._policy.leeway,
        )

    async def verify_or_reload(self, token: str, *, now: datetime) -> AccessClaims:
        """`verify`, re-reading the store once (rate-limited) when the kid is unknown."""
        try:
            return self.verify(token, now=now)
        except UnknownKidError:
            if not await self._reload_for_unknown_kid():
                raise
            return self.verify(token, now=now)

    def jwks(self) -> dict[str, list[dict[str, str]]]:
        """The JWK Set: upcoming, active and retiring keys."""
        return jwks_document(ring=self.ring, now=self._clock())

    # -- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        """Load the keys, creating the first one when the store is empty (race-safe)."""
        await self.reload()
        if self._store.foreign:
            logger.info(
                "signing keys sealed under other KEKs are ignored",
                extra={"count": self._store.foreign},
            )
        if not self._records:
            now = self._clock()
            first = KeyRecord(
                generation=self._next_generation(),
                key=SigningKey.generate(),
                activates_at=now,
                created_at=now,
            )
            created = await self._store.insert(first)
            logger.info("first signing key", extra={"created_here": created})
            await self.reload()
        if not self._records:
            raise RuntimeError("no signing key could be created or loaded")

    async def reload(self) -> None:
        """Re-read every key from the store."""
        self._records = await self._store.load()
        self._loaded_at = asyncio.get_running_loop().time()
        if self._records:
            self._recompute(self._clock())

    async def rotate(self, *, immediate: bool = False) -> dict[str, Any]:
        """Add the next generation: it signs after the publish delay (or at once if `immediate`).

        Concurrent rotations on several instances collide on the generation; one wins, and the
        others find its key on reload. Returns the keys' public summary.
        """
        await self.reload()
        now = self._clock()
        activates = now if immediate else now + self._policy.publish_for
        record = KeyRecord(
            generation=self._next_generation(),
            key=SigningKey.generate(),
            activates_at=activates,
            created_at=now,
        )
        created = await self._store.insert(record)
        await self.reload()
        logger.info(
            "signing key rotation",
            extra={"generation": record.generation, "won": created, "immediate": immediate},
        )
        return {"rotated": created, "keys": self.describe()}

    async def maintain(self) -> None:
        """One scheduled pass: reload, rotate when due, delete long-retired keys."""
        await self.reload()
        now = self._clock()
        if key_lifecycle.rotation_due(self._records, now=now, max_age=self._policy.rotate_after):
            await self.rotate()
        stale = key_lifecycle.prunable(self._records, now=now, verify_for=self._policy.verify_for)
        if stale and await self._store.delete(stale):
            await self.reload()

    async def run(self, *, interval: float) -> None:
        """`maintain` every `interval` seconds until cancelled (failures are logged, retried)."""
        while True:
            await asyncio.sleep(interval)
            try:
                await self.maintain()
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("signing key maintenance failed; retrying")

    def describe(self) -> list[dict[str, Any]]:
        """Public summary of every stored key."""
        now = self._clock()
        states = key_lifecycle.states(self._records, now=now, verify_for=self._policy.verify_for)
        return describe(self._records, states={g: s.value for g, s in states.items()}, now=now)

    # -- internals ------------------------------------------------------------------------------

    def _next_generation(self) -> int:
        return max(key_lifecycle.next_generation(self._records), self._store.max_generation + 1)

    def _recompute(self, now: datetime) -> None:
        verify_for = self._policy.verify_for
        self._ring = key_lifecycle.ring_at(self._records, now=now, verify_for=verify_for)
        self._ring_until = key_lifecycle.next_change(self._records, now=now, verify_for=verify_for)

    async def _reload_for_unknown_kid(self) -> bool:
        loop = asyncio.get_running_loop()
        async with self._reload_lock:
            # A reload that just happened (maybe while we waited for the lock) is fresh enough.
            if loop.time() - self._loaded_at >= _UNKNOWN_KID_RELOAD:
                await self.reload()
            return True
