"""RFC 9457 problem details: the one error format of the API."""

import json
import logging
import re
from http import HTTPStatus
from typing import Any, Final

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match
from starlette.types import Message, Scope, Send

from caas_control_plane.middleware import REQUEST_ID_HEADER
from caas_control_plane.services.access import AccessTokenError
from caas_control_plane.services.errors import InvalidGrantError, ServiceError
from caas_core.domain.identifiers import HUMAN_TEXT_PATTERN

PROBLEM_JSON: Final = "application/problem+json"
PROBLEM_BASE: Final = "https://platform.caas.io/problems/"
VALIDATION_ERROR: Final = f"{PROBLEM_BASE}validation-error"

logger = logging.getLogger(__name__)


class InvalidParam(BaseModel):
    """One invalid part of a request."""

    location: str = Field(description="Where the value was: body, query, path, header or cookie.")
    field: str = Field(
        description="Path of the field inside that location: `device.name`, `scopes[0]`, "
        '`metadata["a.b"]` (a key that is not a plain name is quoted).'
    )
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


# An error answer is bounded whatever the request held: at most this many invalid fields are
# reported (a body of 100,000 unknown members must not become a 12 MB answer), and every field
# path, which may come from the client's own member names, is cut to this length.
MAX_REPORTED_ERRORS: Final = 10
_MAX_FIELD_CHARS: Final = 120


def problem_body(
    *,
    status: int,
    instance: str,
    request_id: str | None,
    title: str | None = None,
    detail: str | None = None,
    type_: str = "about:blank",
    **extensions: Any,
) -> dict[str, Any]:
    """The members of a problem details object."""
    body: dict[str, Any] = {
        "type": type_,
        # With about:blank, RFC 9457 wants the title to be the status phrase.
        "title": title or HTTPStatus(status).phrase,
        "status": status,
    }
    if detail:
        body["detail"] = detail
    body["instance"] = instance
    if request_id:
        body["requestId"] = request_id
    return body | extensions


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
    request_id = getattr(request.state, "request_id", None)
    body = problem_body(
        status=status, instance=request.url.path, request_id=request_id, title=title,
        detail=detail, type_=type_, **extensions,
    )  # fmt: skip
    response_headers = dict(headers or {})
    if request_id:
        # 500s are answered outside the request-id middleware; set the header here as well.
        response_headers.setdefault(REQUEST_ID_HEADER, request_id)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=response_headers)


async def send_problem(
    scope: Scope, send: Send, *, status: int, headers: dict[str, str] | None = None, **members: Any
) -> None:
    """Answer with a problem from pure ASGI code (middleware that runs before any route)."""
    request_id = scope.get("state", {}).get("request_id")
    body = problem_body(
        status=status, instance=scope.get("path", ""), request_id=request_id, **members
    )
    response_headers = dict(headers or {})
    if request_id:
        response_headers.setdefault(REQUEST_ID_HEADER, request_id)
    response = JSONResponse(
        body, status_code=status, media_type=PROBLEM_JSON, headers=response_headers
    )
    await response(scope, _no_body, send)


async def _no_body() -> Message:
    return {"type": "http.request", "body": b"", "more_body": False}


def validation_problem(params: list["InvalidParam"], *, total: int) -> dict[str, Any]:
    """The members of a 422 naming at most MAX_REPORTED_ERRORS invalid fields of `total`."""
    shown = params[:MAX_REPORTED_ERRORS]
    summary = "; ".join(f"{p.location}.{p.field}: {p.detail}" for p in shown)
    if total > len(shown):
        summary += f" (and {total - len(shown)} more)"
    return {
        "status": 422,
        "title": "Request validation failed",
        "detail": f"Invalid request: {summary}",
        "type_": VALIDATION_ERROR,
        "errors": [p.model_dump() for p in shown],
        "errorCount": total,
    }


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


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    if not isinstance(exc, RequestValidationError):  # registered for exactly this type
        raise exc
    errors = exc.errors()
    params = [_invalid_param(error) for error in errors[:MAX_REPORTED_ERRORS]]
    return problem_response(request, **validation_problem(params, total=len(errors)))


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    if not isinstance(exc, StarletteHTTPException):  # registered for exactly this type
        raise exc
    phrase = HTTPStatus(exc.status_code).phrase
    detail = exc.detail if isinstance(exc.detail, str) and exc.detail != phrase else None
    headers = dict(exc.headers) if exc.headers else {}
    if exc.status_code == 405:
        # Starlette names only the methods of the first route matching the path; a path served
        # by several routes (GET and POST of a collection) serves the union of them.
        headers["Allow"] = ", ".join(allowed_methods(request.app, request.scope))
    return problem_response(request, status=exc.status_code, detail=detail, headers=headers or None)


def allowed_methods(app: FastAPI, scope: Scope) -> list[str]:
    """Every method some route of the app serves at this request's path (asked of the router
    itself, so included routers and path parameters match exactly as they do for requests)."""
    served = {
        method
        for method in _METHODS
        for route in app.router.routes
        if route.matches({**scope, "method": method})[0] is Match.FULL
    }
    return sorted(served)


_METHODS: Final = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    # Details stay in the log: an internal error message can leak internals to clients.
    # (ErrorBoundaryMiddleware answers first; this is the last resort outside it.)
    logger.error(
        "unhandled error",
        exc_info=exc,
        extra={"path": request.url.path, "request_id": getattr(request.state, "request_id", None)},
    )
    return problem_response(request, status=500)


def _invalid_param(error: Any) -> InvalidParam:
    # The input value is left out on purpose: it may be a password, a token, or huge.
    location, *path = list(error.get("loc", ())) or ["request"]
    field = _field_path(path) or str(location)
    detail = str(error.get("msg", ""))
    if error.get("type") == "string_pattern_mismatch" and _is_human_text_rule(error):
        detail = "must not contain control or format characters (e.g. NUL, U+202E)"
    elif path and path[-1] == "[key]":
        detail = f"invalid key: {detail}"
    if error.get("type") == "timezone_aware":
        detail = "must carry a time zone offset (e.g. Z or +01:00)"
    return InvalidParam(location=str(location), field=field, detail=detail[:300])


def _field_path(parts: list[Any]) -> str:
    """`metadata["a.b"]`, `scopes[0]`, `device.name`: a key holding a dot stays one key."""
    rendered = ""
    for part in parts:
        if part == "[key]":
            continue
        if isinstance(part, int):
            rendered += f"[{part}]"
        elif isinstance(part, str) and _PLAIN_MEMBER.fullmatch(part):
            rendered += f".{part}" if rendered else part
        else:
            rendered += f"[{json.dumps(str(part))}]"
    if len(rendered) > _MAX_FIELD_CHARS:
        rendered = rendered[: _MAX_FIELD_CHARS - 1] + "…"
    return rendered


def _is_human_text_rule(error: Any) -> bool:
    ctx = error.get("ctx") or {}
    return ctx.get("pattern") == HUMAN_TEXT_PATTERN


_PLAIN_MEMBER: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")


def install_problem_handlers(app: FastAPI) -> None:
    """Answer every error (ours, HTTP, validation, unexpected) with problem+json."""
    app.add_exception_handler(ProblemError, _problem_error)
    app.add_exception_handler(ServiceError, _service_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(Exception, _unexpected_error)
