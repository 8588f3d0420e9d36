"""Webhook signing secrets: where each endpoint's live, rotation with an overlap window, and the
one interface the dispatcher asks for the secrets to sign with.

**Decision — where secrets live:**

- Endpoints of a `Webhook` resource (`managedBy=operator`): the `whsec_` secret stays in the
  Kubernetes Secret named by `secretRef`, where the tenant's tooling reads it; Mongo holds only
  its fingerprint. The operator has no key-encryption key and needs none.
- Endpoints created through REST (`managedBy=api`): the secrets are stored in the endpoint's
  document, each *sealed* (AES-256-GCM under the control plane's KEK, bound to the purpose
  `webhook-signing` and to the endpoint id, so a sealed blob copied onto another endpoint does not
  open). Only control-plane processes hold the KEK — the API (which seals on create and
  rotation) and the dispatcher (which opens to sign); a MongoDB dump alone reveals no secret. The
  `SecretSealer` protocol keeps the cipher out of `caas_core` (it lives in
  `caas_control_plane.auth.webhook_sealing`).

**Rotation:** a new secret becomes current at once; the one it replaces keeps signing until
`expires_at` (the overlap window), so a receiver can switch its verifying secret at any moment
in the window. While both are live every delivery carries both signatures
(`webhook-signature: v1,<sig by current> v1,<sig by previous>`, which Standard Webhooks allows).
A secret past its window is dropped at the next rotation and ignored before that.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Final, Protocol

if TYPE_CHECKING:
    from caas_core.domain.webhook_records import WebhookEndpoint

SEAL_PURPOSE: Final = "webhook-signing"
DEFAULT_OVERLAP: Final = timedelta(hours=24)
MAX_LIVE_SECRETS: Final = 2  # the current one and the one it replaced


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredSecret:
    """One signing secret of a REST endpoint, sealed; `expires_at` None: the current one."""

    sealed: str = field(repr=False)
    fingerprint: str
    created_at: datetime
    expires_at: datetime | None = None

    def live(self, now: datetime) -> bool:
        """Whether it still signs at `now`."""
        return self.expires_at is None or now < self.expires_at


def current_secret(stored: Sequence[StoredSecret]) -> StoredSecret | None:
    """The current secret (the one without an expiry)."""
    return next((s for s in stored if s.expires_at is None), None)


def live_secrets(stored: Sequence[StoredSecret], *, now: datetime) -> tuple[StoredSecret, ...]:
    """The secrets that sign at `now`: the current one first, then the others by newest."""
    live = [s for s in stored if s.live(now)]
    live.sort(key=lambda s: (s.expires_at is not None, -s.created_at.timestamp()))
    return tuple(live)


def rotate(
    stored: Sequence[StoredSecret], new: StoredSecret, *, now: datetime, overlap: timedelta
) -> tuple[StoredSecret, ...]:
    """The secrets after `new` replaces the current one, which signs on for `overlap`.

    A zero overlap retires the old secret at once. Expired secrets are dropped, and so is a
    previous secret still inside its window (two rotations in one window: the oldest goes —
    at most `MAX_LIVE_SECRETS` sign at a time, so a signature header stays short).
    """
    if new.expires_at is not None:
        raise ValueError("the new secret is the current one: no expiry")
    if overlap < timedelta(0):
        raise ValueError("the overlap window cannot be negative")
    retired = [
        StoredSecret(
            sealed=s.sealed,
            fingerprint=s.fingerprint,
            created_at=s.created_at,
            expires_at=now + overlap,
        )
        for s in stored
        if s.expires_at is None and overlap > timedelta(0)
    ]
    return (new, *retired[: MAX_LIVE_SECRETS - 1])


class SecretSealer(Protocol):
    """Seals and opens REST endpoints' secrets (implemented where the KEK is)."""

    def seal(self, secret: str, *, endpoint_id: str) -> str:
        """The sealed text of a `whsec_` secret, bound to the endpoint."""
        ...

    def open(self, sealed: str, *, endpoint_id: str) -> str:
        """The `whsec_` secret sealed for that endpoint; raises when it does not open."""
        ...


class SecretUnavailableError(RuntimeError):
    """An endpoint's signing secret cannot be read (Secret gone, sealed blob unopenable)."""


class SigningSecrets(Protocol):
    """What the dispatcher signs with: the endpoint's live `whsec_` secrets, current first."""

    async def signing_secrets(
        self, endpoint: "WebhookEndpoint", *, now: datetime
    ) -> tuple[str, ...]:
        """Every secret that signs deliveries to `endpoint` at `now` (never empty: raises
        SecretUnavailableError instead, and the delivery is retried later)."""
        ...
