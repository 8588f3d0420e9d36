"""One reconcile's inputs, shared by the provisioning steps (`kubernetes`, `mongo`, `kafka`,
`redis`), with the registry operations every step uses."""

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from caas_operator.context import OperatorContext
from caas_operator.shared.kube import Owner
from caas_operator.shared.ownership import Claims, Ownership, ResourceKind, decide_ownership
from caas_operator.tenant.gather import Observed
from caas_operator.tenant.plan import TenantPlan

# Resolves once the credentials Secret is written (True) or could not be (False).
Stored = Callable[[], Awaitable[bool]]


@dataclass(frozen=True, slots=True, kw_only=True)
class Run:
    """One reconcile's inputs, shared by the steps."""

    context: OperatorContext
    plan: TenantPlan
    observed: Observed
    owner: Owner
    # Conditions that were True for this generation: changes found there are drift.
    steady: frozenset[str]
    # Names the operator wrote into the status earlier (objects it made before the registry).
    listed: frozenset[str]
    now: datetime
    # Status keys (namespace, database, redisUser, kafkaUser) of objects found to be ours.
    owned: dict[str, str] = field(default_factory=dict)

    @property
    def tenant(self) -> str:
        """The tenant's name."""
        return self.plan.names.tenant

    @property
    def claims(self) -> Claims:
        """The tenant's registered objects (steps run only when the registry was readable)."""
        return self.observed.claims or {}

    def claimed(self, kind: ResourceKind, name: str) -> bool:
        """Whether the object is registered to this tenant."""
        return (kind, name) in self.claims

    def ownership(self, kind: ResourceKind, name: str, *, exists: bool) -> Ownership:
        """What the operator may do with the object."""
        return decide_ownership(
            claimed=self.claimed(kind, name), exists=exists, listed_in_status=name in self.listed
        )

    async def claim(
        self, kind: ResourceKind, names: Sequence[str], *, credential_hash: str | None = None
    ) -> None:
        """Register objects to this tenant before creating them."""
        await self.context.registry.claim(
            self.tenant,
            kind,
            list(names),
            uid=self.owner.uid,
            now=self.now,
            credential_hash=credential_hash,
        )

    async def claim_items(self, items: Sequence[tuple[ResourceKind, str]]) -> None:
        """Register objects of several kinds to this tenant in one write."""
        await self.context.registry.claim_items(
            self.tenant, items, uid=self.owner.uid, now=self.now
        )
