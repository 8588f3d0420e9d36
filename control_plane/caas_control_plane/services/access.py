"""Authentication of end users: Bearer access token -> verified, unrevoked `Principal`."""

from collections.abc import Callable
from datetime import datetime

from caas_control_plane.auth.signing import TokenError
from caas_control_plane.services.context import Principal
from caas_control_plane.services.errors import InvalidCredentialsError
from caas_control_plane.services.keys import KeyService
from caas_control_plane.services.revocation import RevocationService


class AccessTokenError(InvalidCredentialsError):
    """The Bearer token is missing, invalid, expired or revoked (`reason` says which)."""

    def __init__(self, detail: str, *, reason: str) -> None:
        super().__init__(detail)
        self.reason = reason


class AccessGuard:
    """Signature and claims (the key ring), then the in-memory revocation set: no I/O normally."""

    def __init__(
        self, *, keys: KeyService, revocations: RevocationService, clock: Callable[[], datetime]
    ) -> None:
        self._keys = keys
        self._revocations = revocations
        self._clock = clock

    async def authenticate(self, token: str) -> Principal:
        """The principal of a valid token, else `AccessTokenError`."""
        try:
            claims = await self._keys.verify_or_reload(token, now=self._clock())
        except TokenError as exc:
            raise AccessTokenError(f"invalid access token: {exc}", reason=exc.reason) from None
        revoked = self._revocations.check(claims)
        if revoked is not None:
            raise AccessTokenError(f"access token revoked ({revoked})", reason="revoked")
        return Principal.from_claims(claims)


def same_tenant(principal_tenant: str, resource_tenant: str) -> bool:
    """Tenant isolation: whether a caller of `principal_tenant` may see the resource at all."""
    # Plain equality is enough: tenant names are public identifiers, not secrets.
    return principal_tenant == resource_tenant
