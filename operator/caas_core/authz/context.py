"""Request contexts and entity attributes from JSON, typed by the tenant's schema.

Conditions compare typed values (an `ipaddr` is not a string, a set is not a list), so what
arrives as JSON is converted here, once, at the edge: an IP string becomes an address, an
ISO time a datetime, `{"type", "id"}` an entity of the tenant, an array a set. A value of the
wrong type, or an attribute the schema does not declare, is refused at its JSON pointer rather
than left to make a policy fail at decision time.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from caas_core.authz.entities import Entity
from caas_core.authz.expressions import MAX_SET, MAX_STRING
from caas_core.authz.schema import Attribute, DocumentError, Schema, Type, pointer, pointer_join
from caas_core.authz.values import LONG_MAX, LONG_MIN, DateTime, Duration, Uid, ip


class _Refused(Exception):  # noqa: N818 (internal signal, becomes DocumentError)
    def __init__(self, at: str, message: str) -> None:
        super().__init__(message)
        self.at, self.message = at, message


def _value(kind: Type, doc: object, at: str, tenant: str) -> object:  # noqa: PLR0911
    expected = kind.describe()
    if kind.kind == "Bool" and isinstance(doc, bool):
        return doc
    is_long = isinstance(doc, int) and not isinstance(doc, bool)
    if kind.kind == "Long" and is_long and LONG_MIN <= doc <= LONG_MAX:  # type: ignore[operator]
        return doc
    if kind.kind == "String" and isinstance(doc, str) and len(doc) <= MAX_STRING:
        return doc
    if kind.kind == "Entity" and isinstance(doc, dict):
        type_name, id_ = doc.get("type"), doc.get("id")
        named = isinstance(type_name, str) and isinstance(id_, str) and 0 < len(id_) <= MAX_STRING
        if named and (not kind.entities or type_name in kind.entities):
            return Uid(tenant, str(type_name), str(id_))
    if kind.kind == "Set" and isinstance(doc, list) and len(doc) <= MAX_SET:
        element = kind.element or Type(kind="String")
        return frozenset(
            _value(element, item, pointer_join(at, i), tenant) for i, item in enumerate(doc)
        )
    if kind.kind == "Record" and isinstance(doc, dict):
        return _record(kind.attributes or {}, doc, at, tenant)
    if kind.kind == "ipaddr" and isinstance(doc, str):
        try:
            return ip(doc)
        except ValueError:
            pass
    if kind.kind == "datetime" and isinstance(doc, str):
        try:
            return DateTime.of(datetime.fromisoformat(doc))
        except ValueError:
            pass
    if kind.kind == "duration" and isinstance(doc, int) and not isinstance(doc, bool):
        return Duration(doc)
    raise _Refused(at, f"expected {expected}")


def _record(
    attributes: Mapping[str, Attribute], doc: Mapping[str, object], at: str, tenant: str
) -> dict[str, object]:
    out: dict[str, object] = {}
    for name, value in doc.items():
        spec = attributes.get(name)
        if spec is None:
            raise _Refused(pointer_join(at, name), "attribute not declared in the schema")
        out[name] = _value(spec.type, value, pointer_join(at, name), tenant)
    for name, spec in attributes.items():
        if spec.required and name not in out:
            raise _Refused(pointer_join(at, name), "required attribute missing")
    return out


def record_from_json(
    *, attributes: Mapping[str, Attribute], doc: object, tenant: str
) -> dict[str, object]:
    """A context (or an entity's attributes) from JSON; durations are milliseconds."""
    if not isinstance(doc, dict):
        raise DocumentError([("", "expected an object")])
    try:
        return _record(attributes, doc, "", tenant)
    except _Refused as refused:
        raise DocumentError([(refused.at, refused.message)]) from None


def entities_from_json(*, schema: Schema, doc: object, tenant: str) -> list[Entity]:
    """Entities `[{"type", "id", "attrs", "parents": [{"type", "id"}]}]` checked by the schema:
    declared types, typed attributes, parents only of the types the schema lets them be in."""
    if not isinstance(doc, list):
        raise DocumentError([("", "expected a list of entities")])
    try:
        return [_entity(schema, item, pointer(i), tenant) for i, item in enumerate(doc)]
    except _Refused as refused:
        raise DocumentError([(refused.at, refused.message)]) from None


def _entity(schema: Schema, item: object, at: str, tenant: str) -> Entity:
    if not isinstance(item, dict):
        raise _Refused(at, "expected an entity object")
    type_name, id_ = item.get("type"), item.get("id")
    declared = schema.entity_types.get(type_name) if isinstance(type_name, str) else None
    if declared is None:
        raise _Refused(pointer_join(at, "type"), f"unknown entity type {type_name!r}")
    if not isinstance(id_, str) or not 0 < len(id_) <= MAX_STRING:
        raise _Refused(pointer_join(at, "id"), "expected an entity id")
    attrs, parents = item.get("attrs", {}), item.get("parents", [])
    if not isinstance(attrs, dict):
        raise _Refused(pointer_join(at, "attrs"), "expected an object")
    if not isinstance(parents, list):
        raise _Refused(pointer_join(at, "parents"), "expected a list")
    allowed = Type(kind="Entity", entities=declared.member_of)
    return Entity(
        uid=Uid(tenant, str(type_name), id_),
        attrs=_record(declared.attributes, attrs, pointer_join(at, "attrs"), tenant),
        parents=tuple(
            _parent(allowed, parent, pointer_join(at, "parents", j), tenant)
            for j, parent in enumerate(parents)
        ),
    )


def _parent(allowed: Type, doc: object, at: str, tenant: str) -> Uid:
    if not allowed.entities:
        raise _Refused(at, "this entity type is in no other type (schema memberOf)")
    found = _value(allowed, doc, at, tenant)
    assert isinstance(found, Uid)
    return found
