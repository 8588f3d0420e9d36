"""One reconcile of an AccessPolicy: gather → read the spec → plan → one store write → status."""

import asyncio
import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from caas_core.adapters.authz_store import AuthzStore
from caas_core.authz.documents import SCHEMA_KEY, Kind, LimitError, ObjectError, SetError
from caas_core.authz.objects import ForeignObjectError, StoredObject
from caas_core.crd.accesspolicy import NAMES
from caas_core.domain.api_key_records import ResourceRef
from caas_core.domain.conditions import utc_now
from caas_core.domain.naming import PLATFORM_DATABASE
from caas_operator.accesspolicy.plan import (
    AccessPolicyObserved,
    Key,
    foreign_failure,
    plan_access_policy,
    tenant_of,
)
from caas_operator.accesspolicy.spec import Desired, Refused, read_spec
from caas_operator.accesspolicy.status import (
    APPLIED,
    kept_fields,
    ready_message,
    refused_message,
    status_fields,
)
from caas_operator.context import OperatorContext
from caas_operator.shared.kube import gather_scope
from caas_operator.shared.outcomes import store_failure
from caas_operator.shared.scope import Failure, ScopeError
from caas_operator.shared.status import KindResult, build_status, ready, result

logger = logging.getLogger(__name__)


def store_of(context: OperatorContext) -> AuthzStore:
    """The shared authorization store in the platform database."""
    return AuthzStore(context.clients.mongo[PLATFORM_DATABASE])


async def reconcile_access_policy(
    context: OperatorContext,
    *,
    namespace: str,
    name: str,
    uid: str,
    spec: Mapping[str, Any],
    old_status: Mapping[str, Any] | None,
    generation: int | None,
) -> KindResult:
    """Validate and store the resource's policies; never raises for backend errors."""
    now = utc_now()
    source = ResourceRef(namespace=namespace, name=name, uid=uid)
    tenant: str | None = None
    try:
        async with asyncio.timeout(context.settings.step_timeout):
            scope = await gather_scope(context.kube, kind=NAMES.kind, namespace=namespace)
            tenant = scope.tenant
            desired, version = await _converge(
                context, spec, tenant=tenant, source=source, old_status=old_status
            )
    except (ScopeError, Refused) as exc:
        return _refused(old_status, generation, now, failure=exc.failure, tenant=tenant)
    except Exception as exc:  # every failure becomes a condition, never a crashed handler
        failure = _describe(exc)
        return _refused(old_status, generation, now, failure=failure, tenant=tenant)
    status = build_status(
        old_status=old_status,
        conditions=[
            ready(
                None,
                ok_reason=APPLIED,
                ok_message=ready_message(
                    tenant=tenant,
                    policies=desired.policies,
                    from_text=desired.from_text,
                    version=version,
                ),
            )
        ],
        generation=generation,
        now=now,
        fields=status_fields(
            tenant=tenant,
            policies=desired.policies,
            applied_generation=generation,
            version=version,
        ),
    )
    return result(status, [])


async def _converge(
    context: OperatorContext,
    spec: Mapping[str, Any],
    *,
    tenant: str,
    source: ResourceRef,
    old_status: Mapping[str, Any] | None,
) -> tuple[Desired, str]:
    """Read, plan and write at most once; the policies in effect and the policy-set version."""
    store = store_of(context)
    if not context.state.authz_indexes:
        await store.ensure_indexes()
        context.state.authz_indexes = True
    stored_schema = await store.get(tenant, Kind.SCHEMA, SCHEMA_KEY)
    desired = read_spec(spec, tenant=tenant, stored_schema=stored_schema, uid=source.uid)
    observed = AccessPolicyObserved(
        source=source,
        stored=await store.find_by_source(source.uid),
        existing=await _existing(store, tenant, desired),
    )
    plan = plan_access_policy(desired, observed)
    if plan.failure is not None:
        raise Refused(plan.failure)
    if plan.write is None:
        # Converged: the version this resource's objects were last written at stays.
        known = (old_status or {}).get("policySetVersion")
        return desired, str(known) if known else await store.version(tenant)
    committed = await store.replace_source(tenant, source, plan.write)
    logger.info(
        "access policy stored",
        extra={
            "namespace": source.namespace,
            "accesspolicy": source.name,
            "version": committed.version,
        },
    )
    return desired, committed.version


async def _existing(store: AuthzStore, tenant: str, desired: Desired) -> dict[Key, StoredObject]:
    """The tenant's objects at the keys the spec names (one listing per kind it uses)."""
    wanted = {(put.kind, put.key) for put in desired.puts}
    found: dict[Key, StoredObject] = {}
    for kind in {kind for kind, _ in wanted}:
        for obj in await store.list_objects(tenant, kind):
            if (kind, obj.key) in wanted:
                found[(kind, obj.key)] = obj
    return found


def _describe(exc: Exception) -> Failure:
    """Refusals of the store's own checks (the whole set, at write time) are not retried."""
    if isinstance(exc, ForeignObjectError):
        # Written by another writer between the plan and the write.
        return foreign_failure(exc.stored)
    if isinstance(exc, ObjectError):
        # The change would make an object of the tenant invalid (e.g. a REST policy naming an
        # action this resource's schema drops); the store names it.
        message = f"the tenant's objects would not read after this change: {exc}"
        return Failure(reason="InvalidPolicySet", message=message)
    if isinstance(exc, SetError):
        return Failure(reason="InvalidPolicySet", message=str(exc))
    if isinstance(exc, LimitError):
        return Failure(reason="PolicyLimit", message=str(exc))
    return store_failure(exc)


def _refused(
    old_status: Mapping[str, Any] | None,
    generation: int | None,
    now: datetime,
    *,
    failure: Failure,
    tenant: str | None,
) -> KindResult:
    # Nothing was written: the condition says so, the fields still describe what is in effect.
    shown = Failure(
        reason=failure.reason,
        message=refused_message(failure.message, old_status),
        retryable=failure.retryable,
    )
    status = build_status(
        old_status=old_status,
        conditions=[ready(shown, ok_reason=APPLIED, ok_message="")],
        generation=generation,
        now=now,
        fields=kept_fields(old_status, tenant=tenant),
    )
    return result(status, [failure])


async def remove_access_policy(context: OperatorContext, *, uid: str) -> int:
    """Delete every object the resource wrote (one transaction); how many there were.

    Raises when the store refuses (e.g. the tenant's REST policies still need this resource's
    schema): the finalizer stays and the deletion is retried, since the objects must not
    outlive the resource unowned.
    """
    store = store_of(context)
    stored = await store.find_by_source(uid)
    if not stored:
        return 0
    ref = stored[0].source
    assert ref is not None  # found by its source
    tenant = tenant_of(ref)
    if tenant is None:
        raise RuntimeError(f"objects of AccessPolicy {uid} name no tenant namespace: {ref}")
    try:
        await store.replace_source(tenant, ref, [])
    except (ObjectError, SetError) as exc:
        # Only a schema can be needed by others: the tenant's other objects were checked by it.
        raise RemovalRefusedError(
            f"the tenant's other objects do not read without this resource's schema ({exc}); "
            "change or delete them first, or move the schema to its new owner"
        ) from exc
    return len(stored)


class RemovalRefusedError(RuntimeError):
    """The store refused to remove a deleted resource's objects; the finalizer stays."""
