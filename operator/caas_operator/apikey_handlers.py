"""kopf handlers for ApiKey: thin wrappers around reconcile_api_key and revoke_api_key."""

from typing import Any, Final

import kopf

from caas_core.crd.apikey import NAMES
from caas_core.crd.namespaced import VERSION
from caas_core.domain.naming import API_GROUP
from caas_operator import context
from caas_operator.apikey_reconcile import reconcile_api_key, revoke_api_key
from caas_operator.namespaced import publish
from caas_operator.outcomes import describe
from caas_operator.planning import retry_delay
from caas_operator.settings import resync_interval

RESYNC_SECONDS: Final = resync_interval()
PLURAL: Final = NAMES.plural


@kopf.on.resume(API_GROUP, VERSION, PLURAL)
@kopf.on.create(API_GROUP, VERSION, PLURAL)
@kopf.on.update(API_GROUP, VERSION, PLURAL, field="spec")
@kopf.timer(API_GROUP, VERSION, PLURAL, interval=RESYNC_SECONDS, initial_delay=RESYNC_SECONDS)
async def reconcile_apikey(
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
    """Issue or converge the key, and publish the outcome in the status."""
    outcome = await reconcile_api_key(
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
async def delete_apikey(
    *, uid: str, memo: kopf.Memo, retry: int, logger: kopf.Logger, **_: Any
) -> None:
    """Revoke the resource's keys in the store (its Secret goes with it by garbage collection)."""
    try:
        revoked = await revoke_api_key(context.load(memo), uid=uid)
    except Exception as exc:  # keep the finalizer and retry: a deleted ApiKey must stop working
        raise kopf.TemporaryError(
            f"revoking the key failed: {describe(exc)}", delay=retry_delay(retry)
        ) from exc
    logger.info(f"revoked {revoked} API key(s)")
