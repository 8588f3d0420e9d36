"""Test receivers (local HTTP servers that verify signatures with the `standardwebhooks`
library), endpoint registration, event publishing and group positioning for dispatcher tests."""

from __future__ import annotations

import asyncio
import json
import secrets
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from confluent_kafka import Consumer, Producer, TopicPartition
from standardwebhooks import Webhook, WebhookVerificationError

from caas_control_plane.auth.webhook_sealing import WebhookSecretSealer
from caas_core.adapters.webhook_store import WebhookStore
from caas_core.domain.webhook_events import tenant_event
from caas_core.domain.webhook_records import (
    WebhookEndpoint,
    WebhookWriter,
    fingerprint,
    new_endpoint_id,
    new_signing_secret,
)
from caas_core.domain.webhook_secrets import StoredSecret

Answer = tuple[int, dict[str, str]]
# (webhook-id, how many times this id was received before) -> status and headers
Behaviour = Callable[[str, int], Answer]


def always(status: int, headers: dict[str, str] | None = None) -> Behaviour:
    return lambda _id, _n: (status, dict(headers or {}))


def failing_first(n: int, status: int = 500, headers: dict[str, str] | None = None) -> Behaviour:
    return lambda _id, seen: (status, headers or {}) if seen < n else (200, {})


class _QuietServer(ThreadingHTTPServer):
    """Connections a killed dispatcher drops mid-request are expected here, not errors."""

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass


@dataclass
class Received:
    webhook_id: str
    body: dict[str, Any]
    headers: dict[str, str]
    verified_with: tuple[int, ...]  # indexes of the receiver's secrets that verify it
    at: float
    seen: int = 0  # how many times this webhook-id arrived before


@dataclass
class Receiver:
    """An HTTP server on 127.0.0.1 recording every POST, answering by `behaviour`."""

    secrets: list[str]
    behaviour: Behaviour = field(default_factory=lambda: always(200))
    received: list[Received] = field(default_factory=list)

    def __post_init__(self) -> None:
        receiver = self
        lock = threading.Lock()

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                headers = {k.lower(): v for k, v in self.headers.items()}
                verified = []
                for index, secret in enumerate(receiver.secrets):
                    try:
                        Webhook(secret).verify(body, headers)
                        verified.append(index)
                    except WebhookVerificationError:
                        pass
                wid = headers.get("webhook-id", "")
                with lock:
                    seen = sum(1 for r in receiver.received if r.webhook_id == wid)
                    receiver.received.append(
                        Received(wid, json.loads(body), headers, tuple(verified), time.time(), seen)
                    )
                status, extra = receiver.behaviour(wid, seen)
                payload = b"ok" if status < 300 else b"not now"
                size = extra.pop("x-body-bytes", None)
                if size is not None:  # a receiver answering far more than anyone reads
                    payload = b"x" * int(size)
                self.send_response(status)
                for name, value in extra.items():
                    self.send_header(name, value)
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = _QuietServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def ids(self) -> list[str]:
        return [r.webhook_id for r in list(self.received)]

    def event_ids(self) -> set[str]:
        return {r.body["id"] for r in list(self.received)}

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def wait_for(check: Callable[[], Any], *, timeout: float = 30.0, what: str = "") -> Any:
    """Poll until `check()` is truthy (returns it); fail with `what` at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or check}")
        time.sleep(0.05)


async def await_for(check: Callable[[], Any], *, timeout: float = 30.0, what: str = "") -> Any:  # noqa: ASYNC109
    """`wait_for` without blocking the event loop (in-process dispatchers run on it)."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or check}")
        await asyncio.sleep(0.05)


async def until(check: Callable[[], Awaitable[Any]], *, timeout: float = 30.0, what: str) -> Any:  # noqa: ASYNC109
    """Poll an async check until truthy (returns it); fail with `what` at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = await check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.1)


def unique_tenant(prefix: str = "wh") -> str:
    return f"{prefix}-{secrets.token_hex(4)}"


async def register(
    store: WebhookStore,
    sealer: WebhookSecretSealer,
    *,
    tenant: str,
    url: str,
    event_types: Sequence[str] = ("*",),
    secrets_: Sequence[str] | None = None,
    previous_expires: datetime | None = None,
    max_concurrency: int | None = None,
    rate_limit_per_second: float | None = None,
    ordered: bool | None = None,
) -> tuple[WebhookEndpoint, list[str]]:
    """A REST-style endpoint with sealed secrets (the first current, a second one retiring at
    `previous_expires` for a rotation overlap) and its delivery options, written through the
    store as the REST API writes them."""
    endpoint_id = new_endpoint_id()
    plain = list(secrets_ or [new_signing_secret()])
    now = datetime.now(UTC)
    stored = [
        StoredSecret(
            sealed=sealer.seal(s, endpoint_id=endpoint_id),
            fingerprint=fingerprint(s),
            created_at=now,
            expires_at=None if i == 0 else previous_expires,
        )
        for i, s in enumerate(plain)
    ]
    endpoint = WebhookEndpoint(
        endpoint_id=endpoint_id,
        tenant=tenant,
        url=url,
        event_types=tuple(event_types),
        enabled=True,
        secret_ref=None,
        secret_fingerprint=fingerprint(plain[0]),
        managed_by=WebhookWriter.API,
        created_at=now,
        updated_at=now,
        secrets=tuple(stored),
        max_concurrency=max_concurrency,
        rate_limit_per_second=rate_limit_per_second,
        ordered=ordered,
    )
    await store.register(endpoint, writer=WebhookWriter.API)
    return endpoint, plain


class Events:
    """Publishes tenant events straight to the `events` topic (as the outbox relay does)."""

    def __init__(self, bootstrap: str) -> None:
        self._producer = Producer(
            {"bootstrap.servers": bootstrap, "linger.ms": 1, "enable.idempotence": True}
        )

    def publish(
        self,
        tenant: str,
        n: int = 1,
        *,
        type_: str = "message.created",
        partition: int = -1,
        topic: str | None = None,
    ) -> list[str]:
        ids = []
        for i in range(n):
            event = tenant_event(type_, tenant=tenant, data={"n": i}, now=datetime.now(UTC))
            ids.append(event.id)
            self._producer.produce(
                topic or event.topic.value,
                value=json.dumps(event.envelope()).encode(),
                key=tenant.encode(),
                partition=partition,
            )
            self._producer.poll(0)
        self._producer.flush(30)
        return ids

    def close(self) -> None:
        self._producer.flush(10)


def start_group_at_end(bootstrap: str, group: str, topics: Sequence[str]) -> None:
    """Commit the topics' current end offsets for a new group, so its members start now
    (and still never skip a record published after this, whatever the rebalances)."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    try:
        metadata = consumer.list_topics(timeout=10)
        offsets = []
        for topic in topics:
            for partition in metadata.topics[topic].partitions:
                _, high = consumer.get_watermark_offsets(
                    TopicPartition(topic, partition), timeout=10
                )
                offsets.append(TopicPartition(topic, partition, high))
        consumer.commit(offsets=offsets, asynchronous=False)
    finally:
        consumer.close()


def read_topic_from(
    bootstrap: str, topic: str, start: dict[int, int], *, timeout: float = 2.0
) -> list[dict[str, Any]]:
    """Every JSON record of `topic` from the given offsets (by partition) up to now."""
    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": f"it-read-{secrets.token_hex(4)}"}
    )
    try:
        consumer.assign([TopicPartition(topic, p, o) for p, o in start.items()])
        found = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            record = consumer.poll(0.2)
            if record is None or record.error() is not None:
                continue
            found.append(json.loads(record.value()))
        return found
    finally:
        consumer.close()


def end_offsets(bootstrap: str, topic: str) -> dict[int, int]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "it-offsets"})
    try:
        metadata = consumer.list_topics(topic, timeout=10)
        return {
            p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
            for p in metadata.topics[topic].partitions
        }
    finally:
        consumer.close()
