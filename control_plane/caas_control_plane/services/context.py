"""Who is calling and from where: what services need for audit events and sessions."""

import ipaddress
from dataclasses import dataclass, field
from typing import Any, Final

from caas_control_plane.auth.signing import AccessClaims
from caas_core.domain.api_key_records import ApiKeyRecord
from caas_core.domain.audit import Actor, AuditEvent, Outcome

# Every client "address" that does not parse (only a misconfigured trusted proxy forwards such
# text) shares one budget: inventing new junk must not buy a fresh budget.
UNPARSEABLE_ADDRESS: Final = "unparseable"
_IPV6_SUBSCRIBER_PREFIX: Final = 64


def address_bucket(ip: str) -> str:
    """What per-address limits and lockouts count: an IPv4 address, or an IPv6 /64 — a
    subscriber's usual allocation, whose holder can rotate through its addresses at will."""
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return UNPARSEABLE_ADDRESS
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:  # an IPv4 client seen through an IPv6 socket
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, _IPV6_SUBSCRIBER_PREFIX), strict=False))
    return str(address)


@dataclass(frozen=True, slots=True, kw_only=True)
class ClientInfo:
    """Request metadata recorded with sessions and audit events."""

    ip: str | None = None
    user_agent: str | None = None
    request_id: str | None = None

    @property
    def address_bucket(self) -> str | None:
        """The unit of per-address limits this client counts against (None: no address)."""
        return None if self.ip is None else address_bucket(self.ip)

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


def key_actor(record: ApiKeyRecord) -> Actor:
    """A tenant back end, by the API key it presented, as an audit actor."""
    return Actor(type="api_key", id=record.key_id)


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
