"""Token issuance for SDK users and refresh-token rotation (RFC 9700), with audit events."""

import asyncio
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

from caas_control_plane.auth import refresh as rules
from caas_control_plane.auth.devices import DeviceInfo
from caas_control_plane.auth.refresh import (
    Family,
    MalformedRefreshTokenError,
    Outcome,
    RevocationReason,
    hash_refresh_token,
    new_family_id,
    new_refresh_token,
    parse_refresh_token,
)
from caas_control_plane.auth.signing import AccessClaims, build_access_claims
from caas_control_plane.auth.successor import open_successor, seal_successor
from caas_control_plane.ports import (
    RefreshFamilies,
    Rotation,
    SessionRecord,
    Sessions,
    StoredFamily,
)
from caas_control_plane.services.context import ClientInfo
from caas_control_plane.services.errors import InvalidGrantError
from caas_control_plane.services.keys import KeyService
from caas_control_plane.services.revocation import RevocationService
from caas_core.domain.api_key_records import ApiKeyRecord
from caas_core.domain.audit import Actor, AuditWriter
from caas_core.domain.audit import Outcome as AuditOutcome

logger = logging.getLogger(__name__)

Clock = Callable[[], datetime]
# Rotation attempts before giving up; a lost compare-and-set re-decides (and then replays).
_ATTEMPTS: Final = 3


@dataclass(frozen=True, slots=True, kw_only=True)
class TokenPolicy:
    """Lifetimes and the token audience."""

    issuer: str
    audience: str
    access_token_ttl: timedelta
    refresh_token_ttl: timedelta
    refresh_grace: timedelta


@dataclass(frozen=True, slots=True, kw_only=True)
class IssuedTokens:
    """What a login or a refresh hands back."""

    access_token: str
    access_expires_at: datetime
    refresh_token: str
    refresh_expires_at: datetime
    session_id: str
    tenant: str
    user_id: str


def _new_id(prefix: str) -> str:
    return prefix + secrets.token_urlsafe(16)


def _hash_prefix(token_hash: str) -> str:
    """Enough of a token hash to correlate audit events, far too little to matter."""
    return token_hash[:12]


class TokenService:
    """Issues access/refresh tokens and rotates refresh families."""

    def __init__(
        self,
        *,
        keys: KeyService,
        families: RefreshFamilies,
        sessions: Sessions,
        revocations: RevocationService,
        audit: AuditWriter,
        policy: TokenPolicy,
        successor_key: bytes,
        clock: Clock,
    ) -> None:
        self._keys = keys
        self._families = families
        self._sessions = sessions
        self._revocations = revocations
        self._audit = audit
        self._policy = policy
        self._successor_key = successor_key
        self._clock = clock

    def access_token(
        self, *, tenant: str, user_id: str, session_id: str, now: datetime
    ) -> tuple[str, AccessClaims]:
        """A signed access token; never issued before the user's revoke-all moment."""
        not_before = self._revocations.not_before(tenant=tenant, user=user_id)
        issued = max(now, datetime.fromtimestamp(not_before, UTC))
        claims = build_access_claims(
            issuer=self._policy.issuer,
            audience=self._policy.audience,
            subject=user_id,
            tenant_id=tenant,
            session_id=session_id,
            now=issued,
            ttl=self._policy.access_token_ttl,
        )
        return self._keys.sign(claims), claims

    async def issue(
        self, *, api_key: ApiKeyRecord, user_id: str, device: DeviceInfo, client: ClientInfo
    ) -> IssuedTokens:
        """Start a session for `user_id` of the key's tenant: access + refresh tokens."""
        now = self._clock()
        tenant = api_key.tenant
        session_id, family_id = _new_id("ses_"), new_family_id()
        refresh_token = new_refresh_token(family_id)
        family = rules.start_family(
            family_id=family_id,
            tenant_id=tenant,
            user_id=user_id,
            session_id=session_id,
            token_hash=hash_refresh_token(refresh_token),
            now=now,
            lifetime=self._policy.refresh_token_ttl,
        )
        token, claims = self.access_token(
            tenant=tenant, user_id=user_id, session_id=session_id, now=now
        )
        session = SessionRecord(
            session_id=session_id,
            tenant=tenant,
            user_id=user_id,
            family_id=family_id,
            created_at=now,
            last_seen_at=now,
            expires_at=family.expires_at,
            device=device,
            ip=client.ip,
            user_agent=client.user_agent,
            api_key_id=api_key.key_id,
        )
        event = client.event(
            "auth.token.issued",
            outcome=AuditOutcome.SUCCESS,
            actor=Actor(type="api_key", id=api_key.key_id),
            tenant=tenant,
            target_type="session",
            target_id=session_id,
            details={"userId": user_id, "deviceId": device.device_id, "jti": claims.jti},
        )
        await asyncio.gather(
            self._families.create(family, created_at=now),
            self._sessions.create(session),
            self._audit.emit(event),
        )
        return IssuedTokens(
            access_token=token,
            access_expires_at=datetime.fromtimestamp(claims.exp, UTC),
            refresh_token=refresh_token,
            refresh_expires_at=family.expires_at,
            session_id=session_id,
            tenant=tenant,
            user_id=user_id,
        )

    async def refresh(self, presented: str, *, client: ClientInfo) -> IssuedTokens:
        """Rotate a refresh token: one successor however many concurrent requests present it."""
        try:
            token = parse_refresh_token(presented)
        except MalformedRefreshTokenError:
            raise InvalidGrantError("the refresh token is not valid") from None
        presented_hash = token.token_hash
        for _ in range(_ATTEMPTS):
            stored = await self._families.find(token)
            now = self._clock()
            if stored is None:  # no family knows this hash: nothing to decide or change
                await self._audit_refresh(client, None, presented_hash, "unknown")
                raise InvalidGrantError("the refresh token is not valid")
            family = self._effective(stored, now=now)
            decision = rules.decide(
                family, presented_hash=presented_hash, now=now, grace=self._policy.refresh_grace
            )
            match decision.outcome:
                case Outcome.ROTATE:
                    issued = await self._rotate(family, presented, now=now)
                    if issued is not None:
                        await self._audit_refresh(client, family, presented_hash, "rotated")
                        return issued
                    continue  # the family changed under us (revoked?): decide again
                case Outcome.GRACE_REPLAY:
                    issued = self._replay(stored, family, presented, presented_hash, now=now)
                    if issued is not None:
                        return issued
                    raise InvalidGrantError("the refresh token was already used")
                case Outcome.REUSE_DETECTED:
                    await self._reuse_detected(decision.family or family, presented_hash, client)
                    raise InvalidGrantError("the refresh token was already used")
                case Outcome.REVOKED:
                    await self._audit_refresh(client, family, presented_hash, "revoked")
                    raise InvalidGrantError("the refresh token was revoked")
                case Outcome.EXPIRED:
                    await self._audit_refresh(client, family, presented_hash, "expired")
                    raise InvalidGrantError("the refresh token has expired")
                case _:
                    await self._audit_refresh(client, family, presented_hash, "unknown")
                    raise InvalidGrantError("the refresh token is not valid")
        raise InvalidGrantError("the refresh token is being rotated concurrently; retry")

    def _effective(self, stored: StoredFamily, *, now: datetime) -> Family:
        """The stored family, revoked if a broadcast revocation covers it (not yet persisted)."""
        family = stored.family
        if family.state is rules.FamilyState.REVOKED:
            return family
        not_before = self._revocations.not_before(tenant=family.tenant_id, user=family.user_id)
        if stored.created_at.timestamp() < not_before or self._revocations.session_revoked(
            tenant=family.tenant_id, session_id=family.session_id
        ):
            return rules.revoke(family, reason=RevocationReason.SESSION_REVOKED, now=now)
        return family

    async def _rotate(
        self, family: Family, presented: str, *, now: datetime
    ) -> IssuedTokens | None:
        """Rotate `presented` if no concurrent refresh did first (None: decide again, which
        hands the loser the winner's successor through GRACE_REPLAY)."""
        successor = new_refresh_token(family.id)
        mine = Rotation(
            replaced_hash=family.current_hash,
            family_id=family.id,
            successor_hash=hash_refresh_token(successor),
            successor_sealed=seal_successor(
                successor,
                presented=presented,
                family_id=family.id,
                server_key=self._successor_key,
                expires_at=now + self._policy.refresh_grace,
            ),
            rotated_at=now,
        )
        after = rules.rotate(family, new_hash=mine.successor_hash, now=now)
        if not await self._families.rotate(before=family, after=after, rotation=mine):
            return None
        await self._sessions.touch(tenant=family.tenant_id, session_id=family.session_id, now=now)
        return self._tokens(family, successor, now=now)

    def _replay(
        self,
        stored: StoredFamily,
        family: Family,
        presented: str,
        presented_hash: str,
        *,
        now: datetime,
    ) -> IssuedTokens | None:
        """The successor the latest rotation of `presented` handed out, within its grace."""
        rotation = stored.last_rotation
        if (
            rotation is None
            or rotation.replaced_hash != presented_hash
            or rotation.successor_hash != family.current_hash
        ):
            return None
        successor = self._open(rotation, presented=presented, family=family, now=now)
        return None if successor is None else self._tokens(family, successor, now=now)

    def _open(
        self, rotation: Rotation, *, presented: str, family: Family, now: datetime
    ) -> str | None:
        successor = open_successor(
            rotation.successor_sealed,
            presented=presented,
            family_id=family.id,
            server_key=self._successor_key,
            now=now,
        )
        if successor is None or hash_refresh_token(successor) != rotation.successor_hash:
            return None
        return successor

    def _tokens(self, family: Family, refresh_token: str, *, now: datetime) -> IssuedTokens:
        token, claims = self.access_token(
            tenant=family.tenant_id,
            user_id=family.user_id,
            session_id=family.session_id,
            now=now,
        )
        return IssuedTokens(
            access_token=token,
            access_expires_at=datetime.fromtimestamp(claims.exp, UTC),
            refresh_token=refresh_token,
            refresh_expires_at=family.expires_at,
            session_id=family.session_id,
            tenant=family.tenant_id,
            user_id=family.user_id,
        )

    async def _reuse_detected(
        self, family: Family, presented_hash: str, client: ClientInfo
    ) -> None:
        """RFC 9700: a replaced token came back; revoke the family and its session everywhere."""
        await self._families.revoke(family)
        await self._revocations.revoke_session(
            tenant=family.tenant_id,
            session_id=family.session_id,
            reason=RevocationReason.REUSE_DETECTED,
        )
        logger.warning(
            "refresh token reuse detected; family revoked",
            extra={"tenant": family.tenant_id, "family": family.id},
        )
        await self._audit.emit(
            client.event(
                "auth.refresh.reuse_detected",
                outcome=AuditOutcome.FAILURE,
                actor=Actor(type="user", id=family.user_id),
                tenant=family.tenant_id,
                target_type="session",
                target_id=family.session_id,
                details={"family": family.id, "tokenHash": _hash_prefix(presented_hash)},
            )
        )

    async def _audit_refresh(
        self, client: ClientInfo, family: Family | None, presented_hash: str, result: str
    ) -> None:
        ok = result == "rotated"
        await self._audit.emit(
            client.event(
                "auth.token.refreshed" if ok else "auth.refresh.rejected",
                outcome=AuditOutcome.SUCCESS if ok else AuditOutcome.FAILURE,
                actor=Actor(type="user", id=None if family is None else family.user_id),
                tenant=None if family is None else family.tenant_id,
                target_type="session",
                target_id=None if family is None else family.session_id,
                details={"result": result, "tokenHash": _hash_prefix(presented_hash)},
            )
        )
