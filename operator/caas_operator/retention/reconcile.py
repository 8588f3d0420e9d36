"""One reconcile of a RetentionPolicy: topics' retention.ms, then a sweep when one is due."""

import asyncio
import logging
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from caas_core.adapters import kafka
from caas_core.adapters.auditlog_store import AuditLogStore
from caas_core.auditlog.append import log_of
from caas_core.crd.retention import NAMES
from caas_core.domain import retention
from caas_core.domain.conditions import utc_now
from caas_core.domain.legal_holds import exemption
from caas_core.domain.naming import PLATFORM_DATABASE
from caas_core.domain.retention import ClassResult, PolicyRef, Rule, SweepRun
from caas_core.resources.retention import RetentionPolicySpec
from caas_core.settings import describe_validation_error
from caas_operator.context import OperatorContext
from caas_operator.retention.plan import due, plan_topics
from caas_operator.retention.status import (
    APPLIED,
    conditions,
    sweep_message,
    sweep_status,
    topics_status,
)
from caas_operator.retention.sweeper import (
    log_run,
    set_topic_retention,
    sweep,
    topic_retention,
)
from caas_operator.shared.conditions import KAFKA_READY, MONGO_READY
from caas_operator.shared.kube import gather_scope
from caas_operator.shared.outcomes import failure as step_failure
from caas_operator.shared.retention_policies import list_claims
from caas_operator.shared.retention_rules import applicable_rules
from caas_operator.shared.scope import Failure, ScopeError, TenantScope
from caas_operator.shared.status import KindResult, build_status, failed_result, result

logger = logging.getLogger(__name__)


async def reconcile_retention(
    context: OperatorContext,
    *,
    namespace: str,
    name: str,
    uid: str,
    spec: Mapping[str, Any],
    old_status: Mapping[str, Any] | None,
    generation: int | None,
    trigger: str,
    interval: float | None = None,
) -> KindResult:
    """Apply the policy to Kafka and, when due, sweep MongoDB; never raises for backend errors."""
    now = utc_now()
    try:
        policy = RetentionPolicySpec.model_validate(dict(spec))
    except ValidationError as exc:
        bad = Failure(reason="InvalidSpec", message=describe_validation_error(exc))
        return _failed(old_status, generation, now, bad)
    try:
        async with asyncio.timeout(context.settings.step_timeout):
            scope = await gather_scope(context.kube, kind=NAMES.kind, namespace=namespace)
            claims = await list_claims(context.kube, namespace=namespace)
    except ScopeError as exc:
        return _failed(old_status, generation, now, exc.failure)
    except Exception as exc:  # every failure becomes a condition, never a crashed handler
        outcome = step_failure("Ready", exc)
        return _failed(
            old_status,
            generation,
            now,
            Failure(reason=outcome.reason, message=outcome.message, retryable=True),
        )
    scoped = applicable_rules(name, [r.to_rule() for r in policy.rules], claims)
    kafka_failure, kafka_message, wanted = await _apply_topics(context, scope, scoped.rules)
    fields: dict[str, Any] = {"tenant": scope.tenant, "topics": topics_status(wanted)}
    mongo_failure: Failure | None = None
    last = (old_status or {}).get("lastSweep")
    every = context.settings.retention_sweep_seconds if interval is None else interval
    if due(old_status, generation=generation, interval=every, now=now):
        ref = PolicyRef(namespace=namespace, name=name, uid=uid, generation=generation)
        run, mongo_failure = await _sweep(
            context, scope, scoped.rules, policy=ref, trigger=trigger, dry_run=policy.dry_run
        )
        if run is not None:
            last = fields["lastSweep"] = sweep_status(run)
    status = build_status(
        old_status=old_status,
        conditions=conditions(
            kafka=kafka_failure,
            kafka_message=kafka_message,
            mongo=mongo_failure,
            mongo_message=sweep_message(last),
            conflict=scoped.conflict,
        ),
        generation=generation,
        now=now,
        fields=fields,
    )
    failures = [f for f in (scoped.conflict, kafka_failure, mongo_failure) if f is not None]
    return result(status, failures)


async def _apply_topics(
    context: OperatorContext, scope: TenantScope, rules: Sequence[Rule]
) -> tuple[Failure | None, str, Mapping[str, int]]:
    timeout = context.settings.backend_timeout
    admin = context.clients.kafka
    try:
        async with asyncio.timeout(context.settings.step_timeout):
            names = await kafka.list_topic_names(
                admin, prefix=scope.names.topic_prefix, timeout=timeout
            )
            candidates = retention.topic_retention(
                rules, topic_prefix=scope.names.topic_prefix, topics=names
            )
            live = await topic_retention(admin, list(candidates), timeout=timeout)
            plan = plan_topics(
                rules, topic_prefix=scope.names.topic_prefix, live=live, topics=names
            )
            await set_topic_retention(admin, plan.changes, timeout=timeout)
    except Exception as exc:  # reported in KafkaReady, retried with backoff
        outcome = step_failure(KAFKA_READY, exc)
        return Failure(reason=outcome.reason, message=outcome.message, retryable=True), "", {}
    if plan.changes:
        logger.info(
            "topic retention set",
            extra={"tenant": scope.tenant, "topics": dict(plan.changes)},
        )
    if not plan.wanted:
        return None, "no tenant topic backs these data classes", plan.wanted
    return None, f"retention.ms set on {len(plan.wanted)} topic(s)", plan.wanted


async def _sweep(
    context: OperatorContext,
    scope: TenantScope,
    rules: Sequence[Rule],
    *,
    policy: PolicyRef,
    trigger: str,
    dry_run: bool,
) -> tuple[SweepRun | None, Failure | None]:
    started = utc_now()
    mongo = context.clients.mongo
    platform = mongo[PLATFORM_DATABASE]
    run_id = uuid.uuid4().hex
    results: list[ClassResult] = []
    error: Exception | None = None
    try:
        async with asyncio.timeout(context.settings.step_timeout):
            holds = await context.holds.active_for_tenant(scope.tenant, now=started)
            exemptions = {
                r.data_class: exemption(holds, data_class=r.data_class.value, now=started)
                for r in rules
            }
            targets = retention.plan_sweep(rules, exemptions=exemptions, now=started)
            audit_log = AuditLogStore(platform)
            log = log_of(scope.tenant)
            results = await sweep(
                mongo[scope.names.database],
                targets,
                dry_run=dry_run,
                audit_log=lambda before, dry: audit_log.prune(log, before=before, dry_run=dry),
            )
    except Exception as exc:  # logged as a failed run below, and retried
        error = exc
    run = SweepRun(
        run_id=run_id,
        tenant=scope.tenant,
        database=scope.names.database,
        policy=policy,
        trigger=trigger,
        dry_run=dry_run,
        started_at=started,
        finished_at=utc_now(),
        results=tuple(results),
        error=None if error is None else step_failure(MONGO_READY, error).message,
    )
    try:
        await log_run(platform, run)
    except Exception as exc:  # a run that cannot be logged is reported as failed
        error = error or exc
    logger.info(
        "retention sweep",
        extra={
            "tenant": scope.tenant,
            "run_id": run_id,
            "deleted": run.deleted,
            "held": run.held,
            "dry_run": dry_run,
            "error": run.error,
        },
    )
    if error is not None:
        outcome = step_failure(MONGO_READY, error)
        return None, Failure(reason=outcome.reason, message=outcome.message, retryable=True)
    return run, None


def _failed(
    old_status: Mapping[str, Any] | None, generation: int | None, now: datetime, failure: Failure
) -> KindResult:
    return failed_result(old_status, generation, now, failure=failure, ok_reason=APPLIED)
