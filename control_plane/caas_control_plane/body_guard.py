"""The request-body guard: cheap limits checked before any parsing, authentication or pydantic.

Every request body of this API is small (the largest, tenant settings, is a few kilobytes, three
levels deep, a few dozen members). A body is refused, with a bounded problem+json answer, when it

- is larger than MAX_BODY_BYTES (413), announced or actual;
- comes without a media type, or with one its operation does not read (415): JSON everywhere,
  `application/x-www-form-urlencoded` where an operation declares it (RFC 7009/7662);
- is JSON nested deeper than MAX_DEPTH or with more than MAX_MEMBERS members and elements (422):
  Python's parser and pydantic recurse per level (thousands of levels raised RecursionError),
  and pydantic reports every unknown member (100,000 of them took seconds of event loop).

The structure check works on bytes with two C-speed regular expressions and one pass over the
brackets only, so an unauthenticated caller cannot make the check itself expensive.
"""

import re
from collections.abc import Collection
from typing import Final

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from caas_control_plane.problems import VALIDATION_ERROR, send_problem

MAX_BODY_BYTES: Final = 64 * 1024
MAX_DEPTH: Final = 16
MAX_MEMBERS: Final = 512
JSON: Final = "application/json"
FORM: Final = "application/x-www-form-urlencoded"
_BODY_METHODS: Final = frozenset({"POST", "PUT", "PATCH"})
# A JSON string, escapes included (unrolled: no backtracking however long the string is).
_JSON_STRING: Final = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')
_BRACKET: Final = re.compile(rb"[\[\]{}]")


def json_shape_problem(body: bytes, *, max_depth: int, max_members: int) -> str | None:
    """Why this JSON text is too deep or too wide, or None. (Syntax is left to the parser.)"""
    skeleton = _JSON_STRING.sub(b'""', body)  # brackets and commas inside strings do not count
    if skeleton.count(b",") >= max_members:
        return f"more than {max_members} members and elements"
    depth = 0
    for bracket in _BRACKET.findall(skeleton):
        if bracket in (b"[", b"{"):
            depth += 1
            if depth > max_depth:
                return f"nested deeper than {max_depth} levels"
        else:
            depth -= 1
    return None


def form_shape_problem(body: bytes, *, max_members: int) -> str | None:
    """Why this form body has too many fields, or None."""
    if body.count(b"&") >= max_members:
        return f"more than {max_members} fields"
    return None


def media_type(scope: Scope) -> str | None:
    """The request's media type, lowercased and without parameters; None when absent."""
    for key, value in scope.get("headers", ()):
        if key == b"content-type":
            return value.decode("latin-1").split(";")[0].strip().lower() or None
    return None


def _is_json(media: str) -> bool:
    return media == JSON or (media.startswith("application/") and media.endswith("+json"))


class BodyGuardMiddleware:
    """Buffers a request body within the limits, checks it, and replays it to the app."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        form_paths: Collection[str] = (),
        max_bytes: int = MAX_BODY_BYTES,
        max_depth: int = MAX_DEPTH,
        max_members: int = MAX_MEMBERS,
    ) -> None:
        self.app = app
        self.form_paths = frozenset(form_paths)
        self.max_bytes = max_bytes
        self.max_depth = max_depth
        self.max_members = max_members

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one ASGI connection."""
        if scope["type"] != "http" or scope["method"] not in _BODY_METHODS:
            await self.app(scope, receive, send)
            return
        if self._announced_length(scope) > self.max_bytes:
            await self._too_large(scope, send)
            return
        body, complete = await self._read(receive)
        if not complete:
            await self._too_large(scope, send)
            return
        problem = self._problem(scope, body)
        if problem is not None:
            status, detail = problem
            if status == 415:
                await send_problem(scope, send, status=415, detail=detail)
            else:
                await send_problem(
                    scope, send, status=422, title="Request validation failed",
                    detail=f"Invalid request: body: {detail}", type_=VALIDATION_ERROR,
                    errors=[{"location": "body", "field": "body", "detail": detail}],
                    errorCount=1,
                )  # fmt: skip
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # e.g. http.disconnect

        await self.app(scope, replay, send)

    def _problem(self, scope: Scope, body: bytes) -> tuple[int, str] | None:
        if not body:
            return None  # an operation without a body, or a required one missing: the app says
        media = media_type(scope)
        is_form = media == FORM and scope.get("path") in self.form_paths
        if media is not None and (_is_json(media) or is_form):
            reason = self._shape_problem(body, form=is_form)
            return None if reason is None else (422, reason)
        readable = f"{JSON} or {FORM}" if scope.get("path") in self.form_paths else JSON
        if media is None:
            return 415, f"a request body needs a Content-Type: {readable}"
        return 415, f"this operation reads {readable}, not {media[:100]}"

    def _shape_problem(self, body: bytes, *, form: bool) -> str | None:
        try:
            body.decode("utf-8")  # RFC 8259 §8.1; form data is read as UTF-8 too
        except UnicodeDecodeError:
            return "the body is not UTF-8"
        if form:
            return form_shape_problem(body, max_members=self.max_members)
        return json_shape_problem(body, max_depth=self.max_depth, max_members=self.max_members)

    async def _read(self, receive: Receive) -> tuple[bytes, bool]:
        """The whole body if it is within the limit; else what was read and False."""
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return b"".join(chunks), True  # the client went away; the app will see it too
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                return b"", False
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks), True

    def _announced_length(self, scope: Scope) -> int:
        for key, value in scope.get("headers", ()):
            if key == b"content-length":
                try:
                    return int(value)
                except ValueError:
                    return 0  # the server refuses a malformed length before we run
        return 0

    async def _too_large(self, scope: Scope, send: Send) -> None:
        await send_problem(
            scope, send, status=413, detail=f"the request body exceeds {self.max_bytes} bytes"
        )
