"""`/v1/auth/*`: SDK tokens, refresh, logout, RFC 7009 revocation, RFC 7662 introspection."""

import json
from datetime import UTC, datetime
from typing import Annotated, Any, Final, Literal
from urllib.parse import parse_qsl

from fastapi import APIRouter, Depends, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, StrictBool, ValidationError

from caas_control_plane.auth.devices import DeviceInfo
from caas_control_plane.body_guard import FORM, JSON
from caas_control_plane.deps import (
    ClientDep,
    ClockDep,
    CurrentPrincipal,
    IntrospectorKey,
    IpLimited,
    OptionalPrincipal,
    OptionalRevokerKey,
    TokenControlDep,
    TokenIssuerKey,
    TokenRevokerKey,
    TokensDep,
)
from caas_control_plane.schemas import (
    COMMON,
    CamelModel,
    DeviceId,
    ShortText,
    UserId,
    problems,
)
from caas_control_plane.services.context import key_actor
from caas_control_plane.services.token_control import Caller, TokenHint
from caas_control_plane.services.tokens import IssuedTokens

router = APIRouter(prefix="/v1/auth", tags=["auth"])

_NO_STORE: Final = {"Cache-Control": "no-store", "Pragma": "no-cache"}  # RFC 6749 §5.1
_ERRORS: Final = problems(**COMMON, _400="Invalid grant (RFC 6749 §5.2: `error: invalid_grant`)")
# RFC 7009 and RFC 7662 requests are form-encoded; JSON is read as well.
FORM_PATHS: Final = ("/v1/auth/revoke", "/v1/auth/introspect")


class DeviceIn(CamelModel):
    """What the tenant back end knows about the user's device (all optional)."""

    device_id: DeviceId | None = None
    name: ShortText | None = None
    platform: ShortText | None = None
    fingerprint: ShortText | None = None
    app_version: ShortText | None = None


class SdkTokenRequest(CamelModel):
    """Issue tokens for one of the tenant's users."""

    user_id: UserId = Field(description="The tenant's own id for the user.")
    device: DeviceIn | None = Field(default=None, description="Optional device information.")


class RefreshRequest(CamelModel):
    """Rotate a refresh token."""

    refresh_token: str = Field(min_length=1, max_length=512, description="The refresh token.")


class LogoutRequest(CamelModel):
    """End the current session, or every session of the user."""

    everywhere: StrictBool = Field(default=False, description="End all the user's sessions.")


class RevokeAllRequest(CamelModel):
    """Revoke every token issued so far to one user, or to the whole tenant."""

    user_id: UserId | None = Field(default=None, description="Omit to revoke the whole tenant.")


class TokenResponse(CamelModel):
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


class RevokeAllResponse(CamelModel):
    """Tokens issued before `notBefore` (epoch seconds) are rejected from now on."""

    not_before: int


class MeResponse(CamelModel):
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


_HINTS: Final[dict[str, TokenHint]] = {
    "access_token": "access_token",
    "refresh_token": "refresh_token",
}


class TokenForm(BaseModel):
    """RFC 7009/7662 request parameters (form-encoded, or JSON); other parameters are ignored."""

    model_config = ConfigDict(extra="ignore")

    token: str = Field(min_length=1, max_length=4096, description="The token.")
    token_type_hint: str = Field(
        default="",
        max_length=64,
        description="`access_token` or `refresh_token`; any other value is ignored and every "
        "kind of token is looked for (RFC 7009 §2.1).",
    )

    @property
    def hint(self) -> TokenHint | None:
        """The hint, if it names a kind of token this server issues."""
        return _HINTS.get(self.token_type_hint)


# The published request body is generated from the model that validates it.
_FORM_BODY: Final[dict[str, Any]] = {
    "requestBody": {
        "required": True,
        "content": {media: {"schema": TokenForm.model_json_schema()} for media in (FORM, JSON)},
    }
}


def _invalid(errors: list[Any]) -> RequestValidationError:
    return RequestValidationError([{**e, "loc": ("body", *e.get("loc", ()))} for e in errors])


async def _token_form(request: Request) -> TokenForm:
    """Read the body as the operation documents it (the body guard has checked size, media type
    and shape already); invalid bodies are 422s naming the field, like every other body."""
    body = await request.body()
    values: Any
    if request.headers.get("content-type", "").split(";")[0].strip().lower() == FORM:
        try:
            values = dict(parse_qsl(body.decode("utf-8"), errors="strict"))
        except UnicodeDecodeError:
            raise _invalid([{"type": "form", "loc": (), "msg": "not UTF-8"}]) from None
    else:
        try:
            values = json.loads(body) if body else {}
        except ValueError:
            raise _invalid([{"type": "json_invalid", "loc": (), "msg": "not JSON"}]) from None
    try:
        return TokenForm.model_validate(values)
    except ValidationError as exc:
        raise _invalid(list(exc.errors())) from None


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
    *,
    body: SdkTokenRequest,
    api_key: TokenIssuerKey,
    tokens: TokensDep,
    clock: ClockDep,
    client: ClientDep,
    response: Response,
) -> TokenResponse:
    """The tenant back end vouches for one of its users; a new session starts."""
    device = body.device or DeviceIn()
    issued = await tokens.issue(
        api_key=api_key,
        user_id=body.user_id,
        device=DeviceInfo(**device.model_dump()),
        client=client,
    )
    response.headers.update(_NO_STORE)
    return _token_response(issued, now=clock())


@router.post(
    "/refresh",
    response_model=TokenResponse,
    responses=_ERRORS,
    dependencies=[IpLimited],
    summary="Rotate a refresh token (RFC 9700 rotation and reuse detection)",
)
async def refresh(
    body: RefreshRequest,
    tokens: TokensDep,
    clock: ClockDep,
    client: ClientDep,
    response: Response,
) -> TokenResponse:
    """A new access token and the successor refresh token; the presented one is spent."""
    issued = await tokens.refresh(body.refresh_token, client=client)
    response.headers.update(_NO_STORE)
    return _token_response(issued, now=clock())


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
    control: TokenControlDep,
    client: ClientDep,
    body: LogoutRequest | None = None,
) -> Response:
    """Revokes the session's refresh family and, on every instance, its access tokens."""
    everywhere = body.everywhere if body is not None else False
    await control.logout(principal, everywhere=everywhere, client=client)
    return Response(status_code=204)


@router.post(
    "/revoke",
    status_code=200,
    response_class=Response,
    responses={**_ERRORS, 200: {"description": "Revoked, or nothing to revoke (RFC 7009 §2.2)"}},
    openapi_extra=_FORM_BODY,
    summary="RFC 7009 token revocation (X-API-Key, or the user's own Bearer token)",
)
async def revoke(
    form: TokenFormDep,
    control: TokenControlDep,
    client: ClientDep,
    api_key: OptionalRevokerKey,
    principal: OptionalPrincipal,
) -> Response:
    """200 whether or not there was anything to revoke (RFC 7009 §2.2)."""
    caller = Caller.of(api_key=api_key, principal=principal)
    await control.revoke(form.token, hint=form.hint, caller=caller, client=client)
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
    form: TokenFormDep, control: TokenControlDep, api_key: IntrospectorKey, response: Response
) -> IntrospectionResponse:
    """Active only for a valid, unrevoked token of the caller's own tenant."""
    caller = Caller.of(api_key=api_key)
    result = await control.introspect(form.token, hint=form.hint, caller=caller)
    response.headers.update(_NO_STORE)
    return IntrospectionResponse(**result)


@router.post(
    "/revoke-all",
    response_model=RevokeAllResponse,
    responses=_ERRORS,
    summary="Revoke every token of a user, or of the whole tenant (X-API-Key, tokens:revoke)",
)
async def revoke_all(
    body: RevokeAllRequest,
    api_key: TokenRevokerKey,
    control: TokenControlDep,
    client: ClientDep,
) -> RevokeAllResponse:
    """Tokens issued before the answer's `notBefore` are rejected on every instance."""
    not_before = await control.revoke_all(
        tenant=api_key.tenant,
        user_id=body.user_id,
        actor=key_actor(api_key),
        client=client,
    )
    return RevokeAllResponse(not_before=not_before)
