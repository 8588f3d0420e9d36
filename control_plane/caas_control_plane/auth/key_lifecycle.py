"""Signing-key lifecycle as a pure function of stored generations and time.

Each stored key has a generation number (its unique id) and the moment it starts signing. Nothing
about a key changes after it is stored; a key's state follows from time alone:

    upcoming  (published in the JWKS, verifies, does not sign yet: caches learn it first)
      -> active    (the highest generation whose `activates_at` has passed; signs)
      -> retiring  (a newer key is active; verifies until `verify_for` after it was superseded,
                    which covers the longest access-token lifetime plus leeway)
      -> retired   (gone from the ring and the JWKS; may be deleted after a safety margin)

Rotation is therefore one insert of generation `max + 1`: instances racing to rotate collide on
the unique generation and exactly one insert wins.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, Final

from caas_control_plane.auth.signing import KeyRing, RetiringKey, SigningKey

# An upcoming key verifies until it is superseded; there is no finite bound yet.
_FOREVER: Final = datetime.max.replace(tzinfo=UTC)


class KeyState(StrEnum):
    """Where a key is in its lifecycle at a given moment."""

    UPCOMING = "upcoming"
    ACTIVE = "active"
    RETIRING = "retiring"
    RETIRED = "retired"


@dataclass(frozen=True, slots=True, kw_only=True)
class KeyRecord:
    """One stored signing key (already unsealed) and when it starts signing."""

    generation: int
    key: SigningKey
    activates_at: datetime
    created_at: datetime


def _ordered(records: Sequence[KeyRecord]) -> list[KeyRecord]:
    ordered = sorted(records, key=lambda record: record.generation)
    generations = [record.generation for record in ordered]
    if len(set(generations)) != len(generations):
        raise ValueError("generations must be unique")
    return ordered


def _active_index(ordered: Sequence[KeyRecord], *, now: datetime) -> int:
    live = [i for i, record in enumerate(ordered) if record.activates_at <= now]
    # Before the first activation (a clock behind the writer's), the oldest key signs.
    return live[-1] if live else 0


def states(
    records: Sequence[KeyRecord], *, now: datetime, verify_for: timedelta
) -> dict[int, KeyState]:
    """Each generation's state at `now`."""
    ordered = _ordered(records)
    if not ordered:
        return {}
    active = _active_index(ordered, now=now)
    result: dict[int, KeyState] = {}
    for i, record in enumerate(ordered):
        if i == active:
            result[record.generation] = KeyState.ACTIVE
        elif i > active:
            result[record.generation] = KeyState.UPCOMING
        else:
            retire_after = ordered[i + 1].activates_at + verify_for
            retired = now > retire_after
            result[record.generation] = KeyState.RETIRED if retired else KeyState.RETIRING
    return result


def ring_at(records: Sequence[KeyRecord], *, now: datetime, verify_for: timedelta) -> KeyRing:
    """The key ring at `now`: the active key signs; upcoming and retiring keys verify."""
    ordered = _ordered(records)
    if not ordered:
        raise ValueError("no signing keys")
    active = _active_index(ordered, now=now)
    previous: list[RetiringKey] = []
    # Newest first, so the JWKS lists upcoming keys before older ones.
    for i in reversed(range(len(ordered))):
        if i == active:
            continue
        record = ordered[i]
        if i > active:
            previous.append(RetiringKey(record.key.public_key, _FOREVER))
            continue
        retire_after = ordered[i + 1].activates_at + verify_for
        if now <= retire_after:
            previous.append(RetiringKey(record.key.public_key, retire_after))
    return KeyRing(active=ordered[active].key, previous=tuple(previous))


def next_change(
    records: Sequence[KeyRecord], *, now: datetime, verify_for: timedelta
) -> datetime | None:
    """The first moment after `now` at which `ring_at` gives another ring (None: never)."""
    ordered = _ordered(records)
    moments = [record.activates_at for record in ordered if record.activates_at > now]
    moments += [
        ordered[i + 1].activates_at + verify_for
        for i in range(len(ordered) - 1)
        if ordered[i + 1].activates_at + verify_for >= now
    ]
    # retire_after is inclusive, so the ring changes just after it.
    later = [moment for moment in moments if moment > now]
    exact = [moment + timedelta(microseconds=1) for moment in moments if moment == now]
    return min(later + exact, default=None)


def rotation_due(records: Sequence[KeyRecord], *, now: datetime, max_age: timedelta) -> bool:
    """Whether a scheduled rotation should add a key (`max_age` 0 disables scheduling)."""
    if max_age <= timedelta(0):
        return False
    ordered = _ordered(records)
    if not ordered:
        return True
    active = _active_index(ordered, now=now)
    if active < len(ordered) - 1:
        return False  # a successor is already waiting to activate
    return ordered[active].activates_at + max_age <= now


def next_generation(records: Sequence[KeyRecord]) -> int:
    """The generation a new key gets."""
    return max((record.generation for record in records), default=-1) + 1


def prunable(
    records: Sequence[KeyRecord],
    *,
    now: datetime,
    verify_for: timedelta,
    keep: timedelta = timedelta(days=1),
) -> tuple[int, ...]:
    """Generations retired for longer than `keep`, safe to delete from the store."""
    ordered = _ordered(records)
    return tuple(
        ordered[i].generation
        for i in range(len(ordered) - 1)
        if now > ordered[i + 1].activates_at + verify_for + keep
        and ordered[i + 1].activates_at <= now
    )


def describe(
    records: Sequence[KeyRecord], *, states: Mapping[int, str], now: datetime
) -> list[dict[str, Any]]:
    """A public summary of the keys (no key material), for admin answers and logs."""
    return [
        {
            "generation": record.generation,
            "kid": record.key.kid,
            "state": states.get(record.generation, "unknown"),
            "activatesAt": record.activates_at.isoformat(),
            "createdAt": record.created_at.isoformat(),
            "ageSeconds": int((now - record.created_at).total_seconds()),
        }
        for record in records
    ]
