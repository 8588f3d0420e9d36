"""Provisioning step: the tenant's MongoDB database, collections, indexes and user."""

import logging
from datetime import UTC, datetime

from caas_core.adapters import mongo, tenant_profiles
from caas_core.domain.naming import PLATFORM_DATABASE
from caas_core.resources.tenant import DriftBackend
from caas_operator.shared.conditions import MONGO_READY, Finding, StepOutcome
from caas_operator.shared.ownership import REGISTRY, Ownership, ResourceKind
from caas_operator.tenant.plan import index_changes
from caas_operator.tenant.provision.run import Run, Stored
from caas_operator.tenant.steps import (
    StepNotes,
    mongo_password,
    not_owned,
    registry_down,
    waiting_for_secret,
)

logger = logging.getLogger(__name__)


async def provision_mongo(run: Run, *, stored: Stored) -> StepOutcome:
    """The database, its collections and indexes, the tenant's user, and the plan document."""
    if run.observed.claims is None:
        return registry_down(MONGO_READY, run.observed.registry_error)
    context, plan = run.context, run.plan
    database = plan.names.database
    notes = StepNotes(steady=MONGO_READY in run.steady)
    existing = await mongo.list_collections(context.clients.mongo, database=database)
    ownership = run.ownership(ResourceKind.MONGO_DATABASE, database, exists=bool(existing))
    if ownership is Ownership.FOREIGN:
        return not_owned(
            MONGO_READY,
            f"database {database} already exists ({len(existing)} collections) and is not "
            f"registered to tenant {run.tenant} in {REGISTRY}; it is not adopted",
        )
    known = ownership is not Ownership.CLAIM
    claims, removed = index_changes(database, claims=run.claims, collections=plan.collections)
    if ownership is not Ownership.MANAGED:
        claims.insert(0, (ResourceKind.MONGO_DATABASE, database))
    await run.claim_items(claims)  # one registry write, before anything is created
    run.owned["database"] = database
    await _drop_indexes(run, notes, removed)
    report = await mongo.ensure_database(
        context.clients.mongo, database=database, collections=plan.collections, existing=existing
    )
    if report.created_collections and not existing:
        notes.change(
            DriftBackend.MONGODB,
            f"database {database}",
            found="dropped; re-created",
            action=f"created database {database} "
            f"(collections {', '.join(report.created_collections)})",
            known=known,
        )
    else:
        for collection in report.created_collections:
            notes.change(
                DriftBackend.MONGODB,
                f"collection {database}.{collection}",
                found="missing; re-created",
                action=f"created collection {database}.{collection}",
                known=known,
            )
    for index in report.created_indexes:
        if report.created_collections and index.split(".", 1)[0] in report.created_collections:
            continue  # part of a new collection, reported above
        notes.change(
            DriftBackend.MONGODB,
            f"index {database}.{index}",
            found="missing (dropped); re-created",
            action=f"created index {database}.{index}",
            known=known,
        )
    if report.drifts:
        if notes.steady:
            notes.findings.extend(
                Finding(backend=DriftBackend.MONGODB, object=database, found=d, corrected=False)
                for d in report.drifts
            )
        return notes.outcome(
            MONGO_READY,
            ok=False,
            reason="IndexDrift",
            message="; ".join(report.drifts) + " (drop the index or rename it in the spec)",
            retryable=False,
        )
    user = await _mongo_user(run, notes, stored=stored)
    if isinstance(user, StepOutcome):
        return user
    if await tenant_profiles.sync_plan(
        context.clients.mongo[PLATFORM_DATABASE],
        tenant=run.tenant,
        plan=plan.plan_document,
        now=datetime.now(UTC),
    ):
        logger.info("tenant plan synced to the control plane", extra={"tenant": run.tenant})
    indexes = sum(len(c.indexes) for c in plan.collections)
    message = f"database {database}: {len(plan.collections)} collections, {indexes} indexes; {user}"
    return notes.outcome(MONGO_READY, ok=True, reason="DatabaseReady", message=message)


async def _drop_indexes(run: Run, notes: StepNotes, removed: list[tuple[str, str, str]]) -> None:
    """Drop the indexes the operator created that the spec no longer wants: they hold no data,
    and a unique one left behind would keep refusing writes the spec now allows. Indexes it
    never registered (an application's own) are left alone."""
    if not removed:
        return
    database = run.plan.names.database
    for _, collection, index in removed:
        await mongo.drop_index(
            run.context.clients.mongo, database=database, collection=collection, index=index
        )
    await run.context.registry.release(ResourceKind.MONGO_INDEX, [name for name, _, _ in removed])
    notes.actions.append(
        f"dropped index(es) {', '.join(f'{database}.{c}.{i}' for _, c, i in removed)} "
        "(removed from the spec)"
    )


async def _mongo_user(run: Run, notes: StepNotes, *, stored: Stored) -> str | StepOutcome:
    """The tenant's MongoDB user where the server has user management; a note where not."""
    context, names = run.context, run.plan.names
    client = context.clients.mongo
    supported = context.capabilities.mongo_users
    if supported is None:
        supported = await mongo.users_supported(client, database=names.database)
        context.capabilities.mongo_users = supported
    if not supported:
        return (
            "no per-tenant MongoDB user: this server has no user management (usersInfo and "
            "createUser are missing), so isolation is by database name only"
        )
    password = run.plan.credentials.mongo
    if password is None or not await stored():
        return waiting_for_secret(MONGO_READY, "MongoDB")
    kind, user = ResourceKind.MONGO_USER, names.mongo_user
    claim = run.claims.get((kind, user))
    if claim is None:
        await run.claim(kind, [user])
    decision = mongo_password(claim, password)
    try:
        report = await mongo.ensure_user(
            client,
            database=names.database,
            username=user,
            password=password,
            set_password=decision.set_password,
            marker={"tenant": run.tenant},
        )
    except mongo.MongoUserNotOwnedError as exc:
        if claim is None:
            await context.registry.release(kind, [user])
        return not_owned(MONGO_READY, str(exc), notes)
    if report.created:
        notes.change(
            DriftBackend.MONGODB,
            f"user {user}",
            found="missing; re-created",
            action=f"created MongoDB user {user}",
            known=claim is not None,
        )
    elif "roles" in report.corrected:
        notes.change(
            DriftBackend.MONGODB,
            f"user {user}",
            found="roles changed; restored",
            action=f"set roles of MongoDB user {user}",
        )
    if "password" in report.corrected and not decision.set_password:
        notes.change(
            DriftBackend.MONGODB,
            f"user {user}",
            found="password changed outside the operator; reset to the credentials Secret's",
            action=f"reset the password of MongoDB user {user}",
        )
    if decision.record_hash:
        await context.registry.set_credential_hash(kind, user, decision.wanted_hash)
    return f"user {user} has readWrite on {names.database} only"
