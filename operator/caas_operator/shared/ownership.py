"""Pure: kinds of registered backend objects, who owns an object, and what a backend supports.

The registry itself (I/O) is `caas_operator.shared.registry`; these are the rules it and the
provisioning steps apply.
"""

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from caas_core.domain.naming import MANAGED_BY, MANAGED_BY_LABEL, PLATFORM_DATABASE, TENANT_LABEL

REGISTRY_COLLECTION: Final = "tenant_resources"
# Where the registry lives, as messages name it.
REGISTRY: Final = f"{PLATFORM_DATABASE}.{REGISTRY_COLLECTION}"


class ResourceKind(StrEnum):
    """Kinds of backend objects in the ownership registry."""

    MONGO_DATABASE = "mongo-database"
    MONGO_USER = "mongo-user"
    KAFKA_TOPIC = "kafka-topic"
    KAFKA_USER = "kafka-user"
    REDIS_USER = "redis-user"
    MONGO_INDEX = "mongo-index"  # <database>.<collection>.<index>: only those it created go


class Ownership(StrEnum):
    """What the operator may do with a backend object."""

    MANAGED = "Managed"  # registered to this tenant
    CLAIM = "Claim"  # absent: register, then create it
    ADOPT = "Adopt"  # made by an operator version before the registry (the status names it)
    FOREIGN = "Foreign"  # exists and is not ours: never touched


class ClaimConflictError(RuntimeError):
    """The object is registered to another tenant."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Claim:
    """One registered object."""

    kind: ResourceKind
    name: str
    tenant: str
    # SHA-256 of the credential last set on the object (users only): detects a new password.
    credential_hash: str | None = None


Claims = dict[tuple[ResourceKind, str], Claim]


@dataclass(frozen=True, slots=True, kw_only=True)
class Capabilities:
    """What the backends support, as last detected (None: not known yet)."""

    kafka_authorizer: bool | None = None
    mongo_users: bool | None = None


def credential_hash(password: str) -> str:
    """Fingerprint of a generated (high-entropy) password; reveals nothing usable."""
    return hashlib.sha256(password.encode()).hexdigest()


def decide_ownership(*, claimed: bool, exists: bool, listed_in_status: bool) -> Ownership:
    """Registry first; an object nobody registered is ours only if absent or in our own status."""
    if claimed:
        return Ownership.MANAGED
    if not exists:
        return Ownership.CLAIM
    if listed_in_status:
        return Ownership.ADOPT
    return Ownership.FOREIGN


def owns_kubernetes_object(labels: Mapping[str, str] | None, *, tenant: str) -> bool:
    """A namespace or Secret is ours when it carries our managed-by and tenant labels."""
    found = labels or {}
    return found.get(MANAGED_BY_LABEL) == MANAGED_BY and found.get(TENANT_LABEL) == tenant
