"""The AccessPolicy CustomResourceDefinition, assembled from the resource models."""

from typing import Any, Final

from caas_core.crd.namespaced import KindNames, column, namespaced_crd, printer_columns
from caas_core.resources.accesspolicy import AccessPolicySpec, AccessPolicyStatus

NAMES: Final = KindNames(
    kind="AccessPolicy", plural="accesspolicies", singular="accesspolicy", short_names=("ap",)
)
CRD_NAME: Final = NAMES.crd_name


def accesspolicy_crd() -> dict[str, Any]:
    """The AccessPolicy CRD as a Kubernetes object."""
    crd = namespaced_crd(
        names=NAMES,
        description=(
            "Authorization policies of the namespace's tenant (permit/forbid, JSON or Cedar-like "
            "text). The operator validates them against the tenant's schema and writes them to "
            "the tenant's policy store; an invalid version is refused with the error's location "
            "and the previous valid one stays in effect."
        ),
        spec_model=AccessPolicySpec,
        status_model=AccessPolicyStatus,
        columns=printer_columns(
            column("Tenant", ".status.tenant"),
            column("Policies", ".status.policies", kind="integer"),
            column("Version", ".status.policySetVersion", priority=1),
        ),
    )
    # An AccessPolicy without policies is a mistake, not a default: the spec is required, with
    # no `{}` default (which the CEL rule would refuse, and the API server with it).
    root = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    root["properties"]["spec"].pop("default", None)
    root["required"] = ["spec"]
    return crd
