"""Provisioning step: the tenant's namespace and credentials Secret."""

from lightkube import ApiError

from caas_core.resources.tenant import DriftBackend
from caas_operator.shared import kube as kube_io
from caas_operator.shared.conditions import READY, StepOutcome
from caas_operator.shared.ownership import owns_kubernetes_object
from caas_operator.tenant.provision.run import Run
from caas_operator.tenant.steps import StepNotes, needs_write, not_owned, secret_changes, show


async def provision_kubernetes(run: Run) -> StepOutcome:
    """The namespace and the credentials Secret (labelled, owned by the Tenant)."""
    names, plan = run.plan.names, run.plan
    notes = StepNotes(steady=READY in run.steady)
    namespace = run.observed.namespace
    if namespace is not None:
        if not owns_kubernetes_object(namespace.labels, tenant=run.tenant):
            return not_owned(
                READY,
                f"namespace {names.namespace} exists but is not managed by caas-operator for "
                f"tenant {run.tenant} (labels {show(plan.labels)} missing); it is not adopted",
            )
        if namespace.terminating:
            return StepOutcome(
                condition=READY,
                ok=False,
                reason="NamespaceTerminating",
                message=f"namespace {names.namespace} is still being deleted; retrying",
            )
    run.owned["namespace"] = names.namespace
    if namespace is None or needs_write(
        labels=namespace.labels,
        owner_uids=namespace.owner_uids,
        want_labels=plan.labels,
        owner_uid=run.owner.uid,
    ):
        await kube_io.apply_namespace(
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


async def _credentials_secret(run: Run, notes: StepNotes) -> StepOutcome | None:
    """Create or restore the credentials Secret; an outcome only when it cannot be."""
    names, plan = run.plan.names, run.plan
    secret = run.observed.secret
    where = f"Secret {names.namespace}/{names.credentials_secret}"
    if secret is not None and not owns_kubernetes_object(secret.labels, tenant=run.tenant):
        return not_owned(
            READY,
            f"{where} exists but was not created by caas-operator (labels {show(plan.labels)} "
            "missing); it is neither adopted nor overwritten",
            notes,
        )
    if (
        secret is None
        or dict(secret.data) != dict(plan.secret_data)
        or needs_write(
            labels=secret.labels,
            owner_uids=secret.owner_uids,
            want_labels=plan.labels,
            owner_uid=run.owner.uid,
        )
    ):
        try:
            await kube_io.apply_secret(
                run.context.kube,
                namespace=names.namespace,
                name=names.credentials_secret,
                labels=plan.labels,
                data=plan.secret_data,
                owner=run.owner,
            )
        except ApiError as exc:
            if not kube_io.namespace_terminating(exc):
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
            keys = secret_changes(secret.data, plan.secret_data)
            changed, tampered = keys.changed, keys.tampered
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
