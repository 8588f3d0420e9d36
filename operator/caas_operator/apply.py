"""Carry out a TenantPlan against Kubernetes, MongoDB, Kafka and Redis, checking ownership first."""

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from lightkube import ApiError

from caas_core.adapters import kafka, mongo, redis, tenant_profiles
from caas_core.domain.kafka_acl import diff_acls, principal_of
from caas_core.domain.naming import PLATFORM_DATABASE
from caas_core.resources.tenant import DeletionPolicy, DriftBackend
from caas_operator import kube
from caas_operator.context import OperatorContext
from caas_operator.gather import Observed
from caas_operator.outcomes import StepRunner
from caas_operator.planning import (
    KAFKA_READY,
    MONGO_READY,
    READY,
    REDIS_READY,
    Ownership,
    ResourceKind,
    TenantPlan,
    decide_ownership,
    index_names,
    owns_kubernetes_object,
    removed_indexes,
)
from caas_operator.registry import COLLECTION as REGISTRY_COLLECTION
from caas_operator.registry import Claims, credential_hash
from caas_operator.status import Finding, StepOutcome

logger = logging.getLogger(__name__)

REGISTRY: str = f"{PLATFORM_DATABASE}.{REGISTRY_COLLECTION}"
# Resolves once the credentials Secret is written (True) or could not be (False).
Stored = Callable[[], Awaitable[bool]]


@dataclass(frozen=True, slots=True, kw_only=True)
class Run:
    """One reconcile's inputs, shared by the steps."""

    context: OperatorContext
    plan: TenantPlan
    observed: Observed
    owner: kube.Owner
    # Conditions that were True for this generation: changes found there are drift.
    steady: frozenset[str]
    # Names the operator wrote into the status earlier (objects it made before the registry).
    listed: frozenset[str]
    now: datetime
    # Status keys (namespace, database, redisUser, kafkaUser) of objects found to be ours.
    owned: dict[str, str] = field(default_factory=dict)

    @property
    def tenant(self) -> str:
        """The tenant's name."""
        return self.plan.names.tenant

    @property
    def claims(self) -> Claims:
        """The tenant's registered objects (steps run only when the registry was readable)."""
        return self.observed.claims or {}

    def claimed(self, kind: ResourceKind, name: str) -> bool:
        """Whether the object is registered to this tenant."""
        return (kind, name) in self.claims

    def ownership(self, kind: ResourceKind, name: str, *, exists: bool) -> Ownership:
        """What the operator may do with the object."""
        return decide_ownership(
            claimed=self.claimed(kind, name), exists=exists, listed_in_status=name in self.listed
        )

    async def claim(
        self, kind: ResourceKind, names: Sequence[str], *, credential_hash: str | None = None
    ) -> None:
        """Register objects to this tenant before creating them."""
        await self.context.registry.claim(
            self.tenant,
            kind,
            list(names),
            uid=self.owner.uid,
            now=self.now,
            credential_hash=credential_hash,
        )

    async def claim_items(self, items: Sequence[tuple[ResourceKind, str]]) -> None:
        """Register objects of several kinds to this tenant in one write."""
        await self.context.registry.claim_items(
            self.tenant, items, uid=self.owner.uid, now=self.now
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Applied:
    """Outcomes of every step plus what the status lists."""

    outcomes: list[StepOutcome]
    owned: dict[str, str] = field(default_factory=dict)
    # None when Kafka could not be asked: the listed topics stay as they were.
    topics: tuple[str, ...] | None = None


@dataclass(slots=True)
class _Notes:
    """Actions and findings collected by a step."""

    steady: bool
    actions: list[str] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)

    def change(
        self, backend: DriftBackend, obj: str, *, found: str, action: str, known: bool = True
    ) -> None:
        """A correction: drift when the backend was converged and the object was made before
        (`known`: registered or adopted earlier), otherwise plain provisioning."""
        if self.steady and known:
            self.findings.append(Finding(backend=backend, object=obj, found=found, corrected=True))
        else:
            self.actions.append(action)

    def outcome(
        self, condition: str, *, ok: bool, reason: str, message: str, retryable: bool = True
    ) -> StepOutcome:
        """The step's outcome with what it noted."""
        return StepOutcome(
            condition=condition,
            ok=ok,
            reason=reason,
            message=message,
            retryable=retryable,
            actions=tuple(self.actions),
            findings=tuple(self.findings),
        )


def _show(labels: Mapping[str, str]) -> str:
    return ", ".join(f"{k}={v}" for k, v in labels.items())


def _not_owned(condition: str, message: str, notes: _Notes | None = None) -> StepOutcome:
    if notes is not None:
        return notes.outcome(
            condition, ok=False, reason="NotOwned", message=message, retryable=False
        )
    return StepOutcome(
        condition=condition, ok=False, reason="NotOwned", message=message, retryable=False
    )


def _registry_down(condition: str, run: Run) -> StepOutcome:
    return StepOutcome(
        condition=condition,
        ok=False,
        reason="RegistryUnavailable",
        message=(
            f"the ownership registry ({REGISTRY}) cannot be read "
            f"({run.observed.registry_error}); nothing is changed until ownership can be checked"
        ),
    )


def _waiting_for_secret(condition: str, what: str) -> StepOutcome:
    return StepOutcome(
        condition=condition,
        ok=False,
        reason="CredentialsNotStored",
        message=f"waiting for the credentials Secret before setting the {what} password",
    )


async def apply_plan(run: Run) -> Applied:
    """Provision everything; one outcome per step.

    The Kubernetes step (namespace, credentials Secret) runs beside the data steps (database,
    collections, topics); only setting credentials in a backend waits for the Secret, so a
    password is never accepted by a backend before it is stored.
    """
    runner = StepRunner(step_timeout=run.context.settings.step_timeout)
    k8s_task = asyncio.create_task(runner.run(READY, lambda: _kubernetes(run)))

    async def stored() -> bool:
        return (await asyncio.shield(k8s_task)).ok

    kafka_result: dict[str, object] = {}
    backends = await asyncio.gather(
        runner.run(MONGO_READY, lambda: _mongo(run, stored=stored)),
        runner.run(KAFKA_READY, lambda: _kafka(run, stored=stored, result=kafka_result)),
        runner.run(REDIS_READY, lambda: _redis(run, stored=stored)),
    )
    outcomes = [await k8s_task, *backends]
    topics = kafka_result.get("topics")
    return Applied(
        outcomes=outcomes,
        owned=dict(run.owned),
        topics=tuple(topics) if isinstance(topics, tuple) else None,
    )


# --- Kubernetes ----------------------------------------------------------------------------------


async def _kubernetes(run: Run) -> StepOutcome:
    names, plan = run.plan.names, run.plan
    notes = _Notes(steady=READY in run.steady)
    namespace = run.observed.namespace
    if namespace is not None:
        if not owns_kubernetes_object(namespace.labels, tenant=run.tenant):
            return _not_owned(
                READY,
                f"namespace {names.namespace} exists but is not managed by caas-operator for "
                f"tenant {run.tenant} (labels {_show(plan.labels)} missing); it is not adopted",
            )
        if namespace.terminating:
            return StepOutcome(
                condition=READY,
                ok=False,
                reason="NamespaceTerminating",
                message=f"namespace {names.namespace} is still being deleted; retrying",
            )
    run.owned["namespace"] = names.namespace
    if (
        namespace is None
        or any(namespace.labels.get(k) != v for k, v in plan.labels.items())
        or run.owner.uid not in namespace.owner_uids
    ):
        await kube.apply_namespace(
            run.context.kube, name=names.namespace, labels=plan.labels, owner=run.owner
        )
        if namespace is None:
            notes.change(
                DriftBackend.KUBERNETES,
                f"namespace {names.namespace}",
                found="deleted; re-created",
                action=f"created namespace {names.namespace}",
            )
        else:
            notes.actions.append(f"updated namespace {names.namespace} (labels, owner)")
    failed = await _credentials_secret(run, notes)
    if failed is not None:
        return failed
    return notes.outcome(READY, ok=True, reason="NamespaceReady", message="")


async def _credentials_secret(run: Run, notes: _Notes) -> StepOutcome | None:
    """Create or restore the credentials Secret; an outcome only when it cannot be."""
    names, plan = run.plan.names, run.plan
    secret = run.observed.secret
    where = f"Secret {names.namespace}/{names.credentials_secret}"
    if secret is not None and not owns_kubernetes_object(secret.labels, tenant=run.tenant):
        return _not_owned(
            READY,
            f"{where} exists but was not created by caas-operator (labels {_show(plan.labels)} "
            "missing); it is neither adopted nor overwritten",
            notes,
        )
    if (
        secret is None
        or dict(secret.data) != dict(plan.secret_data)
        or any(secret.labels.get(k) != v for k, v in plan.labels.items())
        or run.owner.uid not in secret.owner_uids
    ):
        try:
            await kube.apply_secret(
                run.context.kube,
                namespace=names.namespace,
                name=names.credentials_secret,
                labels=plan.labels,
                data=plan.secret_data,
                owner=run.owner,
            )
        except ApiError as exc:
            if not kube.namespace_terminating(exc):
                raise
            # Deleted (by hand) since it was read: wait until it is gone, then re-create it.
            return StepOutcome(
                condition=READY,
                ok=False,
                reason="NamespaceTerminating",
                message=f"namespace {names.namespace} is being deleted; retrying",
            )
        if secret is None:
            notes.change(
                DriftBackend.KUBERNETES,
                where,
                found="deleted; re-created (passwords regenerated)",
                action=f"created {where}",
            )
        else:
            changed = sorted(
                k for k in set(secret.data) | set(plan.secret_data)
                if secret.data.get(k) != plan.secret_data.get(k)
            )  # fmt: skip
            # New keys (a capability detected since) are provisioning; edited or removed are drift.
            tampered = [k for k in changed if k in secret.data]
            if tampered:
                notes.change(
                    DriftBackend.KUBERNETES,
                    where,
                    found=f"keys {', '.join(tampered)} differ; restored",
                    action=f"updated {where} ({', '.join(changed)})",
                )
            else:
                notes.actions.append(f"updated {where} ({', '.join(changed) or 'metadata'})")
    return None


# --- MongoDB -------------------------------------------------------------------------------------


async def _mongo(run: Run, *, stored: Stored) -> StepOutcome:
    if run.observed.claims is None:
        return _registry_down(MONGO_READY, run)
    context, plan = run.context, run.plan
    database = plan.names.database
    notes = _Notes(steady=MONGO_READY in run.steady)
    existing = await mongo.list_collections(context.clients.mongo, database=database)
    ownership = run.ownership(ResourceKind.MONGO_DATABASE, database, exists=bool(existing))
    if ownership is Ownership.FOREIGN:
        return _not_owned(
            MONGO_READY,
            f"database {database} already exists ({len(existing)} collections) and is not "
            f"registered to tenant {run.tenant} in {REGISTRY}; it is not adopted",
        )
    known = ownership is not Ownership.CLAIM
    claims, removed = _index_changes(run)
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


def _index_changes(
    run: Run,
) -> tuple[list[tuple[ResourceKind, str]], list[tuple[str, str, str]]]:
    """The spec's indexes not registered yet (registered before they are created), and the
    registered ones the spec no longer wants."""
    database = run.plan.names.database
    claimed = {name for kind, name in run.claims if kind is ResourceKind.MONGO_INDEX}
    wanted = index_names(database, run.plan.collections)
    unclaimed = [(ResourceKind.MONGO_INDEX, name) for name in wanted if name not in claimed]
    return unclaimed, removed_indexes(database, claimed=claimed, wanted=wanted)


async def _drop_indexes(run: Run, notes: _Notes, removed: list[tuple[str, str, str]]) -> None:
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


async def _mongo_user(run: Run, notes: _Notes, *, stored: Stored) -> str | StepOutcome:
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
            "createUser are missing, as on FerretDB), so isolation is by database name only"
        )
    password = run.plan.credentials.mongo
    if password is None or not await stored():
        return _waiting_for_secret(MONGO_READY, "MongoDB")
    kind, user = ResourceKind.MONGO_USER, names.mongo_user
    claim = run.claims.get((kind, user))
    if claim is None:
        await run.claim(kind, [user])
    wanted = credential_hash(password)
    try:
        report = await mongo.ensure_user(
            client,
            database=names.database,
            username=user,
            password=password,
            set_password=claim is None or claim.credential_hash != wanted,
            marker={"tenant": run.tenant},
        )
    except mongo.MongoUserNotOwnedError as exc:
        if claim is None:
            await context.registry.release(kind, [user])
        return _not_owned(MONGO_READY, str(exc), notes)
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
    if claim is None or claim.credential_hash != wanted:
        await context.registry.set_credential_hash(kind, user, wanted)
    return f"user {user} has readWrite on {names.database} only"


# --- Kafka ---------------------------------------------------------------------------------------


async def _kafka(run: Run, *, stored: Stored, result: dict[str, object]) -> StepOutcome:
    if run.observed.claims is None:
        return _registry_down(KAFKA_READY, run)
    context, plan = run.context, run.plan
    admin, timeout = context.clients.kafka, context.settings.backend_timeout
    notes = _Notes(steady=KAFKA_READY in run.steady)
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
        return _not_owned(
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


async def _removed_topics(run: Run, notes: _Notes, removed: list[str]) -> str:
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
    notes: _Notes,
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
        return _waiting_for_secret(KAFKA_READY, "Kafka SCRAM")
    kind = ResourceKind.KAFKA_USER
    ownership = run.ownership(kind, user, exists=exists)
    if ownership is Ownership.FOREIGN:
        return _not_owned(
            KAFKA_READY,
            f"Kafka SCRAM user {user} exists but is not registered to tenant {run.tenant} in "
            f"{REGISTRY}; its credential and ACLs are left alone",
            notes,
        )
    claim = run.claims.get((kind, user))
    wanted = credential_hash(password)
    if claim is None:
        await run.claim(kind, [user], credential_hash=wanted)
    diff = diff_acls(plan.kafka_acls, acls.rules, foreign=acls.foreign)
    unwanted = [b for b in acls.bindings if kafka.binding_rule(b) not in plan.kafka_acls]
    set_password = not exists or claim is None or claim.credential_hash != wanted
    # A new claim already carries the hash; an existing one is updated once Kafka has it.
    record_hash = claim is not None and claim.credential_hash != wanted
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
        elif claim is not None and claim.credential_hash is not None:
            notes.actions.append(f"set the SCRAM password of {principal} from the Secret")
    if record_hash:
        await context.registry.set_credential_hash(kind, user, wanted)
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


# --- Redis ---------------------------------------------------------------------------------------


async def _redis(run: Run, *, stored: Stored) -> StepOutcome:
    if run.observed.claims is None:
        return _registry_down(REDIS_READY, run)
    context, spec = run.context, run.plan.redis_user
    notes = _Notes(steady=REDIS_READY in run.steady)
    live = await redis.get_acl_user(context.clients.redis, name=spec.name)
    ownership = run.ownership(ResourceKind.REDIS_USER, spec.name, exists=live is not None)
    if ownership is Ownership.FOREIGN:
        return _not_owned(
            REDIS_READY,
            f"Redis user {spec.name} exists but is not registered to tenant {run.tenant} in "
            f"{REGISTRY}; it is neither adopted nor overwritten",
        )
    if not await stored():
        return _waiting_for_secret(REDIS_READY, "Redis")
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
