"""The Tenant CustomResourceDefinition, assembled from the resource models."""

from typing import Any, Final

from caas_core.crd.schema import structural_schema, with_default, without_defaults
from caas_core.domain.naming import (
    API_GROUP,
    API_VERSION,
    TENANT_NAME_MAX_LENGTH,
    TENANT_NAME_PATTERN,
)
from caas_core.resources.tenant import TenantSpec, TenantStatus

KIND: Final = "Tenant"
PLURAL: Final = "tenants"
SINGULAR: Final = "tenant"
SHORT_NAMES: Final = ("tn",)
CATEGORIES: Final = ("caas",)
CRD_NAME: Final = f"{PLURAL}.{API_GROUP}"

_READY = '.status.conditions[?(@.type=="Ready")]'
_SYNCED = '.status.conditions[?(@.type=="Synced")]'
_NAME_RULES: Final = (
    {
        "rule": f"self.size() <= {TENANT_NAME_MAX_LENGTH}",
        "message": (
            f"tenant names are at most {TENANT_NAME_MAX_LENGTH} characters "
            "so that derived backend names fit"
        ),
    },
    {
        "rule": f"self.matches('{TENANT_NAME_PATTERN}')",
        "message": "tenant names must be DNS-1123 labels (lowercase letters, digits and '-')",
    },
)


def _root_schema() -> dict[str, Any]:
    # An omitted spec still gets every default, so `kind: Tenant` with a name is enough.
    spec = with_default(structural_schema(TenantSpec), {})
    # Status is written by the operator alone; defaults there would only hide missing writes.
    status = without_defaults(structural_schema(TenantStatus))
    return {
        "description": "A tenant of the CAAS platform and the backend resources made for it.",
        "type": "object",
        "properties": {
            "apiVersion": {
                "description": "Versioned schema of this representation of an object.",
                "type": "string",
            },
            "kind": {
                "description": "REST resource this object represents.",
                "type": "string",
            },
            "metadata": {
                "type": "object",
                "properties": {
                    "name": {
                        "type": "string",
                        "x-kubernetes-validations": [dict(rule) for rule in _NAME_RULES],
                    }
                },
            },
            "spec": spec,
            "status": status,
        },
    }


def _printer_columns() -> list[dict[str, Any]]:
    return [
        {"name": "Ready", "type": "string", "jsonPath": f"{_READY}.status"},
        {"name": "Synced", "type": "string", "jsonPath": f"{_SYNCED}.status"},
        {"name": "Reason", "type": "string", "jsonPath": f"{_READY}.reason"},
        {"name": "Plan", "type": "string", "jsonPath": ".spec.plan.tier"},
        {"name": "Policy", "type": "string", "jsonPath": ".spec.deletionPolicy", "priority": 1},
        {"name": "Sync", "type": "string", "jsonPath": f"{_SYNCED}.reason", "priority": 1},
        {"name": "Message", "type": "string", "jsonPath": f"{_READY}.message", "priority": 1},
        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
    ]


def tenant_crd() -> dict[str, Any]:
    """The Tenant CRD as a Kubernetes object."""
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": CRD_NAME,
            "labels": {"app.kubernetes.io/part-of": "caas"},
        },
        "spec": {
            "group": API_GROUP,
            "names": {
                "kind": KIND,
                "listKind": f"{KIND}List",
                "plural": PLURAL,
                "singular": SINGULAR,
                "shortNames": list(SHORT_NAMES),
                "categories": list(CATEGORIES),
            },
            "scope": "Cluster",
            "versions": [
                {
                    "name": API_VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": _printer_columns(),
                    "schema": {"openAPIV3Schema": _root_schema()},
                }
            ],
        },
    }
