"""Kubernetes objects of a tenant: its namespace and credentials Secret (server-side apply)."""

import base64
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

from lightkube import ApiError, AsyncClient
from lightkube.models.meta_v1 import ObjectMeta, OwnerReference
from lightkube.resources.core_v1 import Namespace, Secret

from caas_operator.context import FIELD_MANAGER

_NOT_FOUND: Final = 404
_FORBIDDEN: Final = 403


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


@dataclass(frozen=True, slots=True, kw_only=True)
class ObjectState:
    """What the reconcile needs to know about an existing namespace or Secret."""

    labels: Mapping[str, str]
    owner_uids: frozenset[str]
    terminating: bool = False
    # repr=False: a Secret's decoded data holds passwords.
    data: Mapping[str, str] = field(default_factory=dict, repr=False)


def _owner_uids(meta: ObjectMeta | None) -> frozenset[str]:
    refs = (meta.ownerReferences if meta else None) or []
    return frozenset(r.uid for r in refs if r.controller)


async def read_namespace(client: AsyncClient, *, name: str) -> ObjectState | None:
    """The namespace's labels, controller and phase; None when it does not exist."""
    try:
        namespace = await client.get(Namespace, name=name)
    except ApiError as exc:
        if exc.status.code == _NOT_FOUND:
            return None
        raise
    meta = namespace.metadata
    return ObjectState(
        labels=dict((meta.labels if meta else None) or {}),
        owner_uids=_owner_uids(meta),
        terminating=bool(meta and meta.deletionTimestamp),
    )


async def read_secret(client: AsyncClient, *, namespace: str, name: str) -> ObjectState | None:
    """The Secret's labels, controller and decoded data; None when it (or its namespace) is gone."""
    try:
        secret = await client.get(Secret, name=name, namespace=namespace)
    except ApiError as exc:
        if exc.status.code == _NOT_FOUND:
            return None
        raise
    meta = secret.metadata
    return ObjectState(
        labels=dict((meta.labels if meta else None) or {}),
        owner_uids=_owner_uids(meta),
        data={k: base64.b64decode(v).decode() for k, v in (secret.data or {}).items()},
    )


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


def namespace_terminating(exc: ApiError) -> bool:
    """Whether the API refused a write because its namespace is being deleted."""
    return exc.status.code == _FORBIDDEN and "being terminated" in (exc.status.message or "")
