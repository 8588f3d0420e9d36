"""Webhook dispatch benchmark (not a test): one `caas-dispatcher` process delivering to a local
receiver, against the receiver's own ceiling, measured in the same run.

1. Receiver: a minimal asyncio HTTP/1.1 server in its own process (keep-alive, answers 200).
2. Ceiling: POSTs/s that the dispatcher's own HTTP client (same signing, same body size, 64
   in flight) gets from that receiver, with no Kafka or MongoDB in the way.
3. Throughput: N events published to `events` first, then one dispatcher process started on a
   fresh group positioned before them; deliveries/s from the first to the last arrival.
4. Latency: with the dispatcher caught up, events published at fixed rates (default 100 and 500
   per second, 15 s each); p50/p99 from the publisher's timestamp (in the event) to arrival.

Usage: `.venv/bin/python bench/webhook_dispatch.py [--events 20000] [--rates 100,500]`
(the local stack must be up: `caasctl stack up`). The bench registers one endpoint for a
throw-away tenant in `caas_platform` and removes it afterwards. A platform dispatcher started by
`make run` would attempt it too (and be refused: 127.0.0.1): stop it first (`make down`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import os
import secrets
import socket
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, Producer, TopicPartition
from pymongo import AsyncMongoClient

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from caas_control_plane.auth.webhook_sealing import WebhookSecretSealer
from caas_control_plane.dispatcher.client import WebhookClient
from caas_control_plane.dispatcher.signing import sign_headers
from caas_control_plane.dispatcher.targets import TargetPolicy
from caas_control_plane.runtime import keks
from caas_control_plane.settings import ApiSettings
from caas_core.adapters.webhook_store import WebhookStore
from caas_core.domain.naming import PLATFORM_DATABASE
from caas_core.domain.webhook_records import (
    WebhookEndpoint,
    WebhookWriter,
    fingerprint,
    new_endpoint_id,
    new_signing_secret,
)
from caas_core.domain.webhook_secrets import StoredSecret
from caasctl.stack.components import env_vars
from caasctl.stack.config import StackConfig
from caasctl.stack.processes import Process

SECRET_KEY = "bench-webhook-dispatch-secret-key-0123456789abcdef"
TOPICS = ("platform.events", "events", "internal.retry")


# -- the receiver (its own process) --------------------------------------------------------------


def _receiver(port: int, stats: Any, record: Any) -> None:
    """Answers every request 200; counts arrivals and (when `record`) their latencies."""

    async def serve() -> None:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                while True:
                    head = await reader.readuntil(b"\r\n\r\n")
                    length = 0
                    for line in head.split(b"\r\n"):
                        if line[:15].lower() == b"content-length:":
                            length = int(line[15:])
                    body = await reader.readexactly(length)
                    now = time.time()
                    if record.value:
                        sent = json.loads(body)["data"].get("sent")
                        if sent:
                            latencies.append(now - sent)
                    counts[0] += 1
                    if counts[1] == 0:
                        counts[1] = now
                    counts[2] = now
                    writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
            except (asyncio.IncompleteReadError, ConnectionError):
                writer.close()

        latencies: list[float] = []
        counts = [0, 0.0, 0.0]  # arrivals, first, last

        async def report() -> None:
            while True:
                await asyncio.sleep(0.2)
                stats["n"], stats["first"], stats["last"] = counts
                if record.value == 2:  # hand over and reset the latencies
                    stats["latencies"] = json.dumps(latencies)
                    latencies.clear()
                    record.value = 1

        server = await asyncio.start_server(handle, "127.0.0.1", port, backlog=512)
        async with server:
            await asyncio.gather(server.serve_forever(), report())

    asyncio.run(serve())


# -- helpers -------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _env(stack: dict[str, str], group: str, port: int) -> dict[str, str]:
    return {
        **os.environ,
        **stack,
        "MONGODB_URI": stack["CAAS_API_MONGODB_URI"],
        "CAAS_SECRET_KEY": SECRET_KEY,
        "CAAS_ENV": "development",
        "CAAS_LOG_LEVEL": "warning",
        "CAAS_DISPATCHER_GROUP": group,
        "CAAS_DISPATCHER_PORT": str(port),
        "CAAS_WEBHOOK_ALLOW_PRIVATE_NETWORKS": "127.0.0.0/8",
        "CAAS_WEBHOOK_ALLOW_INSECURE_HTTP": "true",
        "CAAS_WEBHOOK_MAX_CONCURRENCY": os.environ.get("BENCH_CONCURRENCY", "64"),
    }


def _position_group(bootstrap: str, group: str) -> None:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    metadata = consumer.list_topics(timeout=10)
    offsets = []
    for topic in TOPICS:
        for partition in metadata.topics[topic].partitions:
            high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)[1]
            offsets.append(TopicPartition(topic, partition, high))
    consumer.commit(offsets=offsets, asynchronous=False)
    consumer.close()


def _envelope(tenant: str, n: int, sent: float | None) -> bytes:
    return json.dumps(
        {
            "id": f"evt_{secrets.token_hex(16)}",
            "type": "message.created",
            "tenant": tenant,
            "timestamp": datetime.now(UTC).isoformat(),
            "data": {"n": n, "sent": sent, "text": "x" * 200},
        }
    ).encode()


async def _register(uri: str, tenant: str, url: str, sealer: WebhookSecretSealer) -> str:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(uri, tz_aware=True)
    secret = new_signing_secret()
    eid = new_endpoint_id()
    now = datetime.now(UTC)
    await WebhookStore(client[PLATFORM_DATABASE]).register(
        WebhookEndpoint(
            endpoint_id=eid, tenant=tenant, url=url, event_types=("*",), enabled=True,
            secret_ref=None, secret_fingerprint=fingerprint(secret), managed_by=WebhookWriter.API,
            created_at=now, updated_at=now,
            secrets=(StoredSecret(sealed=sealer.seal(secret, endpoint_id=eid),
                                  fingerprint=fingerprint(secret), created_at=now),),
        ),
        writer=WebhookWriter.API,
    )  # fmt: skip
    await client.close()
    return eid


async def _cleanup(uri: str, eid: str, tenant: str) -> None:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(uri, tz_aware=True)
    db = client[PLATFORM_DATABASE]
    await db["webhook_endpoints"].delete_one({"_id": eid})
    await db["webhook_attempts"].delete_many({"tenant": tenant})
    await client.close()


async def _ceiling(url: str, seconds: float, concurrency: int = 64) -> float:
    client = WebhookClient(
        policy=TargetPolicy.parse("127.0.0.0/8"), timeout=15, allow_insecure_http=True
    )
    secret = new_signing_secret()
    body = _envelope("bench", 0, None)
    done = 0
    deadline = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal done
        while time.perf_counter() < deadline:
            headers = sign_headers(
                [secret], msg_id=f"msg_{done}", timestamp=int(time.time()), body=body
            )
            attempted = await client.post(url, headers, body)
            assert attempted.result.ok, attempted.result
            done += 1

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    await client.close()
    return done / elapsed


def _cpu_seconds(pid: int) -> float:
    """User + system CPU of a process so far (Linux /proc), all its threads."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _wait(check: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out: {what}")
        time.sleep(0.05)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20000)
    parser.add_argument("--rates", default="100,500")
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--profile", help="write the dispatcher's cProfile stats to this file")
    args = parser.parse_args()
    conf = StackConfig.from_env()
    stack = env_vars(conf)
    bootstrap = stack["KAFKA_BOOTSTRAP_SERVERS"]
    settings = ApiSettings.model_validate({**_env(stack, "x", 1), "MONGODB_URI": "mongodb://x"})
    kek_id, available = keks(settings)
    sealer = WebhookSecretSealer(kek_id=kek_id, keks=available)

    manager = multiprocessing.Manager()
    stats = manager.dict(n=0, first=0.0, last=0.0, latencies="[]")
    record = multiprocessing.Value("i", 0)
    port = _free_port()
    receiver = multiprocessing.Process(target=_receiver, args=(port, stats, record), daemon=True)
    receiver.start()
    url = f"http://127.0.0.1:{port}/hook"
    time.sleep(0.5)
    tenant = f"bench-{secrets.token_hex(4)}"
    eid = asyncio.run(_register(stack["MONGODB_URI"], tenant, url, sealer))
    process = None
    try:
        ceiling = asyncio.run(_ceiling(url, 5.0))
        print(f"receiver ceiling (dispatcher's HTTP client, 64 in flight): {ceiling:,.0f} POST/s")

        group = f"bench-webhooks-{secrets.token_hex(4)}"
        _position_group(bootstrap, group)
        producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
        for n in range(args.events):
            producer.produce("events", value=_envelope(tenant, n, None), key=tenant.encode())
            if n % 1000 == 0:
                producer.poll(0)
        producer.flush(60)
        base = stats["n"]
        profile = ["-m", "cProfile", "-o", args.profile] if args.profile else []
        process = subprocess.Popen(
            [sys.executable, *profile, "-m", "caas_control_plane.dispatcher"],
            env=_env(stack, group, _free_port()),
        )
        others = {
            "receiver": receiver.pid,
            **{name: Process(name, conf.run_dir).pid() for name in ("mongodb", "kafka")},
        }
        # Timed from the first delivery (the process's start-up and group join excluded) to
        # the last, on this side (polled every 50 ms; the receiver also served the ceiling).
        _wait(lambda: stats["n"] - base >= 1, 120, "the first delivery")
        started_at = time.monotonic()
        first = stats["n"] - base
        cpu_start = _cpu_seconds(process.pid)
        others_start = {k: _cpu_seconds(v) for k, v in others.items() if v}
        _wait(lambda: stats["n"] - base >= args.events, 600, "the backlog delivered")
        wall = time.monotonic() - started_at
        cpu = _cpu_seconds(process.pid) - cpu_start
        shares = ", ".join(
            f"{k} {(_cpu_seconds(others[k]) - v) / wall:.2f}" for k, v in others_start.items()
        )
        timed = args.events - first
        rate = timed / wall
        print(
            f"throughput: {timed:,} deliveries in {wall:.1f} s = {rate:,.0f} deliveries/s "
            f"({rate / ceiling:.2f} of the receiver ceiling); dispatcher CPU {cpu:.1f} s = "
            f"{cpu / timed * 1000:.2f} ms per delivery, all its threads"
        )
        print(
            f"cores used during the backlog: dispatcher {cpu / wall:.2f}, {shares}; load average "
            f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
        )
        for target in (int(r) for r in args.rates.split(",") if r):
            record.value = 1
            count = int(target * args.seconds)
            start = time.perf_counter()
            before = stats["n"]
            for n in range(count):
                due = start + n / target
                pause = due - time.perf_counter()
                if pause > 0:
                    time.sleep(pause)
                producer.produce("events", value=_envelope(tenant, n, time.time()),
                                 key=tenant.encode())  # fmt: skip
                producer.poll(0)
            producer.flush(30)
            _wait(lambda c=count, b=before: stats["n"] - b >= c, 120, "the paced events")
            record.value = 2
            _wait(lambda: record.value == 1, 10, "the latencies")
            latencies = sorted(json.loads(stats["latencies"]))
            p50 = statistics.median(latencies) * 1000
            p99 = latencies[int(len(latencies) * 0.99) - 1] * 1000
            print(
                f"{target} events/s for {args.seconds:.0f} s: {len(latencies)} delivered, "
                f"publish->delivery p50 {p50:.1f} ms, p99 {p99:.1f} ms, max "
                f"{latencies[-1] * 1000:.1f} ms"
            )
    finally:
        if process is not None:
            process.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(30)
        asyncio.run(_cleanup(stack["MONGODB_URI"], eid, tenant))
        receiver.terminate()


if __name__ == "__main__":
    main()
