"""What the namespaced kinds (ApiKey, Webhook, RetentionPolicy) share: finding their tenant,
Secrets they own, and status written the Tenant handlers' way (only on change, one Event per
Ready transition)."""

import base64
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

import kopf
from lightkube import ApiError, AsyncClient
from lightkube.generic_resource import create_global_resource
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Namespace, Secret
from pymongo.errors import PyMongoError

from caas_core.crd.tenant import KIND as TENANT_KIND
from caas_core.crd.tenant import PLURAL as TENANT_PLURAL
from caas_core.crd.tenant import VERSION as TENANT_VERSION
from caas_core.domain.conditions import (
    ConditionStatus,
    DesiredCondition,
    dump_conditions,
    find_condition,
    parse_conditions,
    set_conditions,
    status_differs,
)
from caas_core.domain.naming import (
    API_GROUP,
    MANAGED_BY,
    MANAGED_BY_LABEL,
    TENANT_LABEL,
    InvalidTenantNameError,
    TenantNames,
    tenant_names,
)
from caas_operator.context import FIELD_MANAGER
from caas_operator.kube import Owner
from caas_operator.outcomes import failure as step_failure
from caas_operator.planning import MONGO_READY, READY, retry_delay

_NOT_FOUND: Final = 404
_CONFLICT: Final = 409
TenantResource = create_global_resource(API_GROUP, TENANT_VERSION, TENANT_KIND, TENANT_PLURAL)


# --- The tenant of a namespace -----------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Failure:
    """Why a resource is not Ready, as its condition will say."""

    reason: str
    message: str
    # False when only a human can fix it; the resync timer looks again anyway.
    retryable: bool = False


class ScopeError(Exception):
    """The resource's namespace does not lead to a usable tenant."""

    def __init__(self, failure: Failure) -> None:
        super().__init__(failure.message)
        self.failure = failure


@dataclass(frozen=True, slots=True, kw_only=True)
class TenantScope:
    """The tenant a namespaced resource belongs to."""

    names: TenantNames
    spec: Mapping[str, Any] = field(repr=False)

    @property
    def tenant(self) -> str:
        """The tenant's name."""
        return self.names.tenant

    def quota(self, key: str) -> int | None:
        """A quota from the Tenant's spec.plan (e.g. maxApiKeys); None when it sets none."""
        plan = self.spec.get("plan")
        value = plan.get(key) if isinstance(plan, Mapping) else None
        return value if isinstance(value, int) and not isinstance(value, bool) else None


def resolve_scope(
    *,
    kind: str,
    namespace: str,
    namespace_labels: Mapping[str, str] | None,
    tenant: Mapping[str, Any] | None,
) -> TenantScope:
    """The tenant named by the namespace's label, checked against the Tenant itself (pure)."""
    if namespace_labels is None:
        raise ScopeError(
            Failure(reason="NoTenant", message=f"namespace {namespace} does not exist")
        )
    label = namespace_labels.get(TENANT_LABEL)
    if not label:
        raise ScopeError(
            Failure(
                reason="NoTenant",
                message=(
                    f"namespace {namespace} has no {TENANT_LABEL} label: a {kind} belongs in its "
                    "tenant's namespace (tenant-<name>, made by the operator for each Tenant)"
                ),
            )
        )
    try:
        names = tenant_names(label)
    except InvalidTenantNameError as exc:
        raise ScopeError(
            Failure(reason="NoTenant", message=f"namespace {namespace}: {exc}")
        ) from None
    # A label alone is not proof: anyone allowed to label a namespace could claim a tenant.
    if names.namespace != namespace:
        raise ScopeError(
            Failure(
                reason="NamespaceMismatch",
                message=(
                    f"namespace {namespace} is labelled for tenant {label}, whose namespace is "
                    f"{names.namespace}; create the {kind} there"
                ),
            )
        )
    if tenant is None:
        raise ScopeError(
            Failure(
                reason="TenantNotFound",
                message=f"tenant {label} (named by namespace {namespace}) does not exist",
                retryable=True,
            )
        )
    metadata = tenant.get("metadata") or {}
    if metadata.get("deletionTimestamp"):
        raise ScopeError(
            Failure(reason="TenantTerminating", message=f"tenant {label} is being deleted")
        )
    spec = tenant.get("spec")
    return TenantScope(names=names, spec=spec if isinstance(spec, Mapping) else {})


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


# --- Secrets owned by a resource ---------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class ObservedSecret:
    """A Secret at the name a resource writes to."""

    owned: bool  # carries a controller ownerReference to this very resource (by uid)
    resource_version: str | None
    annotations: Mapping[str, str]
    data: Mapping[str, str] = field(repr=False)


async def read_secret(
    client: AsyncClient, *, namespace: str, name: str, owner_uid: str
) -> ObservedSecret | None:
    """The Secret, or None when it does not exist."""
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


def object_labels(names: TenantNames, *, kind_label: str, name: str) -> dict[str, str]:
    """Labels of an object made for a namespaced resource."""
    return {
        TENANT_LABEL: names.tenant,
        MANAGED_BY_LABEL: MANAGED_BY,
        f"{API_GROUP}/{kind_label}": name,
    }


def owner_of(*, api_version: str, kind: str, name: str, uid: str) -> Owner:
    """The resource as the controller owner of its Secret."""
    return Owner(api_version=api_version, kind=kind, name=name, uid=uid)


# --- Status ------------------------------------------------------------------------------------


def condition(
    type_: str, failure: Failure | None, *, ok_reason: str, ok_message: str
) -> DesiredCondition:
    """A condition that is True with ok_reason, or False with the failure's reason."""
    if failure is None:
        return DesiredCondition(
            type=type_, status=ConditionStatus.TRUE, reason=ok_reason, message=ok_message
        )
    return DesiredCondition(
        type=type_, status=ConditionStatus.FALSE, reason=failure.reason, message=failure.message
    )


def build_status(
    *,
    old_status: Mapping[str, Any] | None,
    conditions: Sequence[DesiredCondition],
    generation: int | None,
    now: datetime,
    fields: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Conditions merged with the old ones (transition times kept), plus the kind's fields."""
    merged = set_conditions(
        parse_conditions((old_status or {}).get("conditions")),
        conditions,
        observed_generation=generation,
        now=now,
    )
    status: dict[str, Any] = {"conditions": dump_conditions(merged)}
    if generation is not None:
        status["observedGeneration"] = generation
    return status | dict(fields or {})


@dataclass(frozen=True, slots=True, kw_only=True)
class KindResult:
    """The status to write, and whether the handler should retry."""

    status: dict[str, Any]
    retry: bool = False
    summary: str = ""


def result(status: dict[str, Any], failures: Sequence[Failure]) -> KindResult:
    """A KindResult: retried when any failure is retryable."""
    return KindResult(
        status=status,
        retry=any(f.retryable for f in failures),
        summary="; ".join(f"{f.reason}: {f.message}" for f in failures),
    )


def store_failure(exc: Exception) -> Failure:
    """What a kind that keeps a Secret and a store record reports for an error no rule of its own
    explains: a concurrent Secret change, a MongoDB failure, anything else (all retried)."""
    if isinstance(exc, SecretRaceError):
        return Failure(reason="SecretConflict", message=str(exc), retryable=True)
    outcome = step_failure(MONGO_READY if isinstance(exc, PyMongoError) else READY, exc)
    return Failure(reason=outcome.reason, message=outcome.message, retryable=True)


def failed_result(
    old_status: Mapping[str, Any] | None,
    generation: int | None,
    now: datetime,
    *,
    failure: Failure,
    ok_reason: str,
    fields: Mapping[str, Any] | None = None,
) -> KindResult:
    """The outcome of a reconcile that stopped at `failure`: Ready=False with its reason."""
    status = build_status(
        old_status=old_status,
        conditions=[ready(failure, ok_reason=ok_reason, ok_message="")],
        generation=generation,
        now=now,
        fields=fields,
    )
    return result(status, [failure])


@dataclass(frozen=True, slots=True, kw_only=True)
class ReadyChange:
    """A change of the Ready condition worth announcing as a Kubernetes Event."""

    ready: bool
    reason: str
    message: str


def ready_change(
    old_status: Mapping[str, Any] | None, new_status: Mapping[str, Any]
) -> ReadyChange | None:
    """Ready's new state if its status or reason changed, else None (events are for humans)."""
    old = find_condition(parse_conditions((old_status or {}).get("conditions")), READY)
    new = find_condition(parse_conditions(new_status.get("conditions")), READY)
    if new is None or (old is not None and (old.status, old.reason) == (new.status, new.reason)):
        return None
    return ReadyChange(
        ready=new.status is ConditionStatus.TRUE, reason=new.reason, message=new.message
    )


def publish(
    outcome: KindResult,
    *,
    body: kopf.Body,
    old_status: Mapping[str, Any],
    patch: kopf.Patch,
    retry: int,
) -> None:
    """Patch status only when it changed, post one Event per Ready change, retry if asked."""
    if status_differs(old_status, outcome.status):
        patch.status.update(outcome.status)
    change = ready_change(old_status, outcome.status)
    if change is not None:
        post = kopf.info if change.ready else kopf.warn
        post(body, reason=change.reason, message=change.message)
    if outcome.retry:
        raise kopf.TemporaryError(outcome.summary, delay=retry_delay(retry))


def ready(failure: Failure | None, *, ok_reason: str, ok_message: str) -> DesiredCondition:
    """The Ready condition."""
    return condition(READY, failure, ok_reason=ok_reason, ok_message=ok_message)
