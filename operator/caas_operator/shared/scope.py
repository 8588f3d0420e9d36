"""Pure: which tenant a namespaced resource (ApiKey, Webhook, RetentionPolicy) belongs to."""

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from caas_core.domain.naming import TENANT_LABEL, InvalidTenantNameError, TenantNames, tenant_names


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
