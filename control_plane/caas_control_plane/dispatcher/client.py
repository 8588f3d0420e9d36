"""The POST of one attempt: one lookup, the vetted address connected to, no redirects, a
bounded read, a deadline over everything.

HTTP/1.1 with h11 over asyncio streams, so the address connected to is exactly the one vetted
(TLS still verifies the certificate for the host name, sent as SNI and in `Host`). Idle
connections are kept per (address, port, host) and reused when the next attempt's own lookup
vets the same address: keep-alive without trusting an old lookup.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final
from urllib.parse import SplitResult, urlsplit

import h11

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

    async def post(self, url: str, headers: Mapping[str, str], body: bytes) -> Attempted:
        """POST `body` to `url` once; never raises for the receiver's or network's faults."""
        started = time.perf_counter()
        address: str | None = None
        try:
            async with asyncio.timeout(self._timeout):
                parts = urlsplit(url)
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
        except h11.ProtocolError as exc:
            result, excerpt = _failed(FailureKind.PROTOCOL, f"not HTTP/1.1: {exc}")
        except OSError as exc:
            result, excerpt = _failed(FailureKind.CONNECT, f"connection: {exc}")
        latency = (time.perf_counter() - started) * 1000
        return Attempted(result=result, latency_ms=latency, excerpt=excerpt, address=address)

    def _check_scheme(self, scheme: str) -> None:
        if scheme != "https" and not (scheme == "http" and self._insecure):
            raise WebhookUrlError(UrlProblem.INSECURE_SCHEME, f"scheme {scheme} is not allowed")

    async def _vetted(self, host: str, port: int) -> str:
        self._policy.vet_host(host)
        if is_literal(host):
            return self._policy.vet(host, [host])
        try:
            addresses = await self._resolve(host, port)
        except HostResolutionError as exc:
            raise WebhookUrlError(
                UrlProblem.UNRESOLVABLE_HOST, f"host {host}: {exc}", retryable=True
            ) from None
        return self._policy.vet(host, addresses)

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
            except (OSError, h11.ProtocolError, _StaleError):
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
        scheme, _, port, host = key
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        default_port = 443 if scheme == "https" else 80
        authority = host if port == default_port else f"{_bracket(host)}:{port}"
        machine = h11.Connection(h11.CLIENT)
        request = h11.Request(
            method="POST",
            target=target,
            headers=[
                ("host", authority),
                ("user-agent", USER_AGENT),
                ("content-type", "application/json"),
                ("content-length", str(len(body))),
                *headers.items(),
            ],
        )
        conn.writer.write(machine.send(request) + machine.send(h11.Data(data=body)))
        conn.writer.write(machine.send(h11.EndOfMessage()))
        await conn.writer.drain()
        response: h11.Response | None = None
        chunks: list[bytes] = []
        size = 0
        truncated = False
        got_bytes = False
        while True:
            event = machine.next_event()
            if event is h11.NEED_DATA:
                data = await conn.reader.read(_READ)
                if not data and not got_bytes:
                    raise _StaleError("the connection was closed before any answer")
                got_bytes = True
                machine.receive_data(data)
                continue
            if isinstance(event, h11.Response):
                response = event
            elif isinstance(event, h11.Data):
                room = self._body_cap - size
                chunks.append(bytes(event.data[:room]))
                size += min(len(event.data), room)
                if len(event.data) > room:
                    truncated = True
                    break
            elif isinstance(event, h11.EndOfMessage | h11.ConnectionClosed):
                break
        assert response is not None
        reusable = (
            not truncated and machine.our_state is h11.DONE and machine.their_state is h11.DONE
        )
        if reusable:
            self._idle.setdefault(key, [])
            if len(self._idle[key]) < _IDLE_PER_TARGET:
                self._idle[key].append(conn)
            else:
                conn.close()
        else:
            conn.close()
        found = {name.decode().lower(): value.decode("latin-1") for name, value in response.headers}
        retry_after = parse_retry_after(found.get("retry-after"), now=datetime.now(UTC))
        text = b"".join(chunks).decode("utf-8", "replace")
        return AttemptResult(status=response.status_code, retry_after=retry_after), text

    async def close(self) -> None:
        """Close every kept connection."""
        for conns in self._idle.values():
            for conn in conns:
                conn.close()
        self._idle.clear()


class _StaleError(Exception):
    """A kept-alive connection turned out closed before the request was answered."""


def _failed(kind: FailureKind, detail: str) -> tuple[AttemptResult, str]:
    return AttemptResult(failure=kind, detail=detail), ""


def _bracket(host: str) -> str:
    return f"[{host}]" if ":" in host else host
