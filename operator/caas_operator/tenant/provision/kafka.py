"""Provisioning step: the tenant's Kafka topics, SCRAM principal and ACLs."""

import asyncio
from datetime import UTC, datetime

from caas_core.adapters import kafka
from caas_core.domain.kafka_acl import diff_acls, principal_of
from caas_core.resources.tenant import DeletionPolicy, DriftBackend
from caas_operator.shared.conditions import KAFKA_READY, Finding, StepOutcome
from caas_operator.shared.ownership import REGISTRY, Ownership, ResourceKind
from caas_operator.tenant.provision.run import Run, Stored
from caas_operator.tenant.steps import (
    StepNotes,
    not_owned,
    registry_down,
    scram_password,
    scram_rotated,
    waiting_for_secret,
)


async def provision_kafka(run: Run, *, stored: Stored, result: dict[str, object]) -> StepOutcome:
    """Topics (claimed before created, configs and partitions corrected) and, with an authorizer,
    the SCRAM principal and its prefixed ACLs."""
    if run.observed.claims is None:
        return registry_down(KAFKA_READY, run.observed.registry_error)
    context, plan = run.context, run.plan
    admin, timeout = context.clients.kafka, context.settings.backend_timeout
    notes = StepNotes(steady=KAFKA_READY in run.steady)
    desired = {t.name: t for t in plan.topics}
    claimed = {name for kind, name in run.claims if kind is ResourceKind.KAFKA_TOPIC}
    # Every read first: the broker answers one request per connection at a time, and a read
    # queued behind a topic creation waits for its metadata commit.
    live, access = await asyncio.gather(
        kafka.describe_named_topics(admin, sorted(set(desired) | claimed), timeout=timeout),
        _principal_state(run),
    )
    foreign = [
        n
        for n in desired
        if run.ownership(ResourceKind.KAFKA_TOPIC, n, exists=n in live) is Ownership.FOREIGN
    ]
    await run.claim(
        ResourceKind.KAFKA_TOPIC, [n for n in desired if n not in claimed and n not in foreign]
    )
    managed = [t for n, t in desired.items() if n not in foreign]
    # Topics and the principal are independent (ACLs are by prefix): both at once.
    report, principal = await asyncio.gather(
        kafka.ensure_topics(admin, managed, timeout=timeout, live=live),
        _kafka_principal(run, notes, access, stored=stored),
    )
    for name in report.created:
        notes.change(
            DriftBackend.KAFKA,
            f"topic {name}",
            found="deleted; re-created (its records are gone)",
            action=f"created topic {name}",
            known=name in claimed,
        )
    for drift in report.corrected:
        notes.change(
            DriftBackend.KAFKA,
            f"topic {drift.topic}",
            found=f"{drift.setting} was {drift.actual}, want {drift.desired}; corrected",
            action=f"set {drift.setting}={drift.desired} on topic {drift.topic}",
        )
    if notes.steady:
        notes.findings.extend(
            Finding(
                backend=DriftBackend.KAFKA,
                object=f"topic {d.topic}",
                found=f"{d.setting} is {d.actual}, want {d.desired}",
                corrected=False,
            )
            for d in report.drifts
        )
    retained = await _removed_topics(run, notes, sorted(claimed - set(desired)))
    result["topics"] = tuple(t.name for t in managed)
    parts = [f"{len(managed)} topics under {plan.names.topic_prefix}"]
    if isinstance(principal, str):
        parts.append(principal)
    if retained:
        parts.append(retained)
    if foreign:
        return not_owned(
            KAFKA_READY,
            f"topic(s) {', '.join(foreign)} already exist and are not registered to tenant "
            f"{run.tenant} in {REGISTRY}; they are not adopted or reconfigured",
            notes,
        )
    if report.drifts:
        return notes.outcome(
            KAFKA_READY,
            ok=False,
            reason="TopicDrift",
            message="; ".join(d.describe() for d in report.drifts)
            + " (Kafka cannot lower partitions or change replication in place)",
            retryable=False,
        )
    if isinstance(principal, StepOutcome):
        return principal
    return notes.outcome(KAFKA_READY, ok=True, reason="TopicsReady", message="; ".join(parts))


async def _removed_topics(run: Run, notes: StepNotes, removed: list[str]) -> str:
    """Topics taken out of the spec follow the deletion policy (and legal holds)."""
    if not removed:
        return ""
    context = run.context
    if run.plan.deletion_policy is DeletionPolicy.DELETE:
        holds = await context.holds.active_for_tenant(run.tenant, now=datetime.now(UTC))
        if not holds:
            await kafka.delete_topics(
                context.clients.kafka, removed, timeout=context.settings.backend_timeout
            )
            await context.registry.release(ResourceKind.KAFKA_TOPIC, removed)
            notes.actions.append(
                f"deleted topic(s) {', '.join(removed)} (removed from the spec; "
                "deletionPolicy Delete)"
            )
            return ""
        held = ", ".join(h.hold_id for h in holds)
        return f"topic(s) {', '.join(removed)} removed from the spec are kept: legal hold {held}"
    return (
        f"topic(s) {', '.join(removed)} removed from the spec are retained (deletionPolicy Retain)"
    )


async def _principal_state(run: Run) -> tuple[kafka.PrincipalAcls, bool] | None:
    """The principal's ACLs and whether its SCRAM credential exists; None without authorizer."""
    context = run.context
    admin, timeout = context.clients.kafka, context.settings.backend_timeout
    user = run.plan.names.kafka_user
    try:
        acls, exists = await asyncio.gather(
            kafka.describe_principal_acls(admin, principal_of(user), timeout=timeout),
            kafka.scram_user_exists(admin, user, timeout=timeout),
        )
    except kafka.AuthorizerDisabledError:
        return None
    return acls, exists


async def _kafka_principal(
    run: Run,
    notes: StepNotes,
    access: tuple[kafka.PrincipalAcls, bool] | None,
    *,
    stored: Stored,
) -> str | StepOutcome:
    """The SCRAM principal and its prefixed ACLs, when the cluster has an authorizer."""
    context, plan = run.context, run.plan
    admin, timeout = context.clients.kafka, context.settings.backend_timeout
    user = plan.names.kafka_user
    principal = principal_of(user)
    if access is None:
        context.capabilities.kafka_authorizer = False
        return (
            "no authorizer on this Kafka cluster: no principal or ACLs are managed, so Kafka "
            "does not isolate tenants"
        )
    acls, exists = access
    context.capabilities.kafka_authorizer = True
    password = plan.credentials.kafka
    if password is None or not await stored():
        return waiting_for_secret(KAFKA_READY, "Kafka SCRAM")
    kind = ResourceKind.KAFKA_USER
    ownership = run.ownership(kind, user, exists=exists)
    if ownership is Ownership.FOREIGN:
        return not_owned(
            KAFKA_READY,
            f"Kafka SCRAM user {user} exists but is not registered to tenant {run.tenant} in "
            f"{REGISTRY}; its credential and ACLs are left alone",
            notes,
        )
    claim = run.claims.get((kind, user))
    decision = scram_password(exists=exists, claim=claim, password=password)
    if claim is None:
        await run.claim(kind, [user], credential_hash=decision.wanted_hash)
    diff = diff_acls(plan.kafka_acls, acls.rules, foreign=acls.foreign)
    unwanted = [b for b in acls.bindings if kafka.binding_rule(b) not in plan.kafka_acls]
    set_password = decision.set_password
    await asyncio.gather(
        kafka.upsert_scram_user(admin, user, password=password, timeout=timeout)
        if set_password
        else asyncio.sleep(0),
        kafka.create_acls(admin, diff.missing, timeout=timeout),
        kafka.delete_acl_bindings(admin, unwanted, timeout=timeout),
    )
    if set_password:
        if not exists:
            notes.change(
                DriftBackend.KAFKA,
                f"principal {principal}",
                found="SCRAM credential deleted; re-created",
                action=f"created SCRAM-SHA-512 principal {principal}",
                known=claim is not None,
            )
        elif scram_rotated(exists=exists, claim=claim):
            notes.actions.append(f"set the SCRAM password of {principal} from the Secret")
    if decision.record_hash:
        await context.registry.set_credential_hash(kind, user, decision.wanted_hash)
    if diff.missing:
        missing = ", ".join(rule.describe() for rule in diff.missing)
        notes.change(
            DriftBackend.KAFKA,
            f"ACLs of {principal}",
            found=f"missing {missing}; re-created",
            action=f"allowed {principal}: {missing}",
            known=claim is not None,
        )
    if diff.extra:
        notes.change(
            DriftBackend.KAFKA,
            f"ACLs of {principal}",
            found=f"unexpected {', '.join(diff.extra)}; removed",
            action=f"removed ACLs of {principal}: {', '.join(diff.extra)}",
            known=claim is not None,
        )
    run.owned["kafkaUser"] = user
    return f"principal {principal} with {len(plan.kafka_acls)} prefixed ACLs"
