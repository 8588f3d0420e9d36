"""kopf handlers for Webhook: thin wrappers around reconcile_webhook and unregister_webhook."""

from typing import Any, Final

import kopf

from caas_core.crd.namespaced import VERSION
from caas_core.crd.webhook import NAMES
from caas_core.domain.naming import API_GROUP
from caas_operator import context
from caas_operator.namespaced import publish
from caas_operator.outcomes import describe
from caas_operator.planning import retry_delay
from caas_operator.settings import resync_interval
from caas_operator.webhook_reconcile import reconcile_webhook, unregister_webhook

RESYNC_SECONDS: Final = resync_interval()
PLURAL: Final = NAMES.plural


@kopf.on.resume(API_GROUP, VERSION, PLURAL)
@kopf.on.create(API_GROUP, VERSION, PLURAL)
@kopf.on.update(API_GROUP, VERSION, PLURAL, field="spec")
# The timer re-resolves the host too: a name that now points somewhere private is unregistered.
@kopf.timer(API_GROUP, VERSION, PLURAL, interval=RESYNC_SECONDS, initial_delay=RESYNC_SECONDS)
async def reconcile_webhook_resource(
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
    """Validate and register the endpoint, and publish the outcome in the status."""
    outcome = await reconcile_webhook(
        context.load(memo),
        namespace=namespace or "",
        name=name,
        uid=uid,
        spec=spec,
        old_status=status,
        generation=meta.get("generation"),
    )
    publish(outcome, body=body, old_status=status, patch=patch, retry=retry)


@kopf.on.delete(API_GROUP, VERSION, PLURAL)
async def delete_webhook_resource(
    *, uid: str, memo: kopf.Memo, retry: int, logger: kopf.Logger, **_: Any
) -> None:
    """Unregister the endpoint (its Secret goes with the resource by garbage collection)."""
    try:
        removed = await unregister_webhook(context.load(memo), uid=uid)
    except Exception as exc:  # keep the finalizer: a deleted Webhook must receive nothing more
        raise kopf.TemporaryError(
            f"unregistering the endpoint failed: {describe(exc)}", delay=retry_delay(retry)
        ) from exc
    logger.info("webhook endpoint unregistered" if removed else "no endpoint was registered")
