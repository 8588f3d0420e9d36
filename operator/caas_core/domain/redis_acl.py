"""Redis ACL user specifications (what a tenant's Redis user may touch)."""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

# Everything except administration and commands that can hurt other tenants (FLUSHALL, KEYS, ...).
DEFAULT_TENANT_CATEGORIES: Final = ("+@all", "-@admin", "-@dangerous")


@dataclass(frozen=True, slots=True, kw_only=True)
class AclUserSpec:
    """A Redis ACL user confined to one key pattern and one channel pattern."""

    name: str
    key_pattern: str
    channel_pattern: str
    categories: Sequence[str] = DEFAULT_TENANT_CATEGORIES
