"""Turn a pydantic model's JSON schema into a structural OpenAPI v3 schema for a CRD."""

from collections.abc import Mapping
from typing import Any, Final

from pydantic import BaseModel
from pydantic.json_schema import GenerateJsonSchema
from pydantic_core import core_schema

# Keys a structural apiextensions.k8s.io/v1 schema may carry (a subset of JSONSchemaProps);
# anything else means the model used a construct the API server would reject or misread.
_ALLOWED_KEYS: Final = frozenset(
    {
        "description",
        "type",
        "format",
        "default",
        "enum",
        "pattern",
        "minLength",
        "maxLength",
        "minimum",
        "maximum",
        "exclusiveMinimum",
        "exclusiveMaximum",
        "minItems",
        "maxItems",
        "uniqueItems",
        "minProperties",
        "maxProperties",
        "items",
        "properties",
        "required",
        "additionalProperties",
        "nullable",
        "x-kubernetes-validations",
        "x-kubernetes-list-type",
        "x-kubernetes-list-map-keys",
        "x-kubernetes-map-type",
        "x-kubernetes-preserve-unknown-fields",
        "x-kubernetes-int-or-string",
        "x-kubernetes-embedded-resource",
    }
)
# Emit keys in a fixed, readable order so regenerated files diff cleanly.
_KEY_ORDER: Final = (
    "description",
    "type",
    "format",
    "default",
    "enum",
    "pattern",
    "minLength",
    "maxLength",
    "minimum",
    "exclusiveMinimum",
    "maximum",
    "exclusiveMaximum",
    "minItems",
    "maxItems",
    "items",
    "properties",
    "required",
)
_DROPPED_KEYS: Final = frozenset({"title", "$defs", "definitions", "examples"})


class SchemaError(ValueError):
    """The model cannot be expressed as a structural schema."""


class _FactoryDefaults(GenerateJsonSchema):
    """Also publish default_factory results, so the API server applies the same defaults."""

    def get_default_value(self, schema: core_schema.WithDefaultSchema) -> Any:
        factory = schema.get("default_factory")
        if factory is not None and not schema.get("default_factory_takes_data"):
            return factory()  # type: ignore[call-arg]
        return super().get_default_value(schema)


def structural_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The model's validation schema, inlined and cleaned into structural form."""
    raw = model.model_json_schema(
        by_alias=True, mode="validation", schema_generator=_FactoryDefaults
    )
    defs: Mapping[str, Any] = raw.get("$defs", {})
    return _clean(raw, defs=defs, path=model.__name__)


def _clean(node: Mapping[str, Any], *, defs: Mapping[str, Any], path: str) -> dict[str, Any]:
    merged = _inline(node, defs=defs, path=path)
    out: dict[str, Any] = {}
    for key, value in merged.items():
        if key in _DROPPED_KEYS:
            continue
        if key not in _ALLOWED_KEYS and key != "const":
            raise SchemaError(f"{path}: {key!r} has no structural equivalent")
        out[key] = value
    _openapi_v3_bounds(out)
    if "const" in out:
        out["enum"] = [out.pop("const")]
    if out.get("additionalProperties") is False:
        # Structural schemas prune unknown fields anyway and reject additionalProperties: false.
        del out["additionalProperties"]
    if "properties" in out:
        out["properties"] = {
            name: _clean(prop, defs=defs, path=f"{path}.{name}")
            for name, prop in out["properties"].items()
        }
    if isinstance(out.get("items"), Mapping):
        out["items"] = _clean(out["items"], defs=defs, path=f"{path}[]")
    if isinstance(out.get("additionalProperties"), Mapping):
        out["additionalProperties"] = _clean(
            out["additionalProperties"], defs=defs, path=f"{path}{{}}"
        )
    if "default" in out:
        out["default"] = _strip_nulls(out["default"])
        if out["default"] is None:
            del out["default"]
    if "type" not in out and not out.get("x-kubernetes-preserve-unknown-fields"):
        raise SchemaError(f"{path}: every structural schema node needs a type")
    return {key: out[key] for key in sorted(out, key=_key_rank)}


def _inline(node: Mapping[str, Any], *, defs: Mapping[str, Any], path: str) -> dict[str, Any]:
    """Resolve $ref and Optional's anyOf-with-null; sibling keys (description, default) win."""
    result = dict(node)
    if "$ref" in result:
        target = defs[str(result.pop("$ref")).rsplit("/", 1)[-1]]
        result = {**_inline(target, defs=defs, path=path), **result}
    variants = result.pop("anyOf", None)
    if variants is not None:
        non_null = [v for v in variants if v.get("type") != "null"]
        if len(non_null) != 1:
            raise SchemaError(f"{path}: unions other than X | None are not structural")
        if result.get("default", ...) is None:
            del result["default"]
        result = {**_inline(non_null[0], defs=defs, path=path), **result}
    for key in ("oneOf", "allOf", "not"):
        if key in result:
            raise SchemaError(f"{path}: {key} is not supported in generated CRDs")
    return result


def _openapi_v3_bounds(out: dict[str, Any]) -> None:
    # JSON Schema 2020-12 puts the bound in exclusiveMinimum; OpenAPI v3.0 wants a boolean flag.
    for exclusive, inclusive in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        bound = out.get(exclusive)
        if bound is not None and not isinstance(bound, bool):
            out[inclusive] = bound
            out[exclusive] = True


def _strip_nulls(value: Any) -> Any:
    # Defaults must validate against the schema, where absent fields are not null.
    if isinstance(value, Mapping):
        return {k: _strip_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_strip_nulls(v) for v in value]
    return value


def _key_rank(key: str) -> tuple[int, str]:
    try:
        return (_KEY_ORDER.index(key), key)
    except ValueError:
        return (len(_KEY_ORDER), key)


def without_defaults(schema: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of the schema with every default removed."""
    out = {key: value for key, value in schema.items() if key != "default"}
    if "properties" in out:
        out["properties"] = {k: without_defaults(v) for k, v in out["properties"].items()}
    if isinstance(out.get("items"), Mapping):
        out["items"] = without_defaults(out["items"])
    if isinstance(out.get("additionalProperties"), Mapping):
        out["additionalProperties"] = without_defaults(out["additionalProperties"])
    return out


def with_default(schema: Mapping[str, Any], default: Any) -> dict[str, Any]:
    """A copy of the schema with a default value, keys kept in the canonical order."""
    out = {**schema, "default": default}
    return {key: out[key] for key in sorted(out, key=_key_rank)}
