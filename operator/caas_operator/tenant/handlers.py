"""kopf wiring of the Tenant: locks, metrics, status patching and errors around reconcile and
finalize (registered by `register`, once the settings are valid)."""

import logging
import random
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from functools import partial
from typing import Any, Final

import kopf

from caas_core.crd.tenant import KIND, PLURAL
from caas_core.domain.conditions import status_differs
from caas_core.domain.naming import API_GROUP
from caas_core.domain.naming import API_VERSION as VERSION
from caas_operator import context, metrics
from caas_operator.kopf_settings import legacy_annotations
from caas_operator.settings import OperatorSettings
from caas_operator.shared.conditions import retry_delay
from caas_operator.shared.events import ObjectRef
from caas_operator.shared.outcomes import describe
from caas_operator.tenant.deletion import Teardown, finalize
from caas_operator.tenant.reconcile import API_VERSION, ReconcileResult, reconcile
from caas_operator.tenant.status import EventSpec

logger = logging.getLogger(__name__)

# How long a Delete blocked by a legal hold (or a pause) waits before looking again.
HOLD_RECHECK_SECONDS: Final = 30.0
PAUSE_RECHECK_SECONDS: Final = 10.0


def _first_check(resync: float, **_: Any) -> float:
    # Spread the drift checks of many tenants instead of running them all at once.
    return resync * random.uniform(0.5, 1.0)  # noqa: S311 - jitter, not security


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
    retry: int,
    **_: Any,
) -> None:
    """Converge the tenant's backends and publish the outcome in its status."""
    for key in legacy_annotations(dict(meta.annotations)):
        patch.metadata.annotations[key] = None
    result = await _reconcile(
        memo, trigger="change", name=name, uid=uid, spec=spec, status=status, meta=meta
    )
    if result is None:
        return
    _publish(memo, result, uid=uid, name=name, old_status=status, patch=patch)
    if result.permanent_error is not None:
        raise kopf.PermanentError(result.permanent_error)
    if result.retry:
        raise kopf.TemporaryError(result.summary, delay=retry_delay(retry))


async def resync_tenant(
    *,
    name: str,
    uid: str,
    spec: kopf.Spec,
    status: kopf.Status,
    meta: kopf.Meta,
    patch: kopf.Patch,
    memo: kopf.Memo,
    **kwargs: Any,
) -> None:
    """Re-check every backend and correct drift (level-triggered; quiet when converged)."""
    # kopf passes `stopped` to timers too, but the timer protocol does not declare it.
    stopped: kopf.DaemonStopped = kwargs["stopped"]
    if meta.get("deletionTimestamp"):
        return  # the deletion handler owns the tenant now
    result = await _reconcile(
        memo,
        trigger="timer",
        name=name,
        uid=uid,
        spec=spec,
        status=status,
        meta=meta,
        # kopf stops timers when the Tenant is deleted; the body this tick was started with
        # may predate that, and re-creating what the teardown just removed would orphan it.
        cancelled=stopped.is_set,
    )
    if result is None:
        return
    _publish(memo, result, uid=uid, name=name, old_status=status, patch=patch)
    # Never a PermanentError here: it would stop the timer for good, and a later fix of the
    # spec must be picked up. Retryable failures are retried at the next interval.


async def _reconcile(
    memo: kopf.Memo,
    *,
    trigger: str,
    name: str,
    uid: str,
    spec: kopf.Spec,
    status: kopf.Status,
    meta: kopf.Meta,
    cancelled: Callable[[], bool] = lambda: False,
) -> ReconcileResult | None:
    """Reconcile under the tenant's lock; None when the tenant's teardown began meanwhile."""
    opened = context.load(memo)
    started = time.perf_counter()
    async with opened.slots, opened.lock(name):
        if uid in opened.deleting or cancelled():
            return None
        metrics.IN_PROGRESS.labels(kind=KIND).inc()
        try:
            result = await reconcile(
                opened,
                name=name,
                uid=uid,
                spec=spec,
                annotations=dict(meta.annotations),
                old_status=status,
                generation=meta.get("generation"),
            )
        finally:
            metrics.IN_PROGRESS.labels(kind=KIND).dec()
    elapsed = time.perf_counter() - started
    outcome = (
        "paused"
        if result.paused
        else "invalid"
        if result.permanent_error
        else "success"
        if result.ready
        else "error"
    )
    metrics.RECONCILES.labels(kind=KIND, trigger=trigger, result=outcome).inc()
    metrics.RECONCILE_SECONDS.labels(kind=KIND, trigger=trigger).observe(elapsed)
    for failed in (o for o in result.outcomes if not o.ok):
        metrics.STEP_ERRORS.labels(condition=failed.condition, reason=failed.reason).inc()
    for finding in result.findings:
        action = "Corrected" if finding.corrected else "Reported"
        metrics.DRIFTS.labels(backend=finding.backend.value, action=action).inc()
    if not result.paused:
        metrics.record_ready(opened.ready, name, result.ready)
    log = logger.info if result.events or not result.ready else logger.debug
    log(
        "tenant reconciled",
        extra={
            "tenant": name,
            "trigger": trigger,
            "result": outcome,
            "duration_ms": round(elapsed * 1000, 1),
            "summary": result.summary,
            "drift": [f.describe() for f in result.findings],
        },
    )
    return result


def _post(memo: kopf.Memo, events: list[EventSpec], *, uid: str, name: str) -> None:
    ref = ObjectRef(api_version=API_VERSION, kind=KIND, name=name, uid=uid)
    poster = context.load(memo).events
    for event in events:
        poster.post(ref, type=event.type.value, reason=event.reason, message=event.message)


def _publish(
    memo: kopf.Memo,
    result: ReconcileResult,
    *,
    uid: str,
    name: str,
    old_status: Mapping[str, Any],
    patch: kopf.Patch,
) -> None:
    # Status is written only when it changes, so converged tenants cause no API writes.
    if status_differs(old_status, result.status):
        patch.status.update(result.status)
    _post(memo, result.events, uid=uid, name=name)


async def delete_tenant(
    *,
    name: str,
    uid: str,
    spec: kopf.Spec,
    status: kopf.Status,
    meta: kopf.Meta,
    patch: kopf.Patch,
    memo: kopf.Memo,
    retry: int,
    **_: Any,
) -> None:
    """Revoke the tenant's access, and drop its data when the policy says Delete."""
    opened = context.load(memo)
    opened.deleting.add(uid)
    try:
        # Teardowns share the reconcile slots: a thousand at once would only queue at Kafka's
        # controller until their requests time out.
        async with opened.slots, opened.lock(name):
            teardown = await finalize(
                opened,
                name=name,
                spec=spec,
                annotations=dict(meta.annotations),
                old_status=status,
                generation=meta.get("generation"),
                deleted_at=_timestamp(meta.get("deletionTimestamp")),
            )
    except Exception as exc:  # keep the finalizer and retry; never leave access behind
        metrics.DELETIONS.labels(policy=spec.get("deletionPolicy", "Retain"), result="error").inc()
        raise kopf.TemporaryError(
            f"tenant teardown failed: {describe(exc)}", delay=retry_delay(retry)
        ) from exc
    _finish(memo, teardown, uid=uid, name=name, old_status=status, patch=patch)
    opened.forget(name)


def _timestamp(value: object) -> datetime | None:
    """A Kubernetes RFC 3339 timestamp (`2026-11-24T04:20:00Z`), or None when absent/unreadable."""
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def _finish(
    memo: kopf.Memo,
    teardown: Teardown,
    *,
    uid: str,
    name: str,
    old_status: Mapping[str, Any],
    patch: kopf.Patch,
) -> None:
    if teardown.status and status_differs(old_status, teardown.status):
        patch.status.update(teardown.status)
    _post(memo, teardown.events, uid=uid, name=name)
    if teardown.done:
        metrics.DELETIONS.labels(policy=teardown.policy.value, result="done").inc()
        metrics.record_ready(context.load(memo).ready, name, None)
        logger.info("tenant deleted", extra={"tenant": name, "policy": teardown.policy.value})
        return
    paused = teardown.waiting_for.startswith("paused")
    metrics.DELETIONS.labels(
        policy=teardown.policy.value, result="paused" if paused else "blocked"
    ).inc()
    raise kopf.TemporaryError(
        teardown.waiting_for, delay=PAUSE_RECHECK_SECONDS if paused else HOLD_RECHECK_SECONDS
    )


def register(settings: OperatorSettings) -> None:
    """Register the Tenant's handlers with kopf: change, resync timer (jittered first tick) and
    deletion, limited to the Tenants the selector names. The ids are the function names kopf
    derived when these were decorators (they are what it records in each Tenant)."""
    resource = (API_GROUP, VERSION, PLURAL)
    labels = settings.tenant_selector
    kopf.on.resume(*resource, labels=labels, id="reconcile_tenant")(reconcile_tenant)
    kopf.on.create(*resource, labels=labels, id="reconcile_tenant")(reconcile_tenant)
    # No field filter: the pause annotation is part of what must trigger a reconcile.
    kopf.on.update(*resource, labels=labels, id="reconcile_tenant")(reconcile_tenant)
    kopf.timer(
        *resource,
        interval=settings.resync_seconds,
        initial_delay=partial(_first_check, settings.resync_seconds),
        labels=labels,
        id="resync_tenant",
    )(resync_tenant)
    kopf.on.delete(*resource, labels=labels, id="delete_tenant")(delete_tenant)
