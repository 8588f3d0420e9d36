"""Pure AccessPolicy lifecycle: from the desired objects and what the store holds to one write.

Order of a reconcile (the first refusal wins, and a refusal writes nothing, so the previous
valid generation stays in effect): the spec must read (`spec.read_spec`), no object it names
may belong to another writer (the REST API, or another AccessPolicy), and only a difference
from what this resource already stored is written — a resync of a converged resource bumps no
policy-set version, so no decision cache is invalidated for nothing.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from caas_core.authz.documents import Kind
from caas_core.authz.objects import ForeignObjectError, Put, StoredObject, Writer, may_write
from caas_core.domain.api_key_records import ResourceRef
from caas_core.domain.naming import NAMESPACE_PREFIX, InvalidTenantNameError, tenant_names
from caas_operator.accesspolicy.spec import Desired
from caas_operator.shared.scope import Failure

OWNED_BY_API: Final = "OwnedByApi"
OWNED_BY_RESOURCE: Final = "OwnedByAccessPolicy"

Key = tuple[Kind, str]


@dataclass(frozen=True, slots=True, kw_only=True)
class AccessPolicyObserved:
    """What the store holds for one AccessPolicy resource."""

    source: ResourceRef
    # Objects this resource wrote (the store's `find_by_source`).
    stored: Sequence[StoredObject]
    # The tenant's objects at the keys the spec names, whoever wrote them.
    existing: Mapping[Key, StoredObject]


@dataclass(frozen=True, slots=True, kw_only=True)
class AccessPolicyPlan:
    """The write to make (None: the store already holds exactly the spec), or why none can."""

    write: tuple[Put, ...] | None = None
    failure: Failure | None = None


def foreign_failure(stored: StoredObject) -> Failure:
    """The condition for an object another writer owns; the reason names which writer."""
    owner_is_api = stored.owner is Writer.API
    return Failure(
        reason=OWNED_BY_API if owner_is_api else OWNED_BY_RESOURCE,
        message=str(ForeignObjectError(stored, Writer.OPERATOR)),
    )


def plan_access_policy(desired: Desired, observed: AccessPolicyObserved) -> AccessPolicyPlan:
    """Refuse a write over another writer's objects; write only a difference."""
    for put in desired.puts:
        found = observed.existing.get((put.kind, put.key))
        if found is not None and not may_write(found, Writer.OPERATOR, observed.source):
            return AccessPolicyPlan(failure=foreign_failure(found))
    if documents(desired.puts) == documents_of(observed.stored):
        return AccessPolicyPlan()
    return AccessPolicyPlan(write=desired.puts)


def documents(puts: Sequence[Put]) -> dict[Key, Mapping[str, object]]:
    """Objects by kind and key, as a write would leave them."""
    return {(put.kind, put.key): put.document for put in puts}


def documents_of(stored: Sequence[StoredObject]) -> dict[Key, Mapping[str, object]]:
    """Stored objects by kind and key (JSON documents compare by value, not key order)."""
    return {(obj.kind, obj.key): obj.document for obj in stored}


def tenant_of(source: ResourceRef) -> str | None:
    """The tenant whose store holds a resource's objects: its namespace is `tenant-<name>`.

    A resource is reconciled only in its tenant's own namespace (`shared.scope`), so objects
    it wrote name their tenant through their source even when the Tenant is gone.
    """
    name = source.namespace.removeprefix(NAMESPACE_PREFIX)
    try:
        names = tenant_names(name)
    except InvalidTenantNameError:
        return None
    return name if names.namespace == source.namespace else None
