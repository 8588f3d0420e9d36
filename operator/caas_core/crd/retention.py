"""The RetentionPolicy CustomResourceDefinition, assembled from the resource models."""

from typing import Any, Final

from caas_core.crd.namespaced import KindNames, column, namespaced_crd, printer_columns
from caas_core.resources.retention import RetentionPolicySpec, RetentionPolicyStatus

NAMES: Final = KindNames(
    kind="RetentionPolicy",
    plural="retentionpolicies",
    singular="retentionpolicy",
    short_names=("rp",),
)
CRD_NAME: Final = NAMES.crd_name


def retention_crd() -> dict[str, Any]:
    """The RetentionPolicy CRD as a Kubernetes object."""
    return namespaced_crd(
        names=NAMES,
        description=(
            "How long each class of the namespace's tenant's data is kept. The operator sets "
            "retention.ms on the tenant's topics and sweeps expired records from its MongoDB "
            "collections, skipping records under legal hold, logging every run."
        ),
        spec_model=RetentionPolicySpec,
        status_model=RetentionPolicyStatus,
        columns=printer_columns(
            column("Tenant", ".status.tenant"),
            column("Deleted", ".status.lastSweep.deleted", kind="integer"),
            column("Last-Sweep", ".status.lastSweep.finishedAt", kind="date"),
            column("Dry-Run", ".spec.dryRun", kind="boolean", priority=1),
        ),
    )
