"""The ApiKey CustomResourceDefinition, assembled from the resource models."""

from typing import Any, Final

from caas_core.crd.namespaced import KindNames, column, namespaced_crd, printer_columns
from caas_core.resources.apikey import ApiKeySpec, ApiKeyStatus

NAMES: Final = KindNames(kind="ApiKey", plural="apikeys", singular="apikey", short_names=("ak",))
CRD_NAME: Final = NAMES.crd_name


def apikey_crd() -> dict[str, Any]:
    """The ApiKey CRD as a Kubernetes object."""
    return namespaced_crd(
        names=NAMES,
        description=(
            "An API key of the namespace's tenant. The operator issues it into a Secret once, "
            "stores only its hash, rotates it with an overlap window, and revokes it on deletion."
        ),
        spec_model=ApiKeySpec,
        status_model=ApiKeyStatus,
        columns=printer_columns(
            column("Tenant", ".status.tenant"),
            column("Key", ".status.keyId"),
            column("Secret", ".status.secretName", priority=1),
            column("Expires", ".status.expiresAt", priority=1),
        ),
    )
