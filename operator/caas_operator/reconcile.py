"""One reconcile of a Tenant: gather what exists, plan, apply, and compute the new status."""

import asyncio
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from pydantic import ValidationError

from caas_core.crd.tenant import KIND, VERSION
from caas_core.domain.conditions import utc_now
from caas_core.domain.naming import API_GROUP, InvalidTenantNameError, tenant_names
from caas_core.resources.tenant import TenantSpec
from caas_core.settings import describe_validation_error
from caas_operator import kube
from caas_operator.apply import apply_plan
from caas_operator.context import OperatorContext
from caas_operator.gather import gather
from caas_operator.outcomes import failure
from caas_operator.planning import (
    READY,
    StepOutcome,
    existing_password,
    needs_retry,
    plan_tenant,
    tenant_status,
)

PASSWORD_BYTES: Final = 32
API_VERSION: Final = f"{API_GROUP}/{VERSION}"


@dataclass(frozen=True, slots=True, kw_only=True)
class ReconcileResult:
    """The status to write and whether (and how) the handler should fail."""

    status: dict[str, Any]
    ready: bool
    retry: bool = False
    permanent_error: str | None = None
    summary: str = ""


async def reconcile(
    context: OperatorContext,
    *,
    name: str,
    uid: str,
    spec: Mapping[str, Any],
    old_status: Mapping[str, Any] | None,
    generation: int | None,
) -> ReconcileResult:
    """Converge every backend of one tenant; never raises for backend failures."""
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
            old_status=old_status, outcomes=[outcome], generation=generation, now=utc_now()
        )
        return ReconcileResult(status=status, ready=False, retry=True, summary=outcome.message)
    # A password already in the Secret is reused, so re-reconciling never rotates it.
    password = existing_password(observed.credentials) or secrets.token_urlsafe(PASSWORD_BYTES)
    plan = plan_tenant(
        names=names,
        spec=tenant_spec,
        password=password,
        replication_factor=context.settings.kafka_replication_factor,
    )
    owner = kube.Owner(api_version=API_VERSION, kind=KIND, name=name, uid=uid)
    outcomes = await apply_plan(context, plan, owner=owner)
    status = tenant_status(
        old_status=old_status,
        outcomes=outcomes,
        generation=generation,
        now=utc_now(),
        names=names,
        topics=[t.name for t in plan.topics],
    )
    failed = [o for o in outcomes if not o.ok]
    return ReconcileResult(
        status=status,
        ready=not failed,
        retry=needs_retry(outcomes),
        summary="; ".join(f"{o.condition}: {o.reason}: {o.message}" for o in failed),
    )


def _invalid(
    old_status: Mapping[str, Any] | None, generation: int | None, *, reason: str, message: str
) -> ReconcileResult:
    outcome = StepOutcome(condition=READY, ok=False, reason=reason, message=message)
    status = tenant_status(
        old_status=old_status, outcomes=[outcome], generation=generation, now=utc_now()
    )
    return ReconcileResult(status=status, ready=False, permanent_error=f"{reason}: {message}")
