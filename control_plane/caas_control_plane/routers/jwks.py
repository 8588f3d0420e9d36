"""`/.well-known/jwks.json`: the public keys that verify access tokens (RFC 7517)."""

from typing import Final

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field

from caas_control_plane.auth.jwks import JWKS_PATH
from caas_control_plane.deps import KeysDep, SettingsDep

router = APIRouter(tags=["keys"])
_JWK_SET: Final = "application/jwk-set+json"


class Jwk(BaseModel):
    """An Ed25519 public key (RFC 8037)."""

    kty: str = Field(examples=["OKP"])
    crv: str = Field(examples=["Ed25519"])
    x: str
    kid: str = Field(description="RFC 7638 thumbprint.")
    use: str = Field(examples=["sig"])
    alg: str = Field(examples=["EdDSA"])


class JwkSet(BaseModel):
    """Upcoming, active and retiring keys; retired keys are never listed."""

    keys: list[Jwk]


@router.get(
    JWKS_PATH,
    response_model=JwkSet,
    summary="Public keys verifying access tokens",
    responses={200: {"content": {_JWK_SET: {}}}},
)
async def jwks(keys: KeysDep, settings: SettingsDep, response: Response) -> JwkSet:
    """Cacheable: a new key is published `CAAS_SIGNING_KEY_PUBLISH_SECONDS` before it signs."""
    max_age = settings.jwks_max_age_seconds
    response.headers["Cache-Control"] = f"public, max-age={max_age}, must-revalidate"
    return JwkSet.model_validate(keys.jwks())
