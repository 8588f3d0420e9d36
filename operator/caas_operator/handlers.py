"""kopf handlers for Tenant: thin wrappers around reconcile and finalize."""

from collections.abc import Mapping
from typing import Any, Final

import kopf

from caas_core.crd.tenant import PLURAL, VERSION
from caas_core.domain.conditions import status_differs
from caas_core.domain.naming import API_GROUP
from caas_operator import context
from caas_operator.deletion import finalize
from caas_operator.kopf_settings import configure_kopf
from caas_operator.outcomes import describe
from caas_operator.planning import ready_change, retry_delay
from caas_operator.platform import ensure_platform
from caas_operator.reconcile import ReconcileResult, reconcile
from caas_operator.settings import resync_interval

RESYNC_SECONDS: Final = resync_interval()


@kopf.on.startup()
async def start(*, settings: kopf.OperatorSettings, memo: kopf.Memo, retry: int, **_: Any) -> None:
    """Configure kopf, open the clients, ensure the platform's database and topics."""
    operator_settings = context.settings_of(memo)
    configure_kopf(settings, operator_settings)
    opened = context.ensure(memo, operator_settings)
    try:
        await ensure_platform(opened)
    except BaseException as exc:
        # An unfinished start-up leaves nothing open: kopf runs no cleanup then, and the
        # clients' background tasks would hold up the exit while kopf waits between retries.
        await context.discard(memo)
        if not isinstance(exc, Exception):
            raise
        raise kopf.TemporaryError(
            f"platform resources not ensured: {describe(exc)}", delay=retry_delay(retry)
        ) from exc


@kopf.on.cleanup()
async def stop(*, memo: kopf.Memo, **_: Any) -> None:
    """Close every client (start-up may have failed before opening them)."""
    await context.close(memo)


@kopf.on.resume(API_GROUP, VERSION, PLURAL)
@kopf.on.create(API_GROUP, VERSION, PLURAL)
@kopf.on.update(API_GROUP, VERSION, PLURAL, field="spec")
@kopf.timer(API_GROUP, VERSION, PLURAL, interval=RESYNC_SECONDS, initial_delay=RESYNC_SECONDS)
async def reconcile_tenant(
    *,
    name: str,
    uid: str,
    spec: kopf.Spec,
    status: kopf.Status,
    meta: kopf.Meta,
    body: kopf.Body,
    patch: kopf.Patch,
    memo: kopf.Memo,
    retry: int = 0,  # kopf passes it to timers too, but their protocol does not declare it
    **_: Any,
) -> None:
    """Converge the tenant's backends and publish the outcome in its status."""
    result = await reconcile(
        context.load(memo),
        name=name,
        uid=uid,
        spec=spec,
        old_status=status,
        generation=meta.get("generation"),
    )
    _publish(result, body=body, old_status=status, patch=patch, retry=retry)


@kopf.on.delete(API_GROUP, VERSION, PLURAL)
async def delete_tenant(
    *, name: str, spec: kopf.Spec, memo: kopf.Memo, retry: int, logger: kopf.Logger, **_: Any
) -> None:
    """Revoke the tenant's access, and drop its data when the policy says Delete."""
    try:
        await finalize(context.load(memo), name=name, spec=spec)
    except Exception as exc:  # keep the finalizer and retry; never leave access behind
        raise kopf.TemporaryError(
            f"tenant teardown failed: {describe(exc)}", delay=retry_delay(retry)
        ) from exc
    logger.info("Tenant access revoked")


def _publish(
    result: ReconcileResult,
    *,
    body: kopf.Body,
    old_status: Mapping[str, Any],
    patch: kopf.Patch,
    retry: int,
) -> None:
    # Status is written only when it changes, so converged tenants cause no API writes.
    if status_differs(old_status, result.status):
        patch.status.update(result.status)
    # One Event per Ready transition, not one per retry: events are for humans.
    change = ready_change(old_status, result.status)
    if change is not None:
        post = kopf.info if change.ready else kopf.warn
        post(body, reason=change.reason, message=change.message)
    if result.permanent_error is not None:
        raise kopf.PermanentError(result.permanent_error)
    if result.retry:
        raise kopf.TemporaryError(result.summary, delay=retry_delay(retry))
