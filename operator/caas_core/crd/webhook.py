"""The Webhook CustomResourceDefinition, assembled from the resource models."""

from typing import Any, Final

from caas_core.crd.namespaced import KindNames, column, namespaced_crd, printer_columns
from caas_core.resources.webhook import WebhookSpec, WebhookStatus

NAMES: Final = KindNames(kind="Webhook", plural="webhooks", singular="webhook", short_names=("wh",))
CRD_NAME: Final = NAMES.crd_name


def webhook_crd() -> dict[str, Any]:
    """The Webhook CRD as a Kubernetes object."""
    return namespaced_crd(
        names=NAMES,
        description=(
            "A webhook endpoint of the namespace's tenant. The operator validates the URL "
            "(https, public addresses only), generates a whsec_ signing secret into a Secret and "
            "registers the endpoint for the dispatcher; deleting the resource unregisters it."
        ),
        spec_model=WebhookSpec,
        status_model=WebhookStatus,
        columns=printer_columns(
            column("Tenant", ".status.tenant"),
            column("URL", ".spec.url"),
            column("Enabled", ".spec.enabled", kind="boolean", priority=1),
            column("Secret", ".status.secretName", priority=1),
        ),
    )
