"""RFC 9457 problem details: the one error format of the API."""

import logging
from http import HTTPStatus
from typing import Any, Final

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from caas_control_plane.middleware import REQUEST_ID_HEADER
from caas_control_plane.services.access import AccessTokenError
from caas_control_plane.services.errors import InvalidGrantError, ServiceError

PROBLEM_JSON: Final = "application/problem+json"
PROBLEM_BASE: Final = "https://platform.caas.io/problems/"
VALIDATION_ERROR: Final = f"{PROBLEM_BASE}validation-error"

logger = logging.getLogger(__name__)


class InvalidParam(BaseModel):
    """One invalid part of a request."""

    location: str = Field(description="Where the value was: body, query, path, header or cookie.")
    field: str = Field(description="Dotted path of the field inside that location.")
    detail: str = Field(description="What is wrong with it.")


class Problem(BaseModel):
    """An RFC 9457 problem details object (extension members allowed)."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(default="about:blank", description="URI identifying the problem type.")
    title: str = Field(description="Short summary of the problem type.")
    status: int = Field(description="HTTP status code.")
    detail: str | None = Field(default=None, description="Explanation of this occurrence.")
    instance: str | None = Field(default=None, description="URI reference of this occurrence.")


class ProblemError(Exception):
    """Raise at the HTTP edge to answer with a problem; extensions become extra members."""

    def __init__(
        self,
        *,
        status: int,
        detail: str | None = None,
        title: str | None = None,
        type_: str = "about:blank",
        headers: dict[str, str] | None = None,
        **extensions: Any,
    ) -> None:
        super().__init__(detail or title or HTTPStatus(status).phrase)
        self.status = status
        self.detail = detail
        self.title = title or HTTPStatus(status).phrase
        self.type = type_
        self.headers = headers
        self.extensions = extensions


def problem_response(
    request: Request,
    *,
    status: int,
    title: str | None = None,
    detail: str | None = None,
    type_: str = "about:blank",
    headers: dict[str, str] | None = None,
    **extensions: Any,
) -> JSONResponse:
    """A problem+json response for this request."""
    body: dict[str, Any] = {
        "type": type_,
        # With about:blank, RFC 9457 wants the title to be the status phrase.
        "title": title or HTTPStatus(status).phrase,
        "status": status,
    }
    if detail:
        body["detail"] = detail
    body["instance"] = request.url.path
    request_id = getattr(request.state, "request_id", None)
    response_headers = dict(headers or {})
    if request_id:
        body["requestId"] = request_id
        # 500s are answered outside the request-id middleware; set the header here as well.
        response_headers.setdefault(REQUEST_ID_HEADER, request_id)
    body |= extensions
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=response_headers)


async def _problem_error(request: Request, exc: Exception) -> JSONResponse:
    if not isinstance(exc, ProblemError):  # registered for exactly this type
        raise exc
    return problem_response(
        request,
        status=exc.status,
        title=exc.title,
        detail=exc.detail,
        type_=exc.type,
        headers=exc.headers,
        **exc.extensions,
    )


async def _service_error(request: Request, exc: Exception) -> JSONResponse:
    if not isinstance(exc, ServiceError):  # registered for exactly this type
        raise exc
    headers = dict(exc.headers or {})
    extensions: dict[str, Any] = {}
    if isinstance(exc, AccessTokenError):
        # RFC 6750 §3: tell Bearer clients how the token failed.
        headers["WWW-Authenticate"] = 'Bearer error="invalid_token"'
        extensions["reason"] = exc.reason
    if isinstance(exc, InvalidGrantError):
        extensions["error"] = "invalid_grant"  # RFC 6749 §5.2, for OAuth client libraries
    return problem_response(
        request,
        status=exc.status,
        title=exc.title,
        detail=exc.detail,
        type_=f"{PROBLEM_BASE}{exc.code}",
        headers=headers,
        **extensions,
    )


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    if not isinstance(exc, StarletteHTTPException):  # registered for exactly this type
        raise exc
    phrase = HTTPStatus(exc.status_code).phrase
    detail = exc.detail if isinstance(exc.detail, str) and exc.detail != phrase else None
    headers = dict(exc.headers) if exc.headers else None
    return problem_response(request, status=exc.status_code, detail=detail, headers=headers)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    if not isinstance(exc, RequestValidationError):  # registered for exactly this type
        raise exc
    params = [_invalid_param(error) for error in exc.errors()]
    summary = "; ".join(f"{p.location}.{p.field}: {p.detail}" for p in params)
    return problem_response(
        request,
        status=422,
        title="Request validation failed",
        detail=f"Invalid request: {summary}",
        type_=VALIDATION_ERROR,
        errors=[p.model_dump() for p in params],
    )


async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    # Details stay in the log: an internal error message can leak internals to clients.
    logger.error("unhandled error", exc_info=exc, extra={"path": request.url.path})
    return problem_response(request, status=500)


def _invalid_param(error: Any) -> InvalidParam:
    # The input value is left out on purpose: it may be a password or a token.
    location, *path = [str(part) for part in error.get("loc", ())] or ["request"]
    return InvalidParam(
        location=location, field=".".join(path) or location, detail=str(error.get("msg", ""))
    )


def install_problem_handlers(app: FastAPI) -> None:
    """Answer every error (ours, HTTP, validation, unexpected) with problem+json."""
    app.add_exception_handler(ProblemError, _problem_error)
    app.add_exception_handler(ServiceError, _service_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(Exception, _unexpected_error)
