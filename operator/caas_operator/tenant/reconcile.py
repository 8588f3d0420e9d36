"""One reconcile of a Tenant: gather what exists, plan, apply, and compute the new status."""

import asyncio
import logging
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from pydantic import ValidationError

from caas_core.adapters.webhook_events import publish_events
from caas_core.crd.tenant import KIND
from caas_core.domain.conditions import utc_now
from caas_core.domain.naming import (
    GROUP_VERSION,
    PLATFORM_DATABASE,
    InvalidTenantNameError,
    tenant_names,
)
from caas_core.domain.platform_events import tenant_lifecycle_events
from caas_core.domain.retention import topic_retention
from caas_core.resources.tenant import TenantSpec
from caas_core.settings import describe_validation_error
from caas_operator.context import OperatorContext
from caas_operator.shared.conditions import READY, Finding, StepOutcome
from caas_operator.shared.kube import Owner
from caas_operator.shared.outcomes import failure
from caas_operator.shared.ownership import owns_kubernetes_object
from caas_operator.tenant.gather import gather
from caas_operator.tenant.plan import (
    credentials_from,
    is_paused,
    listed_names,
    plan_tenant,
    steady_conditions,
)
from caas_operator.tenant.provision.apply import apply_plan
from caas_operator.tenant.provision.run import Run
from caas_operator.tenant.status import (
    EventSpec,
    invalid_status,
    needs_retry,
    paused_status,
    plan_events,
    summary,
    tenant_status,
)

logger = logging.getLogger(__name__)

PASSWORD_BYTES: Final = 32
API_VERSION: Final = GROUP_VERSION


@dataclass(frozen=True, slots=True, kw_only=True)
class ReconcileResult:
    """The status to write, the events to post, and whether (and how) the handler should fail."""

    status: dict[str, Any]
    ready: bool
    retry: bool = False
    permanent_error: str | None = None
    paused: bool = False
    summary: str = ""
    events: list[EventSpec] = field(default_factory=list)
    outcomes: list[StepOutcome] = field(default_factory=list)

    @property
    def findings(self) -> list[Finding]:
        """Every drift found."""
        return [f for o in self.outcomes for f in o.findings]


async def reconcile(
    context: OperatorContext,
    *,
    name: str,
    uid: str,
    spec: Mapping[str, Any],
    annotations: Mapping[str, str] | None,
    old_status: Mapping[str, Any] | None,
    generation: int | None,
) -> ReconcileResult:
    """Converge every backend of one tenant; never raises for backend failures."""
    now = utc_now()
    if is_paused(annotations):
        status = paused_status(old_status, generation=generation, now=now)
        return ReconcileResult(
            status=status,
            ready=False,
            paused=True,
            events=plan_events(old_status, status),
        )
    try:
        names = tenant_names(name)
        tenant_spec = TenantSpec.model_validate(dict(spec))
    except InvalidTenantNameError as exc:
        return _invalid(old_status, generation, reason="InvalidName", message=str(exc))
    except ValidationError as exc:
        message = describe_validation_error(exc)
        return _invalid(old_status, generation, reason="InvalidSpec", message=message)
    try:
        async with asyncio.timeout(context.settings.step_timeout):
            observed = await gather(context, names)
    except Exception as exc:  # reads failing is a condition to report, like any other step
        outcome = failure(READY, exc)
        status = tenant_status(
            old_status=old_status, outcomes=[outcome], generation=generation, now=now
        )
        return ReconcileResult(
            status=status,
            ready=False,
            retry=True,
            summary=outcome.message,
            events=plan_events(old_status, status, [outcome]),
            outcomes=[outcome],
        )
    # Passwords already in our Secret are reused, so re-reconciling never rotates them; a
    # Secret that is not ours is never read from.
    secret = observed.secret
    stored = (
        secret.data
        if secret is not None and owns_kubernetes_object(secret.labels, tenant=name)
        else None
    )
    credentials = credentials_from(
        stored,
        capabilities=context.capabilities.snapshot(),
        generate=lambda: secrets.token_urlsafe(PASSWORD_BYTES),
    )
    plan = plan_tenant(
        names=names,
        spec=tenant_spec,
        credentials=credentials,
        replication_factor=context.settings.kafka_replication_factor,
        kafka_sasl_bootstrap=context.settings.kafka_sasl_bootstrap_servers,
        retention_overrides=topic_retention(
            observed.retention_rules,
            topic_prefix=names.topic_prefix,
            topics=[names.topic(t.suffix) for t in tenant_spec.kafka.topics],
        ),
    )
    run = Run(
        context=context,
        plan=plan,
        observed=observed,
        owner=Owner(api_version=API_VERSION, kind=KIND, name=name, uid=uid),
        steady=steady_conditions(old_status, generation),
        listed=listed_names(old_status),
        now=now,
    )
    applied = await apply_plan(run)
    status = tenant_status(
        old_status=old_status,
        outcomes=applied.outcomes,
        generation=generation,
        now=now,
        owned=applied.owned,
        topics=applied.topics,
    )
    await _publish_lifecycle(
        context, tenant=name, uid=uid, old_status=old_status, status=status,
        generation=generation, now=now,
    )  # fmt: skip
    failed = [o for o in applied.outcomes if not o.ok]
    return ReconcileResult(
        status=status,
        ready=not failed,
        retry=needs_retry(applied.outcomes),
        summary=summary(applied.outcomes),
        events=plan_events(old_status, status, applied.outcomes),
        outcomes=applied.outcomes,
    )


async def _publish_lifecycle(
    context: OperatorContext,
    *,
    tenant: str,
    uid: str,
    old_status: Mapping[str, Any] | None,
    status: Mapping[str, Any],
    generation: int | None,
    now: datetime,
) -> None:
    """Queue tenant.created / tenant.ready for the tenant's webhooks (through the outbox)."""
    events = tenant_lifecycle_events(
        tenant=tenant, uid=uid, old_status=old_status, new_status=status,
        generation=generation, now=now,
    )  # fmt: skip
    if not events:
        return
    try:
        await publish_events(context.clients.mongo[PLATFORM_DATABASE], events)
    except Exception:  # the reconcile's own outcome stands; the event is only a notification
        logger.warning(
            "tenant lifecycle events not queued", extra={"tenant": tenant}, exc_info=True
        )


def _invalid(
    old_status: Mapping[str, Any] | None, generation: int | None, *, reason: str, message: str
) -> ReconcileResult:
    status = invalid_status(
        old_status, reason=reason, message=message, generation=generation, now=utc_now()
    )
    return ReconcileResult(
        status=status,
        ready=False,
        permanent_error=f"{reason}: {message}",
        events=plan_events(old_status, status),
    )
