"""The POST of one attempt: one lookup, the vetted address connected to, no redirects, a
bounded read, a deadline over everything.

HTTP/1.1 over asyncio streams (the request written here, the answer parsed by httptools, the
C parser uvicorn uses), so the address connected to is exactly the one vetted
(TLS still verifies the certificate for the host name, sent as SNI and in `Host`). Idle
connections are kept per (address, port, host) and reused when the next attempt's own lookup
vets the same address: keep-alive without trusting an old lookup.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import re
import socket
import ssl
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final
from urllib.parse import SplitResult, urlsplit

import httptools

from caas_control_plane.dispatcher.outcomes import AttemptResult, FailureKind
from caas_control_plane.dispatcher.schedule import parse_retry_after
from caas_control_plane.dispatcher.targets import TargetPolicy, is_literal
from caas_core.domain.webhook_urls import (
    HostResolutionError,
    Resolver,
    UrlProblem,
    WebhookUrlError,
)

# The response body is read up to this many bytes (kept as the attempt log's excerpt source);
# the rest is never read: the connection is dropped instead of drained.
RESPONSE_BODY_CAP: Final = 64 * 1024
USER_AGENT: Final = "caas-webhooks/1"
_READ: Final = 65536
_IDLE_PER_TARGET: Final = 64
_VERDICTS: Final = 10_000
_CONTROL: Final = re.compile(r"[\x00-\x1f\x7f]")

PoolKey = tuple[str, str, int, str]  # scheme, address, port, host


async def system_resolver(host: str, port: int) -> Sequence[str]:
    """The addresses of `host` from the system resolver (one lookup)."""
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise HostResolutionError(str(exc)) from None
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


@dataclass(frozen=True, slots=True, kw_only=True)
class Attempted:
    """An attempt's result and what the log keeps of it."""

    result: AttemptResult
    latency_ms: float
    excerpt: str
    address: str | None


class _Conn:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.writer.close()


class WebhookClient:
    """Sends attempts; one per dispatcher process."""

    def __init__(
        self,
        *,
        policy: TargetPolicy,
        timeout: float,
        resolver: Resolver = system_resolver,
        allow_insecure_http: bool = False,
        body_cap: int = RESPONSE_BODY_CAP,
    ) -> None:
        self._policy = policy
        self._timeout = timeout
        self._resolve = resolver
        self._insecure = allow_insecure_http
        self._body_cap = body_cap
        self._tls = ssl.create_default_context()
        self._idle: dict[PoolKey, list[_Conn]] = {}
        self._verdicts: dict[tuple[str, tuple[str, ...]], str | WebhookUrlError] = {}

    async def post(self, url: str, headers: Mapping[str, str], body: bytes) -> Attempted:
        """POST `body` to `url` once; never raises for the receiver's or network's faults."""
        started = time.perf_counter()
        address: str | None = None
        try:
            async with asyncio.timeout(self._timeout):
                parts = _split(url)
                scheme, host = parts.scheme.lower(), (parts.hostname or "").lower()
                port = parts.port or (443 if scheme == "https" else 80)
                self._check_scheme(scheme)
                address = await self._vetted(host, port)
                result, excerpt = await self._exchange(
                    (scheme, address, port, host), parts, headers, body
                )
        except WebhookUrlError as exc:
            kind = FailureKind.REFUSED_ADDRESS
            if exc.retryable:
                kind = FailureKind.UNRESOLVABLE
            elif is_literal(urlsplit(url).hostname or ""):
                kind = FailureKind.REFUSED_LITERAL
            result, excerpt = AttemptResult(failure=kind, detail=exc.message), ""
        except TimeoutError:
            result, excerpt = _failed(FailureKind.TIMEOUT, f"no answer in {self._timeout:g} s")
        except ssl.SSLError as exc:
            result, excerpt = _failed(FailureKind.TLS, f"TLS: {exc.reason or exc}")
        except ProtocolError as exc:
            result, excerpt = _failed(FailureKind.PROTOCOL, f"not HTTP/1.1: {exc}")
        except OSError as exc:
            result, excerpt = _failed(FailureKind.CONNECT, f"connection: {exc}")
        except ValueError as exc:  # after SSLError: a certificate error is a ValueError too
            # e.g. a port out of range in a URL written to the store by hand
            result, excerpt = _failed(FailureKind.INVALID_URL, f"invalid URL: {exc}")
        latency = (time.perf_counter() - started) * 1000
        return Attempted(result=result, latency_ms=latency, excerpt=excerpt, address=address)

    def _check_scheme(self, scheme: str) -> None:
        if scheme != "https" and not (scheme == "http" and self._insecure):
            raise WebhookUrlError(UrlProblem.INSECURE_SCHEME, f"scheme {scheme} is not allowed")

    async def _vetted(self, host: str, port: int) -> str:
        if is_literal(host):
            return self._verdict(host, (host,))
        self._policy.vet_host(host)
        try:
            addresses = await self._resolve(host, port)
        except HostResolutionError as exc:
            raise WebhookUrlError(
                UrlProblem.UNRESOLVABLE_HOST, f"host {host}: {exc}", retryable=True
            ) from None
        return self._verdict(host, tuple(addresses))

    def _verdict(self, host: str, addresses: tuple[str, ...]) -> str:
        """The vetting of this lookup's answer: a pure function of (host, addresses), so it is
        remembered (parsing and classifying addresses costs more than the rest of a POST)."""
        key = (host, addresses)
        known = self._verdicts.get(key)
        if known is None:
            try:
                known = self._policy.vet(host, addresses)
            except WebhookUrlError as exc:
                known = exc
            if len(self._verdicts) >= _VERDICTS:
                self._verdicts.clear()
            self._verdicts[key] = known
        if isinstance(known, WebhookUrlError):
            raise known
        return known

    async def _exchange(
        self,
        key: PoolKey,
        parts: SplitResult,
        headers: Mapping[str, str],
        body: bytes,
    ) -> tuple[AttemptResult, str]:
        idle = self._idle.get(key)
        while idle:
            conn = idle.pop()
            try:
                return await self._once(key, conn, parts, headers, body)
            except (OSError, ProtocolError, _StaleError):
                # A kept connection the receiver had closed: try the next (or a fresh) one.
                conn.close()
        conn = await self._connect(key)
        try:
            return await self._once(key, conn, parts, headers, body)
        except _StaleError as exc:
            raise ConnectionResetError(str(exc)) from None

    async def _connect(self, key: PoolKey) -> _Conn:
        scheme, address, port, host = key
        if scheme == "https":
            reader, writer = await asyncio.open_connection(
                address, port, ssl=self._tls, server_hostname=host
            )
        else:
            reader, writer = await asyncio.open_connection(address, port)
        return _Conn(reader, writer)

    async def _once(
        self,
        key: PoolKey,
        conn: _Conn,
        parts: SplitResult,
        headers: Mapping[str, str],
        body: bytes,
    ) -> tuple[AttemptResult, str]:
        conn.writer.write(_request(key, parts, headers, body))
        await conn.writer.drain()
        answer = _Answer(self._body_cap)
        parser = httptools.HttpResponseParser(answer)
        got_bytes = False
        while not answer.complete and not answer.truncated:
            data = await conn.reader.read(_READ)
            if not data:
                if not got_bytes:
                    raise _StaleError("the connection was closed before any answer")
                if answer.status is None:
                    raise ConnectionResetError("the connection was closed mid-answer")
                break  # a body delimited by the connection's end
            got_bytes = True
            try:
                parser.feed_data(data)
            except httptools.HttpParserUpgrade:
                raise ProtocolError("the receiver asked to upgrade the protocol") from None
            except httptools.HttpParserError as exc:
                raise ProtocolError(str(exc)) from None
        if answer.status is None:
            answer.status = parser.get_status_code()
        # httptools forgets keep-alive once a message completed: decided from the answer.
        reusable = (
            answer.complete
            and not answer.truncated
            and not answer.close
            and parser.get_http_version() == "1.1"
        )
        idle = self._idle.setdefault(key, [])
        if reusable and len(idle) < _IDLE_PER_TARGET:
            idle.append(conn)
        else:
            conn.close()
        retry_after = parse_retry_after(answer.retry_after, now=datetime.now(UTC))
        text = bytes(answer.body).decode("utf-8", "replace")
        return AttemptResult(status=answer.status, retry_after=retry_after), text

    async def close(self) -> None:
        """Close every kept connection."""
        for conns in self._idle.values():
            for conn in conns:
                conn.close()
        self._idle.clear()


class _StaleError(Exception):
    """A kept-alive connection turned out closed before the request was answered."""


class ProtocolError(Exception):
    """The receiver's answer is not HTTP/1.x."""


class _Answer:
    """httptools callbacks: the status, `Retry-After` and the body up to the cap."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.status: int | None = None
        self.retry_after: str | None = None
        self.body = bytearray()
        self.truncated = False
        self.complete = False
        self.close = False  # the receiver said `connection: close`

    def on_header(self, name: bytes, value: bytes) -> None:
        lowered = name.lower()
        if lowered == b"retry-after":
            self.retry_after = value.decode("latin-1")
        elif lowered == b"connection" and b"close" in value.lower():
            self.close = True

    def on_body(self, data: bytes) -> None:
        room = self.cap - len(self.body)
        self.body += data[:room]
        if len(data) > room:
            self.truncated = True  # the rest is never read: the connection is dropped

    def on_message_complete(self) -> None:
        self.complete = True


def _request(key: PoolKey, parts: SplitResult, headers: Mapping[str, str], body: bytes) -> bytes:
    """The request's bytes; header values with control characters are refused (they come from
    event ids, which a raw Kafka producer could set to anything)."""
    scheme, _, port, host = key
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    authority = host if port == (443 if scheme == "https" else 80) else f"{_bracket(host)}:{port}"
    lines = [f"POST {target} HTTP/1.1", f"host: {authority}", f"user-agent: {USER_AGENT}",
             "content-type: application/json", f"content-length: {len(body)}"]  # fmt: skip
    lines += [f"{name}: {value}" for name, value in headers.items()]
    if any(_CONTROL.search(text) for text in (target, *headers.values())):
        raise ProtocolError("a request header or the target holds a control character")
    return "\r\n".join(lines).encode("latin-1") + b"\r\n\r\n" + body


@functools.lru_cache(maxsize=4096)
def _split(url: str) -> SplitResult:
    return urlsplit(url)


def _failed(kind: FailureKind, detail: str) -> tuple[AttemptResult, str]:
    return AttemptResult(failure=kind, detail=detail), ""


def _bracket(host: str) -> str:
    return f"[{host}]" if ":" in host else host
