"""Provisioning step: the tenant's Redis ACL user."""

from caas_core.adapters import redis
from caas_core.resources.tenant import DriftBackend
from caas_operator.shared.conditions import REDIS_READY, StepOutcome
from caas_operator.shared.ownership import REGISTRY, Ownership, ResourceKind
from caas_operator.tenant.provision.run import Run, Stored
from caas_operator.tenant.steps import StepNotes, not_owned, registry_down, waiting_for_secret


async def provision_redis(run: Run, *, stored: Stored) -> StepOutcome:
    """The tenant's ACL user, confined to its key and channel prefix."""
    if run.observed.claims is None:
        return registry_down(REDIS_READY, run.observed.registry_error)
    context, spec = run.context, run.plan.redis_user
    notes = StepNotes(steady=REDIS_READY in run.steady)
    live = await redis.get_acl_user(context.clients.redis, name=spec.name)
    ownership = run.ownership(ResourceKind.REDIS_USER, spec.name, exists=live is not None)
    if ownership is Ownership.FOREIGN:
        return not_owned(
            REDIS_READY,
            f"Redis user {spec.name} exists but is not registered to tenant {run.tenant} in "
            f"{REGISTRY}; it is neither adopted nor overwritten",
        )
    if not await stored():
        return waiting_for_secret(REDIS_READY, "Redis")
    known = ownership is not Ownership.CLAIM
    if ownership is not Ownership.MANAGED:
        await run.claim(ResourceKind.REDIS_USER, [spec.name])
    run.owned["redisUser"] = spec.name
    report = await redis.ensure_acl_user(
        context.clients.redis, spec, password=run.plan.credentials.redis, live=live
    )
    if report.created:
        notes.change(
            DriftBackend.REDIS,
            f"user {spec.name}",
            found="missing (deleted, or Redis restarted without persistence); re-created",
            action=f"created ACL user {spec.name}",
            known=ownership is Ownership.MANAGED,
        )
    for difference in report.corrected:
        notes.change(
            DriftBackend.REDIS,
            f"user {spec.name}",
            found=f"{difference}; corrected",
            action=f"updated ACL user {spec.name}: {difference}",
            known=known,
        )
    message = f"user {spec.name} confined to keys and channels {spec.key_pattern}"
    return notes.outcome(REDIS_READY, ok=True, reason="AclUserReady", message=message)
