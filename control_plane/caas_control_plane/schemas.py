"""Pieces every router shares (kept outside routers/: no router imports another): the camelCase
model base, the declared field types (so the published schema and the enforced rules are one and
the same pydantic model), and the problem responses every operation documents."""

from typing import Annotated, Any, Final

from fastapi import Path
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints
from pydantic.alias_generators import to_camel

from caas_control_plane.problems import Problem
from caas_core.domain import identifiers as ids


class CamelModel(BaseModel):
    """JSON members in camelCase; unknown members refused."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


def _rules(kind: ids.Identifier) -> StringConstraints:
    return StringConstraints(
        min_length=kind.min_length, max_length=kind.max_length, pattern=kind.pattern
    )


def _path(kind: ids.Identifier) -> Any:
    # Path parameters carry the same rules (FastAPI wants `Path` for them).
    return Path(min_length=kind.min_length, max_length=kind.max_length, pattern=kind.pattern)


UserId = Annotated[str, _rules(ids.USER_ID), Field(examples=["u-42"])]
DeviceId = Annotated[str, _rules(ids.DEVICE_ID), Field(examples=["device-7f3a"])]
Scope = Annotated[str, _rules(ids.SCOPE), Field(examples=["tokens:issue"])]
MetadataKey = Annotated[str, _rules(ids.METADATA_KEY)]
UserIdPath = Annotated[str, _path(ids.USER_ID)]
DeviceIdPath = Annotated[str, _path(ids.DEVICE_ID)]
SessionIdPath = Annotated[str, _path(ids.SESSION_ID)]
ApiKeyIdPath = Annotated[str, _path(ids.API_KEY_ID)]

# Strings a human reads (names, descriptions): bounded, free of control and format characters.
_HUMAN: Final = ids.HUMAN_TEXT_PATTERN
Name = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=_HUMAN)]
ShortText = Annotated[str, StringConstraints(min_length=1, max_length=256, pattern=_HUMAN)]
Text = Annotated[str, StringConstraints(max_length=256, pattern=_HUMAN)]


def json_integer(value: Any) -> Any:
    """Use as `Annotated[int, Field(ge=…), BeforeValidator(json_integer)]` (constraints first,
    or they are missing from the published schema)."""
    # JSON Schema's integer: a number without a fractional part (`5` or `5.0`), never a string
    # or a boolean (pydantic's lax mode would take "5" and true; its strict mode refuses 5.0).
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("must be an integer")  # noqa: TRY004 - pydantic wants ValueError
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError("must be an integer")
        return int(value)
    return value


def json_number(value: Any) -> Any:
    """Use as `Annotated[float, Field(gt=…), BeforeValidator(json_number)]`: a JSON number,
    never a string or a boolean (which pydantic's lax mode would take)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("must be a number")  # noqa: TRY004 - pydantic wants ValueError
    return value


def keys_by_pattern(schema: dict[str, Any]) -> None:
    """`json_schema_extra` for a map with constrained keys: pydantic publishes them as
    `patternProperties`, which leaves every other key allowed with any value; the server
    refuses those, so publish `propertyNames` + `additionalProperties` instead."""
    patterns = schema.pop("patternProperties", None)
    if isinstance(patterns, dict) and len(patterns) == 1:
        ((pattern, values),) = patterns.items()
        schema["propertyNames"] = {**schema.get("propertyNames", {}), "pattern": pattern}
        schema["additionalProperties"] = values


# Every datetime the API accepts carries its offset (`Z` or `+01:00`): a naive one would be read
# in whatever zone the server happens to run in, so it is refused with a 422 naming the field.
Instant = AwareDatetime

# Answers any operation may give, whatever it does: the request refused before routing (size,
# media type, structure), invalid, rate limited, a backend down, or an unexpected failure.
_EVERYWHERE: Final = {
    "_413": "The request body is too large or too deeply nested, or has too many members",
    "_415": "The request body's media type is not one this operation reads",
    "_422": "Invalid request (the problem's `errors` name each invalid field)",
    "_500": "Unexpected error (logged with the request id)",
}
COMMON: Final = {
    "_401": "Missing or invalid credentials",
    "_403": "The credentials lack the scope (or the plan's quota is used up)",
    "_429": "Rate limited (see Retry-After)",
    "_503": "A backend is unavailable",
}


def problems(**codes: str) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for problem+json answers, e.g. `problems(**COMMON, _404="No key")`;
    the answers every operation may give are always included."""
    return {
        int(code.lstrip("_")): {
            "model": Problem,
            "content": {"application/problem+json": {}},
            "description": text,
        }
        for code, text in sorted({**_EVERYWHERE, **codes}.items())
    }
