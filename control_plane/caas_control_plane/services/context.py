"""Who is calling and from where: what services need for audit events and sessions."""

from dataclasses import dataclass, field
from typing import Any

from caas_control_plane.auth.signing import AccessClaims
from caas_core.audit import Actor, AuditEvent, Outcome


@dataclass(frozen=True, slots=True, kw_only=True)
class ClientInfo:
    """Request metadata recorded with sessions and audit events."""

    ip: str | None = None
    user_agent: str | None = None
    request_id: str | None = None

    def event(
        self,
        action: str,
        *,
        outcome: Outcome,
        actor: Actor,
        tenant: str | None = None,
        target_type: str | None = None,
        target_id: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> AuditEvent:
        """An audit event carrying this request's metadata."""
        return AuditEvent(
            action=action,
            outcome=outcome,
            actor=actor,
            tenant=tenant,
            target_type=target_type,
            target_id=target_id,
            ip=self.ip,
            user_agent=self.user_agent,
            request_id=self.request_id,
            details=details or {},
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Principal:
    """An authenticated end user: the verified, unrevoked claims of their access token."""

    tenant: str
    user_id: str
    session_id: str
    jti: str
    claims: AccessClaims = field(repr=False)

    @property
    def actor(self) -> Actor:
        """This user as an audit actor."""
        return Actor(type="user", id=self.user_id)

    @classmethod
    def from_claims(cls, claims: AccessClaims) -> "Principal":
        """The principal a verified token names."""
        return cls(
            tenant=claims.tid,
            user_id=claims.sub,
            session_id=claims.sid,
            jti=claims.jti,
            claims=claims,
        )
