"""One reconcile of an ApiKey: gather → plan → apply until converged, then the status."""

import asyncio
import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final

from pydantic import ValidationError
from pymongo.errors import DuplicateKeyError

from caas_core.adapters.api_key_store import ApiKeyStore
from caas_core.crd.apikey import NAMES
from caas_core.domain.api_key_records import ForeignKeyError, KeyWriter
from caas_core.domain.api_keys import new_api_key
from caas_core.domain.conditions import utc_now
from caas_core.domain.naming import PLATFORM_DATABASE
from caas_core.resources.apikey import ApiKeySpec
from caas_core.settings import describe_validation_error
from caas_operator.apikey.plan import (
    SECRET_TYPE,
    ApiKeyObserved,
    ApiKeyPlan,
    counts_against_quota,
    plan_api_key,
    retiring,
    secret_key,
    secret_name,
)
from caas_operator.apikey.status import ISSUED, ready_message, status_fields
from caas_operator.context import OperatorContext
from caas_operator.shared.kube import gather_scope, owner_of, read_owned_secret, write_secret
from caas_operator.shared.outcomes import store_failure
from caas_operator.shared.scope import Failure, ScopeError, TenantScope
from caas_operator.shared.status import (
    KindResult,
    build_status,
    failed_result,
    object_labels,
    ready,
    result,
)

logger = logging.getLogger(__name__)

# Issue, then store, then retire: three writes at most; more means something keeps changing.
MAX_STEPS: Final = 4


def store_of(context: OperatorContext) -> ApiKeyStore:
    """The shared API-key store in the platform database."""
    return ApiKeyStore(context.clients.mongo[PLATFORM_DATABASE])


async def reconcile_api_key(
    context: OperatorContext,
    *,
    namespace: str,
    name: str,
    uid: str,
    spec: Mapping[str, Any],
    old_status: Mapping[str, Any] | None,
    generation: int | None,
) -> KindResult:
    """Issue, store, rotate or report the key of one ApiKey; never raises for backend errors."""
    now = utc_now()
    try:
        api_spec = ApiKeySpec.model_validate(dict(spec))
    except ValidationError as exc:
        bad = Failure(reason="InvalidSpec", message=describe_validation_error(exc))
        return _finish(old_status, generation, now, failure=bad)
    target = secret_name(name, api_spec)
    try:
        async with asyncio.timeout(context.settings.step_timeout):
            scope = await gather_scope(context.kube, kind=NAMES.kind, namespace=namespace)
            # The store's indexes are the platform start-up's job (ApiKeyStore.ensure_indexes).
            store = store_of(context)
            # Quota checks and issuance of one tenant's keys run one at a time in this process.
            async with context.api_key_locks.lock(scope.tenant):
                plan, records = await _converge(
                    context, store, api_spec, scope=scope, namespace=namespace, name=name,
                    uid=uid, old_status=old_status, now=now,
                )  # fmt: skip
    except ScopeError as exc:
        return _finish(old_status, generation, now, failure=exc.failure, secret=target)
    except Exception as exc:  # every failure becomes a condition, never a crashed handler
        return _finish(old_status, generation, now, failure=_describe(exc), secret=target)
    current = plan.current
    previous = retiring(records, current, now=now)
    fields = status_fields(
        tenant=scope.tenant,
        secret=target,
        current=current,
        retiring_record=previous,
        rotation=plan.applied_rotation,
    )
    ok_message = ready_message(current, previous, target) if current else ""
    status = build_status(
        old_status=old_status,
        conditions=[ready(plan.failure, ok_reason=ISSUED, ok_message=ok_message)],
        generation=generation,
        now=now,
        fields=fields,
    )
    return result(status, [plan.failure] if plan.failure else [])


async def _converge(
    context: OperatorContext,
    store: ApiKeyStore,
    spec: ApiKeySpec,
    *,
    scope: TenantScope,
    namespace: str,
    name: str,
    uid: str,
    old_status: Mapping[str, Any] | None,
    now: datetime,
) -> tuple[ApiKeyPlan, tuple[Any, ...]]:
    status_rotation = (old_status or {}).get("rotationGeneration")
    for _ in range(MAX_STEPS):
        observed = await _gather(
            context, store, spec, scope=scope, namespace=namespace, name=name, uid=uid,
            status_rotation=status_rotation if isinstance(status_rotation, int) else None,
            now=now,
        )  # fmt: skip
        plan = plan_api_key(spec, observed, fresh=new_api_key(), now=now)
        if not plan.writes:
            return plan, observed.records
        await _apply(context, store, plan, scope=scope, namespace=namespace, name=name, uid=uid,
                     target=secret_name(name, spec))  # fmt: skip
    raise RuntimeError(f"ApiKey {namespace}/{name} did not converge in {MAX_STEPS} steps")


async def _gather(
    context: OperatorContext,
    store: ApiKeyStore,
    spec: ApiKeySpec,
    *,
    scope: TenantScope,
    namespace: str,
    name: str,
    uid: str,
    status_rotation: int | None,
    now: datetime,
) -> ApiKeyObserved:
    secret = await read_owned_secret(
        context.kube, namespace=namespace, name=secret_name(name, spec), owner_uid=uid
    )
    records = tuple(await store.find_by_source(uid))
    foreign = None
    key = secret_key(secret) if secret is not None and secret.owned else None
    if key is not None and all(r.key_id != key.key_id for r in records):
        foreign = await store.get(key.key_id)
    tenant_keys = 0
    quota = scope.quota("maxApiKeys")
    if secret is None and not records and quota is not None:
        # Only a first issuance needs the count (rotation replaces a key, it adds none).
        tenant_keys = sum(
            1
            for r in await store.list_for_tenant(scope.tenant)
            if counts_against_quota(r, now=now) and (r.source is None or r.source.uid != uid)
        )
    return ApiKeyObserved(
        namespace=namespace,
        name=name,
        uid=uid,
        tenant=scope.tenant,
        secret=secret,
        records=records,
        foreign=foreign,
        tenant_keys=tenant_keys,
        quota=quota,
        status_rotation=status_rotation,
    )


async def _apply(
    context: OperatorContext,
    store: ApiKeyStore,
    plan: ApiKeyPlan,
    *,
    scope: TenantScope,
    namespace: str,
    name: str,
    uid: str,
    target: str,
) -> None:
    if plan.write_secret is not None:
        await write_secret(
            context.kube,
            namespace=namespace,
            name=target,
            secret_type=SECRET_TYPE,
            labels=object_labels(scope.names, kind_label="api-key", name=name),
            annotations=plan.write_secret.annotations(),
            data=plan.write_secret.data(),
            owner=owner_of(api_version=NAMES.api_version, kind=NAMES.kind, name=name, uid=uid),
            resource_version=plan.write_secret.replace_version,
        )
        logger.info(
            "api key written to its Secret",
            extra={"namespace": namespace, "apikey": name, "key_id": plan.write_secret.key.key_id},
        )
        return  # the next round stores the key read back from the Secret
    if plan.insert is not None:
        try:
            await store.insert(plan.insert)
        except DuplicateKeyError:
            # Stored concurrently (another reconcile of this resource got there first)?
            existing = await store.get(plan.insert.key_id)
            same = existing is not None and existing.key_hash == plan.insert.key_hash
            if not same or existing is None or existing.source != plan.insert.source:
                raise
        logger.info(
            "api key stored",
            extra={"namespace": namespace, "apikey": name, "key_id": plan.insert.key_id},
        )
    for record in plan.save:
        await store.save(record, writer=KeyWriter.OPERATOR)


def _describe(exc: Exception) -> Failure:
    if isinstance(exc, ForeignKeyError):
        return Failure(reason="ForeignKey", message=str(exc))
    if isinstance(exc, DuplicateKeyError):
        return Failure(reason="KeyIdTaken", message="the key id is already stored; rotate again")
    return store_failure(exc)


def _finish(
    old_status: Mapping[str, Any] | None,
    generation: int | None,
    now: datetime,
    *,
    failure: Failure,
    secret: str | None = None,
) -> KindResult:
    fields = None if secret is None else {"secretName": secret}
    return failed_result(
        old_status, generation, now, failure=failure, ok_reason=ISSUED, fields=fields
    )


async def revoke_api_key(context: OperatorContext, *, uid: str) -> int:
    """Revoke every key issued for the resource (kept, marked revoked); return how many."""
    store = store_of(context)
    now = utc_now()
    revoked = 0
    for record in await store.find_by_source(uid):
        if record.revoked_at is not None:
            continue
        try:
            await store.revoke(record.key_id, writer=KeyWriter.OPERATOR, now=now)
        except ForeignKeyError as exc:
            # Never touch the other writer's key, and never block the deletion on it.
            logger.warning("api key left to its owner", extra={"reason": str(exc)})
            continue
        revoked += 1
    return revoked
