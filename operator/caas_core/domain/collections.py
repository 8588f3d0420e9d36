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


# No TTL or partial indexes: FerretDB lacks them, so expiry is done by explicit sweeps.
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
    CollectionSpec(
        name="saas_clients",
        indexes=(IndexSpec(name="client_id_unique", keys=(("client_id", 1),), unique=True),),
    ),
    CollectionSpec(
        name="applications",
        indexes=(
            IndexSpec(name="app_id_unique", keys=(("app_id", 1),), unique=True),
            IndexSpec(name="client_id", keys=(("client_id", 1),)),
        ),
    ),
    CollectionSpec(
        name="api_keys",
        indexes=(
            IndexSpec(name="key_hash_unique", keys=(("key_hash", 1),), unique=True),
            IndexSpec(name="tenant", keys=(("tenant", 1),)),
        ),
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
