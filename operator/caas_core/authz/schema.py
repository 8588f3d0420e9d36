"""A tenant's schema: entity types (attributes, parents), actions, context; and document errors.

Policies are validated against it when written, so a policy naming an unknown attribute, type
or action, or comparing a Long with a String, is refused with the JSON pointer of the mistake
and never reaches a decision. The schema document is itself JSON, refused the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final, Literal

Kind = Literal[
    "Bool", "Long", "String", "Set", "Entity", "Record", "ipaddr", "datetime", "duration"
]
KINDS: Final = frozenset(
    {"Bool", "Long", "String", "Set", "Entity", "Record", "ipaddr", "datetime", "duration"}
)
MAX_NAME: Final = 128


class DocumentError(ValueError):
    """A policy or schema document is refused; each error names its JSON pointer."""

    def __init__(self, errors: list[tuple[str, str]]) -> None:
        self.errors = tuple(errors)
        super().__init__("; ".join(f"{pointer or '/'}: {message}" for pointer, message in errors))


def pointer(*parts: str | int) -> str:
    """An RFC 6901 JSON pointer (`~` and `/` escaped)."""
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


@dataclass(frozen=True, slots=True)
class Type:
    """A value type; entity types list every type the value may have (a union when inferred)."""

    kind: Kind
    element: Type | None = None
    entities: frozenset[str] = frozenset()
    attributes: Mapping[str, Attribute] | None = None

    def describe(self) -> str:
        """`Set<String>`, `Entity<User|Group>`, `Long`…"""
        if self.kind == "Set":
            return f"Set<{self.element.describe() if self.element else '?'}>"
        if self.kind == "Entity" and self.entities:
            return "Entity<" + "|".join(sorted(self.entities)) + ">"
        return self.kind


@dataclass(frozen=True, slots=True)
class Attribute:
    """An attribute's type and whether every entity (or every context) has it."""

    type: Type
    required: bool = True


@dataclass(frozen=True, slots=True)
class EntityType:
    """Attributes of an entity type and the types its entities may be `in`."""

    attributes: Mapping[str, Attribute] = field(default_factory=dict)
    member_of: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Action:
    """A declared action: its groups and the principal/resource types it applies to."""

    member_of: tuple[str, ...] = ()
    principals: frozenset[str] = frozenset()
    resources: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Schema:
    """What one tenant's policies may name."""

    entity_types: Mapping[str, EntityType]
    actions: Mapping[str, Action]
    context: Mapping[str, Attribute] = field(default_factory=dict)

    def action_groups(self) -> dict[str, tuple[str, ...]]:
        """Each action's direct groups, as the compiler and entity builders take them."""
        return {name: action.member_of for name, action in self.actions.items()}


def _names(doc: object, at: str, errors: list[tuple[str, str]]) -> list[str]:
    if not isinstance(doc, list) or not all(isinstance(n, str) for n in doc):
        errors.append((at, "expected a list of names"))
        return []
    return list(doc)


def _type(doc: object, at: str, errors: list[tuple[str, str]], depth: int = 0) -> Type | None:  # noqa: PLR0911
    if (
        not isinstance(doc, dict)
        or not isinstance(doc.get("type"), str)
        or doc["type"] not in KINDS
    ):
        errors.append((pointer_join(at, "type"), f"expected a type, one of {sorted(KINDS)}"))
        return None
    kind = doc["type"]
    if depth > 8:
        errors.append((at, "types nest at most 8 levels"))
        return None
    if kind == "Set":
        element = _type(doc.get("element"), pointer_join(at, "element"), errors, depth + 1)
        return Type(kind="Set", element=element) if element else None
    if kind == "Entity":
        name = doc.get("name")
        if not isinstance(name, str):
            errors.append((pointer_join(at, "name"), "an Entity type names its entity type"))
            return None
        return Type(kind="Entity", entities=frozenset((name,)))
    if kind == "Record":
        attrs = _attributes(
            doc.get("attributes", {}), pointer_join(at, "attributes"), errors, depth
        )
        return Type(kind="Record", attributes=attrs)
    return Type(kind=kind)


def pointer_join(at: str, *parts: str | int) -> str:
    """`at` extended by `parts`."""
    return at + pointer(*parts)


def _attributes(
    doc: object, at: str, errors: list[tuple[str, str]], depth: int = 0
) -> dict[str, Attribute]:
    if not isinstance(doc, dict):
        errors.append((at, "expected an object of attributes"))
        return {}
    out = {}
    for name, spec in doc.items():
        here = pointer_join(at, name)
        found = _type(spec, here, errors, depth + 1)
        required = spec.get("required", True) if isinstance(spec, dict) else True
        if not isinstance(required, bool):
            errors.append((pointer_join(here, "required"), "expected true or false"))
        elif found is not None:
            out[name] = Attribute(type=found, required=required)
    return out


def parse_schema(doc: object) -> Schema:
    """A schema from its JSON form; refused as a whole with every error's pointer.

    `{"entityTypes": {"User": {"memberOf": ["Group"], "attributes": {"level": {"type":
    "Long"}}}}, "actions": {"read": {"memberOf": ["view"], "principalTypes": ["User"],
    "resourceTypes": ["Channel"]}}, "context": {"ip": {"type": "ipaddr"}}}`
    """
    errors: list[tuple[str, str]] = []
    if not isinstance(doc, dict):
        raise DocumentError([("", "expected a schema object")])
    types: dict[str, EntityType] = {}
    for name, spec in _object(doc.get("entityTypes", {}), "/entityTypes", errors).items():
        at = pointer("entityTypes", name)
        spec_doc = spec if isinstance(spec, dict) else {}
        attrs = _attributes(spec_doc.get("attributes", {}), pointer_join(at, "attributes"), errors)
        parents = _names(spec_doc.get("memberOf", []), pointer_join(at, "memberOf"), errors)
        types[name] = EntityType(attributes=attrs, member_of=frozenset(parents))
    actions: dict[str, Action] = {}
    for name, spec in _object(doc.get("actions", {}), "/actions", errors).items():
        at = pointer("actions", name)
        spec_doc = spec if isinstance(spec, dict) else {}
        groups = _names(spec_doc.get("memberOf", []), pointer_join(at, "memberOf"), errors)
        principals = _names(
            spec_doc.get("principalTypes", []), pointer_join(at, "principalTypes"), errors
        )
        resources = _names(
            spec_doc.get("resourceTypes", []), pointer_join(at, "resourceTypes"), errors
        )
        for field_name, listed in (("principalTypes", principals), ("resourceTypes", resources)):
            for i, type_name in enumerate(listed):
                if type_name not in types:
                    errors.append(
                        (pointer_join(at, field_name, i), f"unknown entity type {type_name!r}")
                    )
        actions[name] = Action(
            member_of=tuple(groups),
            principals=frozenset(principals),
            resources=frozenset(resources),
        )
    for name, action in actions.items():
        for i, group in enumerate(action.member_of):
            if group not in actions:
                errors.append(
                    (pointer("actions", name, "memberOf", i), f"unknown action {group!r}")
                )
    context = _attributes(doc.get("context", {}), "/context", errors)
    if errors:
        raise DocumentError(errors)
    return Schema(entity_types=types, actions=actions, context=context)


def _object(doc: object, at: str, errors: list[tuple[str, str]]) -> dict[str, object]:
    if not isinstance(doc, dict):
        errors.append((at, "expected an object"))
        return {}
    errors.extend(
        (pointer_join(at, str(name)), f"names are 1 to {MAX_NAME} characters")
        for name in doc
        if not isinstance(name, str) or not 0 < len(name) <= MAX_NAME
    )
    return doc
