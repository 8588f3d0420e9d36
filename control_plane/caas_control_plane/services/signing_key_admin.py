"""Operators' signing-key administration (`/internal/signing-keys`): who may, list, rotate."""

import hmac
from enum import Enum
from typing import Any

from caas_control_plane.services.context import ClientInfo
from caas_control_plane.services.keys import KeyService
from caas_core.domain.audit import Actor, AuditWriter, Outcome

_OPERATOR = Actor(type="system", id="internal-token")


class InternalAccess(Enum):
    """What an internal-token check decided."""

    DISABLED = "disabled"  # no token configured: the routes do not exist
    REFUSED = "refused"  # missing or wrong token
    ALLOWED = "allowed"


def internal_access(*, expected: str | None, presented: str | None) -> InternalAccess:
    """Compare the presented internal token with the configured one in constant time."""
    if expected is None:
        return InternalAccess.DISABLED
    if hmac.compare_digest((presented or "").encode(), expected.encode()):
        return InternalAccess.ALLOWED
    return InternalAccess.REFUSED


class SigningKeyAdmin:
    """Lists stored keys and rotates them, each rotation audited."""

    def __init__(self, *, keys: KeyService, audit: AuditWriter) -> None:
        self._keys = keys
        self._audit = audit

    async def describe(self) -> list[dict[str, Any]]:
        """Every stored key (re-read from the store) and its lifecycle state."""
        await self._keys.reload()
        return self._keys.describe()

    async def rotate(self, *, immediate: bool, client: ClientInfo) -> dict[str, Any]:
        """Add the next signing key (race-safe across instances) and audit the rotation."""
        result: dict[str, Any] = await self._keys.rotate(immediate=immediate)
        await self._audit.emit(
            client.event(
                "auth.signing_key.rotated",
                outcome=Outcome.SUCCESS,
                actor=_OPERATOR,
                details={"immediate": immediate, "rotated": result["rotated"]},
            )
        )
        return result
