"""Shared shape of the namespaced CRDs (ApiKey, Webhook, RetentionPolicy), as for Tenant."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from pydantic import BaseModel

from caas_core.crd.schema import structural_schema, with_default, without_defaults
from caas_core.domain.naming import API_GROUP, API_VERSION

CATEGORIES: Final = ("caas",)
READY_PATH: Final = '.status.conditions[?(@.type=="Ready")]'
# Names end up in label values (at most 63 characters) of the objects made for the resource.
NAME_MAX_LENGTH: Final = 63
NAME_RULE: Final = {
    "rule": f"self.size() <= {NAME_MAX_LENGTH}",
    "message": f"names are at most {NAME_MAX_LENGTH} characters (they are used as label values)",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class KindNames:
    """The names of one kind."""

    kind: str
    plural: str
    singular: str
    short_names: tuple[str, ...]

    @property
    def crd_name(self) -> str:
        """metadata.name of the CRD."""
        return f"{self.plural}.{API_GROUP}"

    @property
    def api_version(self) -> str:
        """apiVersion of the resources."""
        return f"{API_GROUP}/{API_VERSION}"


def column(name: str, json_path: str, *, kind: str = "string", priority: int = 0) -> dict[str, Any]:
    """One additionalPrinterColumn."""
    out: dict[str, Any] = {"name": name, "type": kind, "jsonPath": json_path}
    if priority:
        out["priority"] = priority
    return out


def printer_columns(*middle: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Ready and Reason first, the kind's own columns, then Message (wide) and Age."""
    return [
        column("Ready", f"{READY_PATH}.status"),
        column("Reason", f"{READY_PATH}.reason"),
        *(dict(c) for c in middle),
        column("Message", f"{READY_PATH}.message", priority=1),
        column("Age", ".metadata.creationTimestamp", kind="date"),
    ]


def namespaced_crd(
    *,
    names: KindNames,
    description: str,
    spec_model: type[BaseModel],
    status_model: type[BaseModel],
    columns: Sequence[Mapping[str, Any]],
) -> dict[str, Any]:
    """A namespaced CRD with a status subresource, printer columns and the caas category."""
    spec = _spec_schema(spec_model)
    root: dict[str, Any] = {
        "description": description,
        "type": "object",
        "properties": {
            "apiVersion": {
                "description": "Versioned schema of this representation of an object.",
                "type": "string",
            },
            "kind": {"description": "REST resource this object represents.", "type": "string"},
            "metadata": {
                "type": "object",
                "properties": {
                    "name": {"type": "string", "x-kubernetes-validations": [dict(NAME_RULE)]}
                },
            },
            "spec": spec,
            # Status is written by the operator alone; defaults there would hide missing writes.
            "status": without_defaults(structural_schema(status_model)),
        },
    }
    if "default" not in spec:
        root["required"] = ["spec"]
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": names.crd_name, "labels": {"app.kubernetes.io/part-of": "caas"}},
        "spec": {
            "group": API_GROUP,
            "names": {
                "kind": names.kind,
                "listKind": f"{names.kind}List",
                "plural": names.plural,
                "singular": names.singular,
                "shortNames": list(names.short_names),
                "categories": list(CATEGORIES),
            },
            "scope": "Namespaced",
            "versions": [
                {
                    "name": API_VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": [dict(c) for c in columns],
                    "schema": {"openAPIV3Schema": root},
                }
            ],
        },
    }


def _spec_schema(model: type[BaseModel]) -> dict[str, Any]:
    # An omitted spec gets every default, unless the kind has fields one must give.
    schema = structural_schema(model)
    return schema if schema.get("required") else with_default(schema, {})
