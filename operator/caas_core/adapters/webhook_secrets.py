"""The dispatcher's `SigningSecrets`: REST endpoints' sealed secrets opened with the KEK, operator
endpoints' secrets read from their Kubernetes Secret (cached by fingerprint: a Secret is read
again only when the registered fingerprint changes, i.e. after the operator re-registered)."""

import base64
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Final

from lightkube import AsyncClient
from lightkube.core.exceptions import ApiError
from lightkube.resources.core_v1 import Secret

from caas_core.domain.webhook_records import SecretRef, WebhookEndpoint, fingerprint
from caas_core.domain.webhook_secrets import (
    SecretSealer,
    SecretUnavailableError,
    live_secrets,
)

SecretReader = Callable[[SecretRef], Awaitable[str | None]]
_CACHE_LIMIT: Final = 10_000


def kubernetes_secret_reader(client: AsyncClient) -> SecretReader:
    """Reads one key of a Kubernetes Secret (None when the Secret or the key is missing)."""

    async def read(ref: SecretRef) -> str | None:
        try:
            secret = await client.get(Secret, name=ref.name, namespace=ref.namespace)
        except ApiError as exc:
            if exc.status.code == 404:
                return None
            raise
        value = (secret.data or {}).get(ref.key)
        return None if value is None else base64.b64decode(value).decode("ascii")

    return read


class EndpointSecrets:
    """The live signing secrets of any endpoint, current first."""

    def __init__(self, *, sealer: SecretSealer, read_secret: SecretReader | None) -> None:
        self._sealer = sealer
        self._read = read_secret
        self._kube_cache: dict[tuple[str, str], str] = {}

    async def signing_secrets(self, endpoint: WebhookEndpoint, *, now: datetime) -> tuple[str, ...]:
        """Every secret signing deliveries to `endpoint` at `now` (SecretUnavailableError when
        there is none to sign with)."""
        if endpoint.secret_ref is not None:
            return (await self._from_kubernetes(endpoint, endpoint.secret_ref),)
        live = live_secrets(endpoint.secrets, now=now)
        if not live:
            raise SecretUnavailableError(f"endpoint {endpoint.endpoint_id} has no live secret")
        try:
            return tuple(
                self._sealer.open(s.sealed, endpoint_id=endpoint.endpoint_id) for s in live
            )
        except Exception as exc:
            raise SecretUnavailableError(
                f"endpoint {endpoint.endpoint_id}: a sealed secret does not open ({exc})"
            ) from None

    async def _from_kubernetes(self, endpoint: WebhookEndpoint, ref: SecretRef) -> str:
        key = (endpoint.endpoint_id, endpoint.secret_fingerprint)
        cached = self._kube_cache.get(key)
        if cached is not None:
            return cached
        if self._read is None:
            raise SecretUnavailableError("this process cannot read Kubernetes Secrets")
        secret = await self._read(ref)
        if secret is None:
            raise SecretUnavailableError(f"Secret {ref.namespace}/{ref.name} has no {ref.key}")
        if fingerprint(secret) != endpoint.secret_fingerprint:
            # The Secret changed after registration: sign with what receivers were told of only
            # once the operator registered it (it re-registers on its next resync).
            raise SecretUnavailableError(
                f"Secret {ref.namespace}/{ref.name} does not match the registered fingerprint"
            )
        if len(self._kube_cache) >= _CACHE_LIMIT:
            self._kube_cache.clear()
        self._kube_cache[key] = secret
        return secret
