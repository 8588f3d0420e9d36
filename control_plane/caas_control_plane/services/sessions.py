"""Sessions and devices: a user lists and ends their sessions; an admin key extends or ends any.

A session is created by each SDK login (device fingerprint, IP, user agent, created/last-seen;
last-seen moves on every refresh, not on every call: a write per request would cost more than
the whole request). Ending a session revokes its refresh family and, on every instance, its
access tokens (the revocation broadcast).
"""

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from caas_control_plane.auth.refresh import RevocationReason
from caas_control_plane.ports import RefreshFamilies, SessionRecord, Sessions
from caas_control_plane.services.context import ClientInfo, Principal, key_actor
from caas_control_plane.services.errors import (
    InvalidCredentialsError,
    InvalidRequestError,
    NotFoundError,
)
from caas_control_plane.services.revocation import RevocationService
from caas_core.domain.api_key_records import ApiKeyRecord
from caas_core.domain.audit import Actor, AuditWriter, Outcome

Clock = Callable[[], datetime]
# Raises when the user must step up first (MfaService.require_step_up).
StepUpCheck = Callable[[Principal], Awaitable[None]]
__all__ = ["SessionRecord", "SessionService"]


class SessionService:
    """Session listing, termination and (admin) extension, each audited."""

    def __init__(
        self,
        *,
        sessions: Sessions,
        families: RefreshFamilies,
        revocations: RevocationService,
        audit: AuditWriter,
        max_lifetime: timedelta,
        clock: Clock,
        require_step_up: StepUpCheck,
    ) -> None:
        self._sessions = sessions
        self._families = families
        self._revocations = revocations
        self._audit = audit
        self._max_lifetime = max_lifetime
        self._clock = clock
        self._require_step_up = require_step_up

    async def live(self, *, tenant: str, user_id: str) -> list[SessionRecord]:
        """A user's sessions that are neither revoked nor expired, newest first."""
        now = self._clock()
        records = await self._sessions.list_for_user(tenant=tenant, user_id=user_id)
        return [
            record
            for record in records
            if record.expires_at > now
            and not self._revocations.session_revoked(tenant=tenant, session_id=record.session_id)
        ]

    async def get(self, *, tenant: str, session_id: str, user_id: str | None) -> SessionRecord:
        """A live session of the tenant (and of `user_id` when given), else 404."""
        record = await self._sessions.get(tenant=tenant, session_id=session_id)
        if (
            record is None
            or record.revoked_at is not None
            or record.expires_at <= self._clock()
            or (user_id is not None and record.user_id != user_id)
        ):
            raise NotFoundError("no such session")
        return record

    async def terminate(
        self,
        *,
        tenant: str,
        session_id: str,
        user_id: str | None,
        actor: Actor,
        client: ClientInfo,
    ) -> None:
        """End one session (a user: only their own; an admin key: any of its tenant)."""
        record = await self.get(tenant=tenant, session_id=session_id, user_id=user_id)
        reason = RevocationReason.LOGOUT if user_id is not None else RevocationReason.ADMIN
        await self._revocations.revoke_session(
            tenant=tenant, session_id=record.session_id, reason=reason
        )
        await self._emit("session.terminated", tenant, record, actor, client)

    async def terminate_as(
        self,
        session_id: str,
        *,
        admin: ApiKeyRecord | None,
        principal: Principal | None,
        client: ClientInfo,
    ) -> None:
        """End one session: an admin key any of its tenant's (it wins when both are presented),
        a user only their own."""
        if admin is not None:
            await self.terminate(
                tenant=admin.tenant, session_id=session_id, user_id=None,
                actor=key_actor(admin), client=client,
            )  # fmt: skip
        elif principal is not None:
            await self.terminate(
                tenant=principal.tenant, session_id=session_id, user_id=principal.user_id,
                actor=principal.actor, client=client,
            )  # fmt: skip
        else:
            raise InvalidCredentialsError("a Bearer access token or an X-API-Key is required")

    async def terminate_others(self, principal: Principal, *, client: ClientInfo) -> int:
        """End every session of the user but the current one (a sensitive action: needs a
        step-up with MFA); returns how many were ended."""
        await self._require_step_up(principal)
        tenant, user_id, actor = principal.tenant, principal.user_id, principal.actor
        current = principal.session_id
        others = [
            r for r in await self.live(tenant=tenant, user_id=user_id) if r.session_id != current
        ]
        for record in others:
            await self._revocations.revoke_session(
                tenant=tenant, session_id=record.session_id, reason=RevocationReason.LOGOUT
            )
            await self._emit("session.terminated", tenant, record, actor, client)
        return len(others)

    async def extend(
        self,
        *,
        tenant: str,
        session_id: str,
        by: timedelta,
        actor: Actor,
        client: ClientInfo,
    ) -> SessionRecord:
        """Push a session's end out by `by`, never beyond the maximum lifetime from now."""
        record = await self.get(tenant=tenant, session_id=session_id, user_id=None)
        now = self._clock()
        expires_at = min(record.expires_at + by, now + self._max_lifetime)
        if expires_at <= record.expires_at:
            raise InvalidRequestError("the session already runs to the longest lifetime allowed")
        if not await self._families.extend(record.family_id, expires_at=expires_at):
            raise NotFoundError("no such session")
        await self._sessions.extend(tenant=tenant, session_id=session_id, expires_at=expires_at)
        await self._emit("session.extended", tenant, record, actor, client)
        return await self.get(tenant=tenant, session_id=session_id, user_id=None)

    async def _emit(
        self, action: str, tenant: str, record: SessionRecord, actor: Actor, client: ClientInfo
    ) -> None:
        await self._audit.emit(
            client.event(
                action,
                outcome=Outcome.SUCCESS,
                actor=actor,
                tenant=tenant,
                target_type="session",
                target_id=record.session_id,
                details={"userId": record.user_id},
            )
        )
