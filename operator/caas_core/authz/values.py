"""Runtime values of the policy language, with Cedar's meaning.

The engine is differential-tested against Cedar, so values compare the way Cedar compares them:
a Long is never equal to a Bool (Python says `True == 1`), a datetime is never equal to a
duration of the same milliseconds, and an entity id carries its tenant so two tenants' entities
can never be equal, whatever their type and id.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import NamedTuple

IpRange = ipaddress.IPv4Interface | ipaddress.IPv6Interface

LONG_MIN = -(2**63)
LONG_MAX = 2**63 - 1


class Uid(NamedTuple):
    """An entity id, `Type::"id"` within one tenant.

    A NamedTuple rather than a dataclass because it is hashed on every index lookup, and tuple
    hashing runs in C. The tenant is part of the identity: `User::"alice"` of tenant A and of
    tenant B are different keys everywhere (index, hierarchy, equality).
    """

    tenant: str
    type: str
    id: str

    def __str__(self) -> str:
        return f'{self.type}::"{self.id}"'


class TypeKey(NamedTuple):
    """Index key for `is <Type>` scopes: two fields, so it never equals a three-field Uid."""

    tenant: str
    type: str


@dataclass(frozen=True, slots=True)
class DateTime:
    """An instant, milliseconds since the Unix epoch (Cedar's `datetime`)."""

    ms: int

    @classmethod
    def of(cls, value: datetime) -> DateTime:
        """From an aware datetime (naive ones are refused: a policy's clock must be explicit)."""
        if value.tzinfo is None:
            raise ValueError("datetime must be timezone-aware")
        delta = value - datetime(1970, 1, 1, tzinfo=UTC)
        return cls(ms=delta // _MS)

    def iso(self) -> str:
        """Cedar's literal form (UTC, millisecond precision)."""
        moment = datetime.fromtimestamp(self.ms / 1000, tz=UTC)
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{self.ms % 1000:03d}Z"


@dataclass(frozen=True, slots=True)
class Duration:
    """A span of time in milliseconds (Cedar's `duration`)."""

    ms: int

    def cedar(self) -> str:
        """Cedar's literal form, e.g. `duration("300000ms")`'s argument."""
        return f"{self.ms}ms"


_MS = datetime(1970, 1, 1, 0, 0, 0, 1000, tzinfo=UTC) - datetime(1970, 1, 1, tzinfo=UTC)


class EvalError(Exception):
    """A policy could not be evaluated (missing attribute, wrong type, overflow).

    As in Cedar, such a policy neither permits nor forbids; the error is reported with the
    decision instead.
    """


def type_name(value: object) -> str:  # noqa: PLR0911
    """The language's name for a runtime value's type (used in error messages and checks)."""
    if isinstance(value, bool):
        return "Bool"
    if isinstance(value, int):
        return "Long"
    if isinstance(value, str):
        return "String"
    if isinstance(value, Uid):
        return "Entity"
    if isinstance(value, frozenset):
        return "Set"
    if isinstance(value, ipaddress.IPv4Interface | ipaddress.IPv6Interface):
        return "ipaddr"
    if isinstance(value, DateTime):
        return "datetime"
    if isinstance(value, Duration):
        return "duration"
    if isinstance(value, dict):
        return "Record"
    return type(value).__name__


def _tag(value: object) -> object:
    """A form of `value` whose Python equality is Cedar's (Bool and Long kept apart)."""
    if isinstance(value, bool):
        return ("b", value)
    if isinstance(value, frozenset):
        return frozenset(_tag(item) for item in value)
    return value


def equal(left: object, right: object) -> bool:
    """Cedar `==`: values of different types are unequal, never an error."""
    if isinstance(left, frozenset) and isinstance(right, frozenset):
        return _tag(left) == _tag(right)
    if type(left) is not type(right):
        return False
    return left == right


def ip(text: str) -> IpRange:
    """An IP address with its prefix (Cedar keeps both); a bare address is a /32 or /128.

    IPv4 embedded in IPv6 (`::ffff:10.0.0.1`) is refused, as Cedar refuses it: it would be
    outside every IPv4 range while naming an IPv4 host.
    """
    found = ipaddress.ip_interface(text)
    if found.version == 6 and "." in text:
        raise ValueError(f"IPv4 embedded in IPv6 is not accepted: {text!r}")
    return found


def in_range(address: IpRange, network: IpRange) -> bool:
    """Cedar `isInRange`: `address`'s range lies within `network`; other families never do."""
    if address.version != network.version:
        return False
    return address.network.subnet_of(network.network)  # type: ignore[arg-type]
