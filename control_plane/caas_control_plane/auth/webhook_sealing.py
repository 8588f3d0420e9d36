"""The KEK side of `caas_core.domain.webhook_secrets.SecretSealer`: REST endpoints' signing
secrets sealed with AES-256-GCM under the control plane's KEK, bound to the endpoint id (used by
the API, which seals, and by the dispatcher, which opens)."""

from collections.abc import Mapping

from caas_control_plane.auth.sealing import seal_secret, unseal_secret
from caas_core.domain.webhook_secrets import SEAL_PURPOSE


class WebhookSecretSealer:
    """Seals under the current KEK; opens under any available one (KEK rotation)."""

    def __init__(self, *, kek_id: str, keks: Mapping[str, bytes]) -> None:
        self._kek_id = kek_id
        self._keks = dict(keks)

    def seal(self, secret: str, *, endpoint_id: str) -> str:
        """The sealed text of a `whsec_` secret, bound to the endpoint."""
        return seal_secret(
            secret.encode("ascii"), kek_id=self._kek_id, kek=self._keks[self._kek_id],
            purpose=SEAL_PURPOSE, subject=endpoint_id,
        )  # fmt: skip

    def open(self, sealed: str, *, endpoint_id: str) -> str:
        """The `whsec_` secret sealed for that endpoint (SealError when it does not open)."""
        return unseal_secret(
            sealed, keks=self._keks, purpose=SEAL_PURPOSE, subject=endpoint_id
        ).decode("ascii")
