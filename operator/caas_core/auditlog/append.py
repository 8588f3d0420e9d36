"""Appending events to a stored log: the pure step between reading a log's head and writing it.

A writer reads the log's head (its size, the Merkle frontier and the last entry's hash), and
`plan_append` turns audit events into entries numbered and linked from it, the new head, and the
tile nodes the new entries complete. The store writes all of it in one transaction guarded by the
head's size (a compare-and-set), so of two writers that read the same head exactly one extends
the log and the other plans again from the new head: sequence numbers are allocated atomically,
per log, without any lock shared between logs.

Tiles: a stored log keeps every leaf hash (in its entry) and the perfect-subtree nodes at levels
8, 16, 24, … (`TILE_HEIGHT`), n/255 extra hashes for n entries. Any node of a proof is then
either stored or computed from at most 2**8 stored hashes below it, so proofs cost O(log n)
reads however long the log grows (the layout Tessera's tiles use, in documents).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from caas_core.auditlog.entry import GENESIS, Entry, commit_personal_data, new_salt
from caas_core.auditlog.merkle import Frontier, leaf_hash

TILE_HEIGHT: Final = 8
PLATFORM_LOG: Final = "platform"
TENANT_LOG_PREFIX: Final = "tenant:"
# The parts of an audit event that are personal data or free-form: committed to, never hashed in.
PERSONAL_FIELDS: Final = ("ip", "userAgent", "requestId", "details")

Node = tuple[int, int, bytes]  # (level, index, hash) of a kept perfect subtree


def log_of(tenant: str | None) -> str:
    """The log an event of `tenant` goes to (the platform's when it has none)."""
    return PLATFORM_LOG if tenant is None else f"{TENANT_LOG_PREFIX}{tenant}"


def tenant_of(log: str) -> str | None:
    """The tenant whose log this is (None for the platform's)."""
    return log.removeprefix(TENANT_LOG_PREFIX) if log.startswith(TENANT_LOG_PREFIX) else None


@dataclass(frozen=True, slots=True, kw_only=True)
class Head:
    """Where a log ends: its size, the frontier of its tree and the last entry's leaf hash."""

    log: str
    size: int = 0
    frontier: tuple[bytes, ...] = ()
    last: str = GENESIS

    def __post_init__(self) -> None:
        Frontier(size=self.size, hashes=self.frontier)  # refuses a frontier of the wrong shape
        if (self.size == 0) != (self.last == GENESIS):
            raise ValueError("only an empty log ends at GENESIS")

    def root(self) -> bytes:
        """The RFC 9162 root over the log's entries (what a checkpoint signs)."""
        return Frontier(size=self.size, hashes=self.frontier).root()


@dataclass(frozen=True, slots=True, kw_only=True)
class Recorded:
    """One new entry and what is stored beside it (the personal data it commits to)."""

    entry: Entry
    raw: bytes  # entry.encode(), computed once
    hash: str  # hex leaf hash
    payload: Mapping[str, Any] | None
    salt: bytes | None


@dataclass(frozen=True, slots=True, kw_only=True)
class Appended:
    """The outcome of planning an append: new entries, the head after them, completed tiles."""

    head: Head
    entries: tuple[Recorded, ...]
    nodes: tuple[Node, ...]


def jsonable(value: Any) -> Any:
    """Event details as canonical JSON accepts them: floats and other values as strings.

    An audit event must never be refused for the type of a detail (the log would stall on it);
    a float becomes its repr, anything unknown its str.
    """
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return repr(value) if isinstance(value, float) else str(value)


def personal_payload(event: Mapping[str, Any]) -> dict[str, Any] | None:
    """The event's personal data and free-form parts (None when it has none)."""
    payload = {
        name: jsonable(event[name])
        for name in PERSONAL_FIELDS
        if event.get(name) not in (None, "", {}, [])
    }
    return payload or None


def _pair(value: Any) -> tuple[str | None, str | None]:
    if not isinstance(value, Mapping):
        return None, None
    kind, ident = value.get("type"), value.get("id")
    return (
        None if kind is None else str(kind),
        None if ident is None else str(ident),
    )


def _at(value: Any) -> datetime:
    at = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    if at.tzinfo is None:
        raise ValueError("audit times are timezone-aware")
    return at


def plan_append(
    head: Head,
    events: Sequence[Mapping[str, Any]],
    *,
    salts: Callable[[], bytes] = new_salt,
) -> Appended:
    """Entries for `events` (AuditEvent.to_dict() forms, in order) linked from `head`."""
    frontier = Frontier(size=head.size, hashes=head.frontier)
    prev = head.last
    recorded: list[Recorded] = []
    nodes: list[Node] = []
    for offset, event in enumerate(events):
        payload = personal_payload(event)
        salt = None if payload is None else salts()
        actor_type, actor_id = _pair(event.get("actor"))
        target_type, target_id = _pair(event.get("target"))
        entry, raw = Entry.derived(
            log=head.log,
            seq=head.size + offset,
            prev=prev,
            id=str(event["id"]),
            at=_at(event["at"]),
            action=str(event["action"]),
            outcome=str(event["outcome"]),
            actor_type=actor_type or "anonymous",
            actor_id=actor_id,
            target_type=target_type,
            target_id=target_id,
            pd=None
            if payload is None or salt is None
            else commit_personal_data(payload=payload, salt=salt),
        )
        leaf = leaf_hash(raw)
        nodes.extend(frontier.append_keeping(leaf, stride=TILE_HEIGHT))
        prev = leaf.hex()
        recorded.append(Recorded(entry=entry, raw=raw, hash=prev, payload=payload, salt=salt))
    new_head = Head(log=head.log, size=frontier.size, frontier=frontier.hashes, last=prev)
    return Appended(head=new_head, entries=tuple(recorded), nodes=tuple(nodes))


def tile_base(level: int) -> int:
    """The stored level a node at `level` is computed from (itself when it is stored)."""
    return level - level % TILE_HEIGHT
