"""kopf wiring the namespaced kinds share: `publish` a result (status only on change, one Event per
Ready transition), and `register_owned_kind` for the kinds that own backend state (ApiKey,
Webhook): converge on resume/create/spec change and on a resync timer, release on delete.

Handler ids are given explicitly (they are what kopf records as done in each resource's
annotations), so they stay the ones each kind's handlers had before this factory existed.
"""

from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol

import kopf

from caas_core.domain.conditions import status_differs
from caas_core.domain.naming import API_GROUP
from caas_core.domain.naming import API_VERSION as VERSION
from caas_operator import context
from caas_operator.context import OperatorContext
from caas_operator.shared.conditions import retry_delay
from caas_operator.shared.outcomes import describe
from caas_operator.shared.status import KindResult, ready_change


class Reconcile(Protocol):
    """A kind's converger: never raises for backend errors, reports them in its result."""

    def __call__(
        self,
        context: OperatorContext,
        /,
        *,
        namespace: str,
        name: str,
        uid: str,
        spec: Mapping[str, Any],
        old_status: Mapping[str, Any] | None,
        generation: int | None,
    ) -> Awaitable[KindResult]: ...


# Releases what a deleted resource owned; returns the line to log. Raising keeps the finalizer.
Release = Callable[[OperatorContext, str], Awaitable[str]]


def register_owned_kind(
    *,
    resync: float,
    plural: str,
    reconcile: Reconcile,
    release: Release,
    reconcile_id: str,
    delete_id: str,
    failure: str,
) -> None:
    """Register the kind's reconcile (events + resync timer) and delete handlers with kopf.

    `failure` starts the message of a failed release (the deletion is retried until it works).
    """

    async def converge(
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
        outcome = await reconcile(
            context.load(memo),
            namespace=namespace or "",
            name=name,
            uid=uid,
            spec=spec,
            old_status=status,
            generation=meta.get("generation"),
        )
        publish(outcome, body=body, old_status=status, patch=patch, retry=retry)

    async def delete(
        *, uid: str, memo: kopf.Memo, retry: int, logger: kopf.Logger, **_: Any
    ) -> None:
        try:
            done = await release(context.load(memo), uid)
        except Exception as exc:  # keep the finalizer and retry: what it owned must stop working
            raise kopf.TemporaryError(
                f"{failure}: {describe(exc)}", delay=retry_delay(retry)
            ) from exc
        logger.info(done)

    resource = (API_GROUP, VERSION, plural)
    kopf.on.resume(*resource, id=reconcile_id)(converge)
    kopf.on.create(*resource, id=reconcile_id)(converge)
    kopf.on.update(*resource, field="spec", id=reconcile_id)(converge)
    kopf.timer(*resource, interval=resync, initial_delay=resync, id=reconcile_id)(converge)
    kopf.on.delete(*resource, id=delete_id)(delete)


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
