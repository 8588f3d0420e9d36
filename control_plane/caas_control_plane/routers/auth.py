"""`/v1/auth/*`: SDK tokens, refresh, logout, RFC 7009 revocation, RFC 7662 introspection."""

import json
from datetime import UTC, datetime
from typing import Annotated, Any, Final, Literal
from urllib.parse import parse_qs

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from caas_control_plane.auth.devices import DeviceInfo
from caas_control_plane.deps import (
    ClientDep,
    CurrentPrincipal,
    IntrospectorKey,
    IpLimited,
    OptionalPrincipal,
    OptionalRevokerKey,
    RuntimeDep,
    TokenIssuerKey,
    TokenRevokerKey,
)
from caas_control_plane.problems import VALIDATION_ERROR, Problem, ProblemError
from caas_control_plane.services.context import Principal
from caas_control_plane.services.errors import InvalidCredentialsError
from caas_control_plane.services.token_control import Caller, TokenHint
from caas_control_plane.services.tokens import IssuedTokens
from caas_core.audit import Actor

router = APIRouter(prefix="/v1/auth", tags=["auth"])

_NO_STORE: Final = {"Cache-Control": "no-store", "Pragma": "no-cache"}  # RFC 6749 §5.1
_MAX_FORM_BYTES: Final = 16_384
_ERRORS: Final[dict[int | str, dict[str, Any]]] = {
    code: {"model": Problem, "content": {"application/problem+json": {}}, "description": text}
    for code, text in {
        400: "Invalid grant",
        401: "Missing or invalid credentials",
        403: "The API key lacks the scope",
        422: "Invalid request",
        429: "Rate limited (see Retry-After)",
        503: "A backend is unavailable",
    }.items()
}
UserId = Annotated[
    str, Field(min_length=1, max_length=256, pattern=r"^[A-Za-z0-9._:@|+-]+$", examples=["u-42"])
]
ShortText = Annotated[str, Field(min_length=1, max_length=256)]


class _Model(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


class DeviceIn(_Model):
    """What the tenant back end knows about the user's device (all optional)."""

    device_id: ShortText | None = None
    name: ShortText | None = None
    platform: ShortText | None = None
    fingerprint: ShortText | None = None
    app_version: ShortText | None = None


class SdkTokenRequest(_Model):
    """Issue tokens for one of the tenant's users."""

    user_id: UserId = Field(description="The tenant's own id for the user.")
    device: DeviceIn | None = Field(default=None, description="Optional device information.")


class RefreshRequest(_Model):
    """Rotate a refresh token."""

    refresh_token: str = Field(min_length=1, max_length=512, description="The refresh token.")


class LogoutRequest(_Model):
    """End the current session, or every session of the user."""

    everywhere: bool = Field(default=False, description="End all the user's sessions.")


class RevokeAllRequest(_Model):
    """Revoke every token issued so far to one user, or to the whole tenant."""

    user_id: UserId | None = Field(default=None, description="Omit to revoke the whole tenant.")


class TokenResponse(_Model):
    """A session's tokens: a short-lived access token and a rotating refresh token."""

    access_token: str = Field(description="EdDSA JWT (typ at+jwt) for `Authorization: Bearer`.")
    token_type: Literal["Bearer"] = "Bearer"  # noqa: S105 - the OAuth token type
    expires_in: int = Field(description="Seconds until the access token expires.")
    expires_at: datetime = Field(description="When the access token expires.")
    refresh_token: str = Field(description="Opaque, single-use refresh token.")
    refresh_expires_at: datetime = Field(description="End of the session's absolute lifetime.")
    session_id: str = Field(description="The session these tokens belong to.")
    user_id: str = Field(description="The user.")
    tenant: str = Field(description="The tenant.")


class RevokeAllResponse(_Model):
    """Tokens issued before `notBefore` (epoch seconds) are rejected from now on."""

    not_before: int


class MeResponse(_Model):
    """The authenticated user, as their access token says."""

    tenant: str
    user_id: str
    session_id: str
    expires_at: datetime


class IntrospectionResponse(BaseModel):
    """RFC 7662 §2.2 (snake_case member names, as the RFC defines them)."""

    model_config = ConfigDict(extra="forbid")

    active: bool
    token_type: str | None = None
    iss: str | None = None
    aud: str | list[str] | None = None
    sub: str | None = None
    tid: str | None = None
    sid: str | None = None
    jti: str | None = None
    iat: int | None = None
    nbf: int | None = None
    exp: int | None = None


class TokenForm(BaseModel):
    """RFC 7009/7662 request parameters (form-encoded, or JSON)."""

    token: str
    token_type_hint: TokenHint | None = None


_FORM_BODY: Final[dict[str, Any]] = {
    "requestBody": {
        "required": True,
        "content": {
            media: {
                "schema": {
                    "type": "object",
                    "required": ["token"],
                    "properties": {
                        "token": {"type": "string"},
                        "token_type_hint": {
                            "type": "string",
                            "enum": ["access_token", "refresh_token"],
                        },
                    },
                }
            }
            for media in ("application/x-www-form-urlencoded", "application/json")
        },
    }
}


async def _token_form(request: Request) -> TokenForm:
    body = await request.body()
    if len(body) > _MAX_FORM_BYTES:
        raise ProblemError(status=413, detail="request body too large")
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    values: dict[str, Any]
    if media == "application/json":
        try:
            parsed = json.loads(body or b"{}")
        except ValueError:
            parsed = None
        values = parsed if isinstance(parsed, dict) else {}
    else:  # RFC 7009/7662 specify application/x-www-form-urlencoded
        values = {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
    token = values.get("token")
    if not isinstance(token, str) or not token:
        raise ProblemError(
            status=422,
            title="Request validation failed",
            detail="Invalid request: body.token: a non-empty token is required",
            type_=VALIDATION_ERROR,
            errors=[{"location": "body", "field": "token", "detail": "required"}],
        )
    hint = values.get("token_type_hint")
    # RFC 7009 §2.1: an unknown hint is ignored, not an error.
    return TokenForm(
        token=token, token_type_hint=hint if hint in ("access_token", "refresh_token") else None
    )


TokenFormDep = Annotated[TokenForm, Depends(_token_form)]


def _token_response(issued: IssuedTokens, *, now: datetime) -> TokenResponse:
    return TokenResponse(
        access_token=issued.access_token,
        expires_in=max(0, int((issued.access_expires_at - now).total_seconds())),
        expires_at=issued.access_expires_at,
        refresh_token=issued.refresh_token,
        refresh_expires_at=issued.refresh_expires_at,
        session_id=issued.session_id,
        user_id=issued.user_id,
        tenant=issued.tenant,
    )


@router.post(
    "/sdk/token",
    response_model=TokenResponse,
    responses=_ERRORS,
    summary="Issue an SDK user's tokens (tenant back end, X-API-Key)",
)
async def sdk_token(
    body: SdkTokenRequest,
    api_key: TokenIssuerKey,
    runtime: RuntimeDep,
    client: ClientDep,
    response: Response,
) -> TokenResponse:
    """The tenant back end vouches for one of its users; a new session starts."""
    device = body.device or DeviceIn()
    issued = await runtime.tokens.issue(
        api_key=api_key,
        user_id=body.user_id,
        device=DeviceInfo(**device.model_dump()),
        client=client,
    )
    response.headers.update(_NO_STORE)
    return _token_response(issued, now=runtime.clock())


@router.post(
    "/refresh",
    response_model=TokenResponse,
    responses=_ERRORS,
    dependencies=[IpLimited],
    summary="Rotate a refresh token (RFC 9700 rotation and reuse detection)",
)
async def refresh(
    body: RefreshRequest, runtime: RuntimeDep, client: ClientDep, response: Response
) -> TokenResponse:
    """A new access token and the successor refresh token; the presented one is spent."""
    issued = await runtime.tokens.refresh(body.refresh_token, client=client)
    response.headers.update(_NO_STORE)
    return _token_response(issued, now=runtime.clock())


@router.get(
    "/me",
    response_model=MeResponse,
    responses=_ERRORS,
    summary="The authenticated user (checks the access token)",
)
async def me(principal: CurrentPrincipal) -> MeResponse:
    """Who the access token says the caller is."""
    return MeResponse(
        tenant=principal.tenant,
        user_id=principal.user_id,
        session_id=principal.session_id,
        expires_at=datetime.fromtimestamp(principal.claims.exp, UTC),
    )


@router.post(
    "/logout",
    status_code=204,
    responses=_ERRORS,
    summary="End the current session (or all of the user's sessions)",
)
async def logout(
    principal: CurrentPrincipal,
    runtime: RuntimeDep,
    client: ClientDep,
    body: LogoutRequest | None = None,
) -> Response:
    """Revokes the session's refresh family and, on every instance, its access tokens."""
    everywhere = body.everywhere if body is not None else False
    await runtime.control.logout(principal, everywhere=everywhere, client=client)
    return Response(status_code=204)


def _caller(api_key: Any, principal: Principal | None) -> Caller:
    if api_key is not None:
        return Caller(tenant=api_key.tenant, actor=Actor(type="api_key", id=api_key.key_id))
    if principal is not None:
        return Caller(tenant=principal.tenant, actor=principal.actor, user_id=principal.user_id)
    raise InvalidCredentialsError("an X-API-Key or a Bearer access token is required")


@router.post(
    "/revoke",
    status_code=200,
    responses=_ERRORS,
    openapi_extra=_FORM_BODY,
    summary="RFC 7009 token revocation (X-API-Key, or the user's own Bearer token)",
)
async def revoke(
    form: TokenFormDep,
    runtime: RuntimeDep,
    client: ClientDep,
    api_key: OptionalRevokerKey,
    principal: OptionalPrincipal,
) -> Response:
    """200 whether or not there was anything to revoke (RFC 7009 §2.2)."""
    caller = _caller(api_key, principal)
    await runtime.control.revoke(
        form.token, hint=form.token_type_hint, caller=caller, client=client
    )
    return Response(status_code=200, headers=_NO_STORE)


@router.post(
    "/introspect",
    response_model=IntrospectionResponse,
    response_model_exclude_none=True,
    responses=_ERRORS,
    openapi_extra=_FORM_BODY,
    summary="RFC 7662 token introspection (X-API-Key with tokens:introspect)",
)
async def introspect(
    form: TokenFormDep, runtime: RuntimeDep, api_key: IntrospectorKey, response: Response
) -> IntrospectionResponse:
    """Active only for a valid, unrevoked token of the caller's own tenant."""
    caller = Caller(tenant=api_key.tenant, actor=Actor(type="api_key", id=api_key.key_id))
    result = await runtime.control.introspect(form.token, hint=form.token_type_hint, caller=caller)
    response.headers.update(_NO_STORE)
    return IntrospectionResponse(**result)


@router.post(
    "/revoke-all",
    response_model=RevokeAllResponse,
    responses=_ERRORS,
    summary="Revoke every token of a user, or of the whole tenant (X-API-Key, tokens:revoke)",
)
async def revoke_all(
    body: RevokeAllRequest, api_key: TokenRevokerKey, runtime: RuntimeDep, client: ClientDep
) -> RevokeAllResponse:
    """Tokens issued before the answer's `notBefore` are rejected on every instance."""
    not_before = await runtime.control.revoke_all(
        tenant=api_key.tenant,
        user_id=body.user_id,
        actor=Actor(type="api_key", id=api_key.key_id),
        client=client,
    )
    return RevokeAllResponse(not_before=not_before)
