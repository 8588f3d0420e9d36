"""Logout, RFC 7009 revocation, RFC 7662 introspection and revoke-all, with audit events."""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from caas_control_plane.auth import refresh as rules
from caas_control_plane.auth.refresh import (
    MalformedRefreshTokenError,
    RevocationReason,
    hash_refresh_token,
    parse_refresh_token,
)
from caas_control_plane.auth.signing import AccessClaims, TokenError
from caas_control_plane.ports import RefreshFamilies, StoredFamily
from caas_control_plane.services.access import same_tenant
from caas_control_plane.services.context import ClientInfo, Principal, key_actor
from caas_control_plane.services.errors import InvalidCredentialsError
from caas_control_plane.services.keys import KeyService
from caas_control_plane.services.revocation import RevocationService
from caas_core.domain.api_key_records import ApiKeyRecord
from caas_core.domain.audit import Actor, AuditWriter, Outcome

TokenHint = Literal["access_token", "refresh_token"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Caller:
    """Who asks to revoke or introspect: a tenant's back end, or one of its users."""

    tenant: str
    actor: Actor
    user_id: str | None = None  # set for end users: they may act on their own tokens only

    @classmethod
    def of(
        cls, *, api_key: ApiKeyRecord | None = None, principal: Principal | None = None
    ) -> "Caller":
        """The caller a request's credentials name: the API key first, else the user."""
        if api_key is not None:
            return cls(tenant=api_key.tenant, actor=key_actor(api_key))
        if principal is not None:
            return cls(tenant=principal.tenant, actor=principal.actor, user_id=principal.user_id)
        raise InvalidCredentialsError("an X-API-Key or a Bearer access token is required")

    def may_touch(self, *, tenant: str, user_id: str) -> bool:
        """Tenant isolation, and for end users, their own tokens only."""
        return same_tenant(self.tenant, tenant) and self.user_id in (None, user_id)


class TokenControl:
    """The revocation-side use cases; every state change is audited."""

    def __init__(
        self,
        *,
        keys: KeyService,
        families: RefreshFamilies,
        revocations: RevocationService,
        audit: AuditWriter,
        clock: Callable[[], datetime],
    ) -> None:
        self._keys = keys
        self._families = families
        self._revocations = revocations
        self._audit = audit
        self._clock = clock

    async def logout(self, principal: Principal, *, everywhere: bool, client: ClientInfo) -> None:
        """End the caller's session (or all of the user's sessions)."""
        if everywhere:
            await self._revocations.revoke_user(
                tenant=principal.tenant, user_id=principal.user_id, reason=RevocationReason.LOGOUT
            )
        else:
            await self._revocations.revoke_session(
                tenant=principal.tenant,
                session_id=principal.session_id,
                reason=RevocationReason.LOGOUT,
            )
        await self._audit.emit(
            client.event(
                "auth.logout",
                outcome=Outcome.SUCCESS,
                actor=principal.actor,
                tenant=principal.tenant,
                target_type="user" if everywhere else "session",
                target_id=principal.user_id if everywhere else principal.session_id,
            )
        )

    async def revoke(
        self, token: str, *, hint: TokenHint | None, caller: Caller, client: ClientInfo
    ) -> bool:
        """RFC 7009: revoke a refresh token (its whole session) or an access token (its jti).

        Unknown, invalid and other tenants' tokens change nothing; the caller cannot tell.
        """
        revoked_what: tuple[str, str] | None = None
        stored = await self._find_refresh(token) if hint != "access_token" else None
        if stored is not None:
            family = stored.family
            if caller.may_touch(tenant=family.tenant_id, user_id=family.user_id):
                await self._revocations.revoke_session(
                    tenant=family.tenant_id,
                    session_id=family.session_id,
                    reason=RevocationReason.ADMIN
                    if caller.user_id is None
                    else RevocationReason.LOGOUT,
                )
                revoked_what = ("session", family.session_id)
        else:
            claims = self._verified(token)
            if claims is None and hint == "access_token":
                stored = await self._find_refresh(token)  # a wrong hint must not matter
            if claims is not None and caller.may_touch(tenant=claims.tid, user_id=claims.sub):
                await self._revocations.revoke_access_token(claims, reason="revoked")
                revoked_what = ("access_token", claims.jti)
            elif stored is not None and caller.may_touch(
                tenant=stored.family.tenant_id, user_id=stored.family.user_id
            ):
                await self._revocations.revoke_session(
                    tenant=stored.family.tenant_id,
                    session_id=stored.family.session_id,
                    reason=RevocationReason.ADMIN,
                )
                revoked_what = ("session", stored.family.session_id)
        await self._audit.emit(
            client.event(
                "auth.token.revoked",
                outcome=Outcome.SUCCESS if revoked_what else Outcome.FAILURE,
                actor=caller.actor,
                tenant=caller.tenant,
                target_type=None if revoked_what is None else revoked_what[0],
                target_id=None if revoked_what is None else revoked_what[1],
                details={} if revoked_what else {"result": "nothing to revoke"},
            )
        )
        return revoked_what is not None

    async def introspect(
        self, token: str, *, hint: TokenHint | None, caller: Caller
    ) -> dict[str, Any]:
        """RFC 7662: the token's metadata when it is active *and* the caller's; else inactive."""
        if hint != "refresh_token":
            claims = self._verified(token)
            if claims is not None:
                return self._introspect_access(claims, caller=caller)
        stored = await self._find_refresh(token)
        if stored is not None:
            return self._introspect_refresh(stored, token, caller=caller)
        return {"active": False}

    async def revoke_all(
        self, *, tenant: str, user_id: str | None, actor: Actor, client: ClientInfo
    ) -> int:
        """Revoke every token issued so far to a user (or to a whole tenant); returns not_before."""
        if user_id is None:
            revocation = await self._revocations.revoke_tenant(
                tenant=tenant, reason=RevocationReason.ADMIN
            )
        else:
            revocation = await self._revocations.revoke_user(
                tenant=tenant, user_id=user_id, reason=RevocationReason.ADMIN
            )
        await self._audit.emit(
            client.event(
                "auth.tokens.revoked_all",
                outcome=Outcome.SUCCESS,
                actor=actor,
                tenant=tenant,
                target_type="tenant" if user_id is None else "user",
                target_id=tenant if user_id is None else user_id,
                details={"notBefore": revocation.not_before},
            )
        )
        return revocation.not_before or 0

    # -- internals --------------------------------------------------------------------------------

    def _verified(self, token: str) -> AccessClaims | None:
        try:
            return self._keys.verify(token, now=self._clock())
        except TokenError:
            return None

    async def _find_refresh(self, token: str) -> StoredFamily | None:
        try:
            presented = parse_refresh_token(token)
        except MalformedRefreshTokenError:
            return None
        return await self._families.find(presented)

    def _introspect_access(self, claims: AccessClaims, *, caller: Caller) -> dict[str, Any]:
        if not caller.may_touch(tenant=claims.tid, user_id=claims.sub):
            return {"active": False}
        if self._revocations.check(claims) is not None:
            return {"active": False}
        return {
            "active": True,
            "token_type": "access_token",
            "iss": claims.iss,
            "aud": claims.aud[0] if len(claims.aud) == 1 else list(claims.aud),
            "sub": claims.sub,
            "tid": claims.tid,
            "sid": claims.sid,
            "jti": claims.jti,
            "iat": claims.iat,
            "nbf": claims.nbf,
            "exp": claims.exp,
        }

    def _introspect_refresh(
        self, stored: StoredFamily, token: str, *, caller: Caller
    ) -> dict[str, Any]:
        family = stored.family
        now = self._clock()
        if not caller.may_touch(tenant=family.tenant_id, user_id=family.user_id):
            return {"active": False}
        current = family.current_hash == hash_refresh_token(token)
        revoked = self._revocations.session_revoked(
            tenant=family.tenant_id, session_id=family.session_id
        ) or stored.created_at.timestamp() < self._revocations.not_before(
            tenant=family.tenant_id, user=family.user_id
        )
        if not current or revoked or family.status(now=now) is not rules.Status.ACTIVE:
            return {"active": False}
        return {
            "active": True,
            "token_type": "refresh_token",
            "sub": family.user_id,
            "tid": family.tenant_id,
            "sid": family.session_id,
            "iat": int(stored.created_at.timestamp()),
            "exp": int(family.expires_at.timestamp()),
        }
