"""MongoDB layout: the platform registry's and every tenant's collections and indexes."""

from dataclasses import dataclass
from typing import Final


@dataclass(frozen=True, slots=True, kw_only=True)
class IndexSpec:
    """One index; the explicit name makes re-creating it a no-op and drift easy to spot."""

    name: str
    keys: tuple[tuple[str, int], ...]
    unique: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class CollectionSpec:
    """One collection and the indexes it must carry."""

    name: str
    indexes: tuple[IndexSpec, ...] = ()


# Tenant data is deleted by RetentionPolicy sweeps (audited, legal holds honoured), not by TTL
# indexes; the control plane's own expiring records use TTL indexes (caas_control_plane.runtime).
TENANT_COLLECTIONS: Final = (
    CollectionSpec(
        name="users",
        indexes=(IndexSpec(name="user_id_unique", keys=(("user_id", 1),), unique=True),),
    ),
    CollectionSpec(
        name="sessions",
        indexes=(
            IndexSpec(name="session_id_unique", keys=(("session_id", 1),), unique=True),
            IndexSpec(name="user_id", keys=(("user_id", 1),)),
            IndexSpec(name="expires_at", keys=(("expires_at", 1),)),
        ),
    ),
    CollectionSpec(
        name="devices",
        indexes=(
            IndexSpec(
                name="user_device_unique", keys=(("user_id", 1), ("device_id", 1)), unique=True
            ),
        ),
    ),
)
TENANT_COLLECTION_NAMES: Final = tuple(c.name for c in TENANT_COLLECTIONS)

PLATFORM_COLLECTIONS: Final = (
    # Keyed by `_id` (the tenant name): no unique index on a field some documents lack, which
    # real MongoDB would index as null and then refuse the second document.
    CollectionSpec(name="saas_clients", indexes=()),
    CollectionSpec(
        name="applications",
        indexes=(
            IndexSpec(name="app_id_unique", keys=(("app_id", 1),), unique=True),
            IndexSpec(name="client_id", keys=(("client_id", 1),)),
        ),
    ),
    # Shape in caas_core.domain.api_key_records (`_id` is the public key id).
    CollectionSpec(
        name="api_keys",
        indexes=(
            IndexSpec(name="key_hash_unique", keys=(("keyHash", 1),), unique=True),
            IndexSpec(name="tenant_created", keys=(("tenant", 1), ("createdAt", 1))),
            IndexSpec(name="source_uid", keys=(("source.uid", 1),)),
        ),
    ),
    # Shape in caas_core.domain.legal_holds.
    CollectionSpec(
        name="legal_holds",
        indexes=(IndexSpec(name="tenant", keys=(("tenant", 1), ("releasedAt", 1))),),
    ),
    CollectionSpec(
        name="platform_admins",
        indexes=(IndexSpec(name="email_unique", keys=(("email", 1),), unique=True),),
    ),
    # The operator's ownership registry: which backend object belongs to which tenant.
    CollectionSpec(
        name="tenant_resources",
        indexes=(IndexSpec(name="tenant", keys=(("tenant", 1),)),),
    ),
)
PLATFORM_COLLECTION_NAMES: Final = tuple(c.name for c in PLATFORM_COLLECTIONS)


def platform_collection(name: str) -> CollectionSpec:
    """The spec of one platform collection (its indexes are declared once, here)."""
    return next(c for c in PLATFORM_COLLECTIONS if c.name == name)
