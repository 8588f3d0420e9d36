"""What the authorization services need from storage (Protocols; no I/O here).

Kept beside the services rather than in `ports.py`: the authorization store is
`caas_core.adapters.authz_store.AuthzStore` (shared with the operator), the decision cache and
recent-decision log `caas_control_plane.stores.authz_cache.RedisDecisionCache`.
"""

from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from caas_core.authz.documents import Assembled, Kind
from caas_core.authz.objects import Committed, Operation, StoredObject, Writer


class AuthzObjects(Protocol):
    """A tenant's authorization objects: validated, versioned, ownership-checked writes."""

    async def version(self, tenant: str) -> str: ...
    async def list_objects(self, tenant: str, kind: Kind) -> list[StoredObject]: ...
    async def get(self, tenant: str, kind: Kind, key: str) -> StoredObject | None: ...
    async def load_assembled(self, tenant: str) -> Assembled: ...
    async def change(
        self,
        tenant: str,
        operations: Iterable[Operation],
        *,
        writer: Writer,
        must_exist: bool = False,
    ) -> Committed: ...


class DecisionCache(Protocol):
    """Decisions by `decision_key` for a while, and each tenant's recent decisions."""

    async def get(self, key: str) -> Mapping[str, Any] | None: ...
    async def remember(
        self,
        key: str,
        decision: Mapping[str, Any],
        *,
        ttl: int,
        tenant: str,
        record: Mapping[str, Any],
        keep: int,
    ) -> None: ...
    async def recent(self, tenant: str, *, limit: int) -> list[Mapping[str, Any]]: ...
