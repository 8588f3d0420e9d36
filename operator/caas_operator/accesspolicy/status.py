"""Pure: an AccessPolicy's status fields and Ready messages."""

from collections.abc import Mapping
from typing import Any, Final

APPLIED: Final = "Applied"


def status_fields(
    *,
    tenant: str | None,
    policies: int,
    applied_generation: int | None,
    version: str | None,
) -> dict[str, Any]:
    """The kind's own status fields (None clears a field)."""
    return {
        "tenant": tenant,
        "policies": policies,
        "appliedGeneration": applied_generation,
        "policySetVersion": version,
    }


def kept_fields(old_status: Mapping[str, Any] | None, *, tenant: str | None) -> dict[str, Any]:
    """The fields of a refused generation: what is still in effect is the earlier one's."""
    old = old_status or {}
    return {
        "tenant": tenant or old.get("tenant"),
        "policies": old.get("policies"),
        "appliedGeneration": old.get("appliedGeneration"),
        "policySetVersion": old.get("policySetVersion"),
    }


def ready_message(*, tenant: str, policies: int, from_text: int, version: str) -> str:
    """The Ready=True message."""
    text = f" ({from_text} from spec.text)" if from_text else ""
    noun = "policy" if policies == 1 else "policies"
    return f"{policies} {noun}{text} in effect for tenant {tenant} (policy-set version {version})"


def refused_message(message: str, old_status: Mapping[str, Any] | None) -> str:
    """A refusal's message, saying what stays in effect meanwhile."""
    applied = (old_status or {}).get("appliedGeneration")
    if applied is None:
        return f"{message}; nothing of this resource is in effect"
    return f"{message}; generation {applied} stays in effect"
