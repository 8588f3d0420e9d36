"""kopf handlers for RetentionPolicy: apply on change, and a timer that re-applies and sweeps."""

from typing import Any, Final

import kopf

from caas_core.crd.retention import NAMES
from caas_core.domain.naming import API_GROUP
from caas_core.domain.naming import API_VERSION as VERSION
from caas_operator import context
from caas_operator.retention.reconcile import reconcile_retention
from caas_operator.settings import OperatorSettings
from caas_operator.shared.handlers import publish

PLURAL: Final = NAMES.plural


async def _run(
    trigger: str,
    *,
    name: str,
    namespace: str | None,
    uid: str,
    spec: kopf.Spec,
    status: kopf.Status,
    meta: kopf.Meta,
    body: kopf.Body,
    patch: kopf.Patch,
    memo: kopf.Memo,
    retry: int,
) -> None:
    outcome = await reconcile_retention(
        context.load(memo),
        namespace=namespace or "",
        name=name,
        uid=uid,
        spec=spec,
        old_status=status,
        generation=meta.get("generation"),
        trigger=trigger,
    )
    publish(outcome, body=body, old_status=status, patch=patch, retry=retry)


async def apply_retention_policy(
    *,
    name: str,
    namespace: str | None,
    uid: str,
    spec: kopf.Spec,
    status: kopf.Status,
    meta: kopf.Meta,
    body: kopf.Body,
    patch: kopf.Patch,
    memo: kopf.Memo,
    reason: str,
    retry: int,
    **_: Any,
) -> None:
    """Set the topics' retention and sweep at once (a new or changed policy is due)."""
    await _run(
        str(reason), name=name, namespace=namespace, uid=uid, spec=spec, status=status,
        meta=meta, body=body, patch=patch, memo=memo, retry=retry,
    )  # fmt: skip


async def resync_retention_policy(
    *,
    name: str,
    namespace: str | None,
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
    """Correct retention drift and sweep when the interval has passed."""
    await _run(
        "timer", name=name, namespace=namespace, uid=uid, spec=spec, status=status,
        meta=meta, body=body, patch=patch, memo=memo, retry=retry,
    )  # fmt: skip


def register(settings: OperatorSettings) -> None:
    """Register the handlers with kopf (once the settings are valid).

    No finalizer: deleting a policy stops sweeps; data already deleted stays deleted, topics keep
    their retention until the Tenant's own reconcile sets its values again.
    """
    resource = (API_GROUP, VERSION, PLURAL)
    resync = settings.resync_seconds
    # The ids are the function names kopf derived when these were decorators.
    kopf.on.resume(*resource, id="apply_retention_policy")(apply_retention_policy)
    kopf.on.create(*resource, id="apply_retention_policy")(apply_retention_policy)
    kopf.on.update(*resource, field="spec", id="apply_retention_policy")(apply_retention_policy)
    kopf.timer(*resource, interval=resync, initial_delay=resync, id="resync_retention_policy")(
        resync_retention_policy
    )
