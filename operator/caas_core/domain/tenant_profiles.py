"""A tenant's profile as stored in `caas_platform.saas_clients`: the operator's copy of the plan
and what the control plane lets the tenant change."""

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredProfile:
    """One tenant's stored profile (`plan` None: the operator has not synced one yet)."""

    tenant: str
    display_name: str | None = None
    settings: Mapping[str, Any] = field(default_factory=dict)
    plan: Mapping[str, Any] | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
