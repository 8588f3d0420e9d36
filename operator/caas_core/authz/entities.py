"""A tenant's entities and their hierarchy, with `in` precomputed once.

Groups, roles and the resource tree (tenant → application → channel …) are all parent edges.
The transitive closure is computed when the graph is built, so a decision's `in` test is one
set lookup and its index keys are a ready tuple: no walk of the hierarchy per request. Depth
and fan-out are bounded at build time, which bounds every decision's ancestor lookups.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Final

from caas_core.authz.values import TypeKey, Uid

MAX_DEPTH: Final = 32
MAX_ANCESTORS: Final = 1024
_EMPTY: Final[Mapping[str, object]] = MappingProxyType({})


class HierarchyError(ValueError):
    """The hierarchy is refused: a cycle (named), too deep, too wide, or another tenant's id."""


@dataclass(frozen=True, slots=True)
class Entity:
    """A principal, resource, group or role: its attributes and its direct parents."""

    uid: Uid
    attrs: Mapping[str, object] = field(default_factory=dict)
    parents: tuple[Uid, ...] = ()


def _keys(uid: Uid, ancestors: frozenset[Uid]) -> tuple[Hashable, ...]:
    # Self first, then ancestors, then the type key and the "any" key (None): exactly the index
    # keys under which a policy whose scope matches this entity can be filed.
    others = tuple(sorted(ancestors - {uid}))
    return (uid, *others, TypeKey(uid.tenant, uid.type), None)


class EntityGraph:
    """The entities of one tenant; optionally layered over a base graph (per-request entities)."""

    __slots__ = ("_ancestors", "_attrs", "_base", "_keys", "tenant")

    def __init__(
        self,
        *,
        tenant: str,
        attrs: dict[Uid, Mapping[str, object]],
        ancestors: dict[Uid, frozenset[Uid]],
        base: EntityGraph | None = None,
    ) -> None:
        self.tenant = tenant
        self._attrs = attrs
        self._ancestors = ancestors
        self._keys = {uid: _keys(uid, anc) for uid, anc in ancestors.items()}
        self._base = base

    @classmethod
    def build(
        cls,
        *,
        tenant: str,
        entities: Iterable[Entity],
        max_depth: int = MAX_DEPTH,
        max_ancestors: int = MAX_ANCESTORS,
    ) -> EntityGraph:
        """Check every id belongs to `tenant`, refuse cycles, and close the hierarchy."""
        return cls._build(
            tenant=tenant,
            entities=entities,
            base=None,
            max_depth=max_depth,
            max_ancestors=max_ancestors,
        )

    def with_entities(self, entities: Iterable[Entity]) -> EntityGraph:
        """A new graph: this one plus `entities` (new ids only; this graph is not copied)."""
        return self._build(
            tenant=self.tenant,
            entities=entities,
            base=self,
            max_depth=MAX_DEPTH,
            max_ancestors=MAX_ANCESTORS,
        )

    @classmethod
    def _build(
        cls,
        *,
        tenant: str,
        entities: Iterable[Entity],
        base: EntityGraph | None,
        max_depth: int,
        max_ancestors: int,
    ) -> EntityGraph:
        parents: dict[Uid, tuple[Uid, ...]] = {}
        attrs: dict[Uid, Mapping[str, object]] = {}
        for entity in entities:
            for uid in (entity.uid, *entity.parents):
                if uid.tenant != tenant:
                    raise HierarchyError(f"{uid} belongs to tenant {uid.tenant!r}, not {tenant!r}")
            if entity.uid in parents or (base is not None and base.known(entity.uid)):
                raise HierarchyError(f"{entity.uid} is given twice")
            parents[entity.uid] = entity.parents
            attrs[entity.uid] = MappingProxyType(dict(entity.attrs))
        closure = _close(parents=parents, base=base, max_depth=max_depth)
        for uid, ancestors in closure.items():
            if len(ancestors) > max_ancestors:
                found = len(ancestors)
                raise HierarchyError(f"{uid} has {found} ancestors; at most {max_ancestors}")
        return cls(tenant=tenant, attrs=attrs, ancestors=closure, base=base)

    def known(self, uid: Uid) -> bool:
        """Whether `uid` was given as an entity (a parent that was never given is not)."""
        return uid in self._attrs or (self._base is not None and self._base.known(uid))

    def attrs(self, uid: Uid) -> Mapping[str, object]:
        """The entity's attributes; none for an entity never given (as in Cedar)."""
        found = self._attrs.get(uid)
        if found is not None:
            return found
        return self._base.attrs(uid) if self._base is not None else _EMPTY

    def ancestors(self, uid: Uid) -> frozenset[Uid]:
        """The entity itself and everything it is transitively `in`."""
        found = self._ancestors.get(uid)
        if found is not None:
            return found
        if self._base is not None:
            return self._base.ancestors(uid)
        return frozenset((uid,))

    def keys(self, uid: Uid) -> tuple[Hashable, ...]:
        """Index keys of the entity: itself, its ancestors, its type key, and `None` (any)."""
        found = self._keys.get(uid)
        if found is not None:
            return found
        if self._base is not None:
            return self._base.keys(uid)
        return (uid, TypeKey(uid.tenant, uid.type), None)

    def is_in(self, child: Uid, parent: Uid) -> bool:
        """Cedar `child in parent`: the same entity, or `parent` among `child`'s ancestors."""
        return parent in self.ancestors(child)

    def __len__(self) -> int:
        return len(self._attrs) + (len(self._base) if self._base is not None else 0)

    def entities(self) -> Iterable[Entity]:
        """Every entity given (this layer and its base), as built."""
        if self._base is not None:
            yield from self._base.entities()
        for uid, attrs in self._attrs.items():
            # The closure as parents: the same `in` relation, already transitive.
            closure = self._ancestors[uid]
            yield Entity(uid=uid, attrs=attrs, parents=tuple(sorted(closure - {uid})))


def _close(
    *, parents: dict[Uid, tuple[Uid, ...]], base: EntityGraph | None, max_depth: int
) -> dict[Uid, frozenset[Uid]]:
    """Ancestors-or-self of every entity, by depth-first search; a cycle is named in full."""
    done: dict[Uid, frozenset[Uid]] = {}
    depth: dict[Uid, int] = {}

    def visit(uid: Uid, path: list[Uid]) -> frozenset[Uid]:
        if uid in done:
            return done[uid]
        if uid in path:
            cycle = [*path[path.index(uid) :], uid]
            raise HierarchyError("hierarchy cycle: " + " → ".join(str(u) for u in cycle))
        if len(path) > max_depth:
            raise HierarchyError(f"{path[0]} is more than {max_depth} levels deep")
        if uid not in parents:
            # Not given in this layer: the base's closure, or a bare id with no parents.
            return base.ancestors(uid) if base is not None else frozenset((uid,))
        path.append(uid)
        found = {uid}
        deepest = 0
        for parent in parents[uid]:
            found |= visit(parent, path)
            deepest = max(deepest, depth.get(parent, 0) + 1)
        path.pop()
        if deepest > max_depth:
            raise HierarchyError(f"{uid} is {deepest} levels deep; at most {max_depth}")
        depth[uid] = deepest
        done[uid] = frozenset(found)
        return done[uid]

    for uid in parents:
        visit(uid, [])
    return done
