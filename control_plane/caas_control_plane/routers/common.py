"""Pieces every `/v1` router shares: the camelCase model base and the problem responses."""

from typing import Any, Final

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

from caas_control_plane.problems import Problem


class CamelModel(BaseModel):
    """JSON members in camelCase; unknown members refused."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


def problems(**codes: str) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for problem+json answers, e.g. `problems(_404="No such key")`."""
    return {
        int(code.lstrip("_")): {
            "model": Problem,
            "content": {"application/problem+json": {}},
            "description": text,
        }
        for code, text in codes.items()
    }


COMMON: Final = {
    "_401": "Missing or invalid credentials",
    "_403": "The credentials lack the scope (or the plan's quota is used up)",
    "_422": "Invalid request",
    "_429": "Rate limited (see Retry-After)",
    "_503": "A backend is unavailable",
}
