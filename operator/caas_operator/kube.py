"""Kubernetes objects of a tenant: its namespace and credentials Secret (server-side apply)."""

import base64
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from lightkube import ApiError, AsyncClient
from lightkube.models.meta_v1 import ObjectMeta, OwnerReference
from lightkube.resources.core_v1 import Namespace, Secret

from caas_operator.context import FIELD_MANAGER

_NOT_FOUND: Final = 404


@dataclass(frozen=True, slots=True, kw_only=True)
class Owner:
    """The Tenant that owns an object, so garbage collection follows it."""

    api_version: str
    kind: str
    name: str
    uid: str

    def reference(self) -> OwnerReference:
        """An ownerReference naming the Tenant as controller."""
        return OwnerReference(
            apiVersion=self.api_version,
            kind=self.kind,
            name=self.name,
            uid=self.uid,
            controller=True,
        )


async def read_secret_data(
    client: AsyncClient, *, namespace: str, name: str
) -> dict[str, str] | None:
    """Decoded data of the Secret, or None when it (or its namespace) does not exist."""
    try:
        secret = await client.get(Secret, name=name, namespace=namespace)
    except ApiError as exc:
        if exc.status.code == _NOT_FOUND:
            return None
        raise
    return {key: base64.b64decode(value).decode() for key, value in (secret.data or {}).items()}


async def apply_namespace(
    client: AsyncClient, *, name: str, labels: Mapping[str, str], owner: Owner
) -> None:
    """Create or converge the namespace."""
    namespace = Namespace(
        metadata=ObjectMeta(name=name, labels=dict(labels), ownerReferences=[owner.reference()])
    )
    await client.apply(namespace, field_manager=FIELD_MANAGER, force=True)


async def apply_secret(
    client: AsyncClient,
    *,
    namespace: str,
    name: str,
    labels: Mapping[str, str],
    data: Mapping[str, str],
    owner: Owner,
) -> None:
    """Create or converge an Opaque Secret; applying identical data changes nothing."""
    secret = Secret(
        metadata=ObjectMeta(
            name=name,
            namespace=namespace,
            labels=dict(labels),
            ownerReferences=[owner.reference()],
        ),
        type="Opaque",
        data={key: base64.b64encode(value.encode()).decode() for key, value in data.items()},
    )
    await client.apply(secret, field_manager=FIELD_MANAGER, force=True)


async def delete_namespace(client: AsyncClient, *, name: str) -> bool:
    """Start deleting the namespace; False when it was already gone."""
    try:
        await client.delete(Namespace, name)
    except ApiError as exc:
        if exc.status.code == _NOT_FOUND:
            return False
        raise
    return True
