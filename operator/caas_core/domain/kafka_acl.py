"""A tenant's Kafka principal and the prefixed ACLs that confine it (pure; no Kafka client)."""

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

SCRAM_MECHANISM: Final = "SCRAM-SHA-512"
SCRAM_ITERATIONS: Final = 8192
ANY_HOST: Final = "*"


class AclResource(StrEnum):
    """Kafka resource types an ACL can name (the subset tenants need)."""

    TOPIC = "TOPIC"
    GROUP = "GROUP"
    TRANSACTIONAL_ID = "TRANSACTIONAL_ID"


class AclOp(StrEnum):
    """Kafka ACL operations (the subset tenants get)."""

    READ = "READ"
    WRITE = "WRITE"
    DESCRIBE = "DESCRIBE"
    DESCRIBE_CONFIGS = "DESCRIBE_CONFIGS"


@dataclass(frozen=True, slots=True, kw_only=True, order=True)
class AclRule:
    """One ALLOW binding on a prefixed resource pattern for a principal."""

    principal: str
    resource: AclResource
    prefix: str
    operation: AclOp

    def describe(self) -> str:
        """Human-readable one-liner, e.g. `TOPIC tenant.acme.* READ`."""
        return f"{self.resource.value} {self.prefix}* {self.operation.value}"


# Produce and consume on the tenant's topics, consumer groups and transactions under its prefix.
# No CREATE, DELETE or ALTER: the operator alone shapes topics, from the spec.
_GRANTS: Final = (
    (AclResource.TOPIC, (AclOp.READ, AclOp.WRITE, AclOp.DESCRIBE, AclOp.DESCRIBE_CONFIGS)),
    (AclResource.GROUP, (AclOp.READ, AclOp.DESCRIBE)),
    (AclResource.TRANSACTIONAL_ID, (AclOp.WRITE, AclOp.DESCRIBE)),
)


def principal_of(username: str) -> str:
    """The Kafka principal string of a SCRAM user."""
    return f"User:{username}"


def tenant_acls(*, username: str, prefix: str) -> frozenset[AclRule]:
    """Every ACL the tenant's principal should have: prefixed, ALLOW, any host."""
    principal = principal_of(username)
    return frozenset(
        AclRule(principal=principal, resource=resource, prefix=prefix, operation=op)
        for resource, operations in _GRANTS
        for op in operations
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class AclDiff:
    """What to add and remove to make a principal's live ACLs match the desired ones."""

    missing: tuple[AclRule, ...]
    extra: tuple[str, ...]

    @property
    def converged(self) -> bool:
        """True when nothing needs to change."""
        return not self.missing and not self.extra


def diff_acls(
    desired: Iterable[AclRule], live: Iterable[AclRule], *, foreign: Iterable[str] = ()
) -> AclDiff:
    """Missing desired rules, and live ones (or bindings we cannot express) that must go."""
    wanted = frozenset(desired)
    present = frozenset(live)
    return AclDiff(
        missing=tuple(sorted(wanted - present)),
        extra=tuple(sorted([r.describe() for r in present - wanted] + list(foreign))),
    )
