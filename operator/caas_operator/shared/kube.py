"""Kubernetes I/O every kind shares: a tenant's namespace and credentials Secret (server-side
apply), the tenant of a namespaced resource, and Secrets a namespaced resource owns."""

import base64
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from lightkube import ApiError, AsyncClient
from lightkube.generic_resource import create_global_resource
from lightkube.models.meta_v1 import ObjectMeta, OwnerReference
from lightkube.resources.core_v1 import Namespace, Secret

from caas_core.crd.tenant import KIND as TENANT_KIND
from caas_core.crd.tenant import PLURAL as TENANT_PLURAL
from caas_core.domain.naming import API_GROUP, TENANT_LABEL
from caas_core.domain.naming import API_VERSION as TENANT_VERSION
from caas_operator.shared.scope import TenantScope, resolve_scope
from caas_operator.shared.status import ObservedSecret

FIELD_MANAGER: Final = "caas-operator"
_NOT_FOUND: Final = 404
_FORBIDDEN: Final = 403
_CONFLICT: Final = 409
TenantResource = create_global_resource(API_GROUP, TENANT_VERSION, TENANT_KIND, TENANT_PLURAL)


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


# --- The namespaced kinds: their tenant, and the Secrets they own -----------------------------


async def gather_scope(client: AsyncClient, *, kind: str, namespace: str) -> TenantScope:
    """Read the namespace and its Tenant, then resolve_scope (raises ScopeError)."""
    try:
        ns = await client.get(Namespace, name=namespace)
    except ApiError as exc:
        if exc.status.code != _NOT_FOUND:
            raise
        labels: Mapping[str, str] | None = None
    else:
        labels = dict((ns.metadata.labels if ns.metadata else None) or {})
    label = (labels or {}).get(TENANT_LABEL)
    tenant: Mapping[str, Any] | None = None
    if label:
        try:
            found = await client.get(TenantResource, name=label)
        except ApiError as exc:
            if exc.status.code != _NOT_FOUND:
                raise
        else:
            tenant = _as_dict(found)
    return resolve_scope(kind=kind, namespace=namespace, namespace_labels=labels, tenant=tenant)


def _as_dict(obj: Any) -> dict[str, Any]:
    converted: dict[str, Any] = obj.to_dict()
    return converted


async def read_owned_secret(
    client: AsyncClient, *, namespace: str, name: str, owner_uid: str
) -> ObservedSecret | None:
    """A namespaced resource's Secret (owned: by that resource), or None when it does not exist."""
    try:
        secret = await client.get(Secret, name=name, namespace=namespace)
    except ApiError as exc:
        if exc.status.code == _NOT_FOUND:
            return None
        raise
    meta = secret.metadata or ObjectMeta()
    owned = any(
        ref.uid == owner_uid and bool(ref.controller) for ref in (meta.ownerReferences or [])
    )
    data = {k: base64.b64decode(v).decode() for k, v in (secret.data or {}).items()}
    return ObservedSecret(
        owned=owned,
        resource_version=meta.resourceVersion,
        annotations=dict(meta.annotations or {}),
        data=data,
    )


class SecretRaceError(RuntimeError):
    """Another writer created or changed the Secret between our read and our write."""


async def write_secret(
    client: AsyncClient,
    *,
    namespace: str,
    name: str,
    secret_type: str,
    labels: Mapping[str, str],
    annotations: Mapping[str, str],
    data: Mapping[str, str],
    owner: Owner,
    resource_version: str | None,
) -> None:
    """Create the Secret (resource_version None) or replace the one read at that version."""
    secret = Secret(
        metadata=ObjectMeta(
            name=name,
            namespace=namespace,
            labels=dict(labels),
            annotations=dict(annotations),
            ownerReferences=[owner.reference()],
            resourceVersion=resource_version,
        ),
        type=secret_type,
        data={key: base64.b64encode(value.encode()).decode() for key, value in data.items()},
    )
    try:
        if resource_version is None:
            await client.create(secret, field_manager=FIELD_MANAGER)
        else:
            await client.replace(secret, field_manager=FIELD_MANAGER)
    except ApiError as exc:
        # Create-if-absent and compare-and-swap: never overwrite what someone else wrote.
        if exc.status.code == _CONFLICT:
            raise SecretRaceError(f"Secret {namespace}/{name} changed concurrently") from exc
        raise


def owner_of(*, api_version: str, kind: str, name: str, uid: str) -> Owner:
    """The resource as the controller owner of its Secret."""
    return Owner(api_version=api_version, kind=kind, name=name, uid=uid)
