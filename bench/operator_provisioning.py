"""Benchmark: Tenant apply -> Ready through the operator vs the same provisioning done directly.

    .venv/bin/python bench/operator_provisioning.py [--sizes 1,100] [--memory-tenants 1000]

Needs the local stack up (`caasctl stack up`) with the CRDs applied (`caasctl up` does both).
The platform's operator is stopped for the run (two operators would share the work) and one is
started from this checkout; `caasctl up` restarts the platform's afterwards.

- raw: this script makes exactly what the operator makes for a tenant — namespace and Secret
  (server-side apply), MongoDB database with the tenant collections and indexes, the Kafka
  topic, SCRAM principal and its 8 prefixed ACLs, the Redis ACL user — with the same adapters,
  all tenants concurrently, and nothing else (no ownership registry, status or events).
- operator: the same number of Tenants created at once through the API; the clock stops when
  the last one reports Ready for its generation.
- memory: the operator's RSS once 1,000 tenants are Ready (and its peak), against its RSS idle.

Every tenant is deleted afterwards (deletionPolicy Delete / raw clean-up).
"""

import argparse
import asyncio
import contextlib
import os
import secrets
import signal
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from lightkube import ApiError, AsyncClient, KubeConfig
from lightkube.generic_resource import create_global_resource
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Namespace, Secret

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "operator"), str(ROOT / "hack")]

from caas_core.adapters import kafka, mongo, redis  # noqa: E402
from caas_core.domain.collections import TENANT_COLLECTIONS  # noqa: E402
from caas_core.domain.kafka_acl import principal_of, tenant_acls  # noqa: E402
from caas_core.domain.naming import tenant_names  # noqa: E402
from caas_core.domain.redis_acl import AclUserSpec  # noqa: E402
from caas_core.domain.topics import TopicSpec, topic_config  # noqa: E402
from caasctl.stack.components import env_vars  # noqa: E402
from caasctl.stack.config import StackConfig  # noqa: E402
from caasctl.stack.processes import Process  # noqa: E402

Tenant = create_global_resource("platform.caas.io", "v1alpha1", "Tenant", "tenants")
RUN = uuid.uuid4().hex[:4]
RETENTION_MS = 86_400_000
CONCURRENCY = int(os.environ.get("CAAS_OPERATOR_MAX_CONCURRENT_RECONCILES", "16"))
TOPIC = {"suffix": "events", "partitions": 1, "retentionMs": RETENTION_MS}


def _env() -> dict[str, str]:
    conf = StackConfig.from_env()
    return {**os.environ, **env_vars(conf)}


ENV = _env()
os.environ.update(ENV)


class Operator:
    """One caas-operator process from this checkout."""

    def __init__(self, log: Path) -> None:
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as sink:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "caas_operator"],
                env={
                    **ENV,
                    "MONGODB_URI": ENV["CAAS_OPERATOR_MONGODB_URI"],  # the operator's own user
                    "CAAS_LOG_LEVEL": "warning",
                    "CAAS_OPERATOR_MAX_CONCURRENT_RECONCILES": str(CONCURRENCY),
                },
                stdout=sink,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        time.sleep(2.0)  # start-up (~1 s) before the clock of any measurement starts

    def rss_mib(self) -> tuple[float, float]:
        """Current and peak resident memory of the process, in MiB."""
        assert self.proc is not None
        fields = dict(
            line.split(":", 1)
            for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines()
            if ":" in line
        )
        return (int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=60)


# --- raw -----------------------------------------------------------------------------------------


async def raw_provision(clients: dict[str, Any], kube: AsyncClient, name: str) -> None:
    """Everything the operator makes for one tenant, made directly and as concurrently as the
    operator does it: passwords go to a backend only once the Secret holds them."""
    names = tenant_names(name)
    password = secrets.token_urlsafe(32)
    labels = names.labels()
    admin = clients["kafka"]

    async def do_kubernetes() -> None:
        await kube.apply(
            Namespace(metadata=ObjectMeta(name=names.namespace, labels=labels)), force=True
        )
        await kube.apply(
            Secret(
                metadata=ObjectMeta(
                    name=names.credentials_secret, namespace=names.namespace, labels=labels
                ),
                stringData={
                    "redisPassword": password,
                    "kafkaPassword": password,
                    "mongodbPassword": password,
                },
            ),
            force=True,
        )

    async def do_mongo(stored: Awaitable[None]) -> None:
        await mongo.ensure_database(
            clients["mongo"], database=names.database, collections=TENANT_COLLECTIONS
        )
        await stored  # the tenant's MongoDB user, as the operator makes it (readWrite, owned)
        await mongo.ensure_user(
            clients["mongo"], database=names.database, username=names.mongo_user,
            password=password, set_password=True, marker={"tenant": name},
        )  # fmt: skip

    async def do_topic() -> None:
        topic = TopicSpec(
            name=names.topic("events"),
            partitions=1,
            replication_factor=1,
            config=topic_config(retention_ms=RETENTION_MS),
        )
        await kafka.ensure_topics(admin, [topic])

    async def do_principal(stored: Awaitable[None]) -> None:
        await stored
        await asyncio.gather(
            kafka.upsert_scram_user(admin, names.kafka_user, password=password),
            kafka.create_acls(
                admin, tenant_acls(username=names.kafka_user, prefix=names.topic_prefix)
            ),
        )

    async def do_redis(stored: Awaitable[None]) -> None:
        await stored
        spec = AclUserSpec(
            name=names.redis_user,
            key_pattern=names.redis_key_pattern,
            channel_pattern=names.redis_channel_pattern,
        )
        await redis.ensure_acl_user(clients["redis"], spec, password=password)

    secret = asyncio.ensure_future(do_kubernetes())
    await asyncio.gather(
        secret,
        do_mongo(asyncio.shield(secret)),
        do_topic(),
        do_principal(asyncio.shield(secret)),
        do_redis(asyncio.shield(secret)),
    )


async def raw_cleanup(clients: dict[str, Any], kube: AsyncClient, names_: list[str]) -> None:
    for name in names_:
        names = tenant_names(name)
        await redis.delete_acl_user(clients["redis"], name=names.redis_user)
        await kafka.delete_principal_acls(clients["kafka"], principal_of(names.kafka_user))
        await kafka.delete_scram_user(clients["kafka"], names.kafka_user)
        await kafka.delete_topics(clients["kafka"], [names.topic("events")])
        await mongo.drop_user(clients["mongo"], database=names.database, username=names.mongo_user)
        await mongo.drop_database(clients["mongo"], database=names.database)
        with contextlib.suppress(ApiError):
            await kube.delete(Namespace, names.namespace)


async def run_raw(n: int, kube: AsyncClient, clients: dict[str, Any]) -> float:
    names_ = [f"bench-raw-{RUN}-{n}-{i}-{uuid.uuid4().hex[:4]}" for i in range(n)]
    started = time.perf_counter()
    try:
        # As many tenants at once as the operator reconciles at once (beyond that, Kafka's
        # controller, which commits one metadata write at a time, only queues them).
        await _bounded(
            [lambda name=name: raw_provision(clients, kube, name) for name in names_],  # type: ignore[misc]
            limit=CONCURRENCY,
        )
        return time.perf_counter() - started
    finally:
        await raw_cleanup(clients, kube, names_)


# --- operator ------------------------------------------------------------------------------------


def _ready(obj: Any) -> bool:
    status = obj.get("status") or {}
    generation = obj["metadata"].get("generation")
    return any(
        c.get("type") == "Ready"
        and c.get("status") == "True"
        and c.get("observedGeneration") == generation
        for c in status.get("conditions") or []
    )


async def wait_all(
    kube: AsyncClient, label: str, n: int, *, done: Callable[[Any], bool], within: float
) -> None:
    deadline = time.monotonic() + within
    # A fine poll for one tenant (its whole run is ~0.1 s); coarser for many.
    interval = 0.01 if n == 1 else 0.1
    while time.monotonic() < deadline:
        found = [t async for t in kube.list(Tenant, labels={"bench": label})]
        items = [t.to_dict() for t in found]  # type: ignore[no-untyped-call]
        if len(items) == n and all(done(i) for i in items):
            return
        await asyncio.sleep(interval)
    raise TimeoutError(f"{n} tenants ({label}) not Ready within {within}s")


async def create_tenants(kube: AsyncClient, label: str, names_: list[str]) -> None:
    await _bounded(
        [
            lambda name=name: kube.create(  # type: ignore[misc]
                Tenant(
                    metadata=ObjectMeta(name=name, labels={"bench": label}),
                    spec={"kafka": {"topics": [TOPIC]}, "deletionPolicy": "Delete"},
                )
            )
            for name in names_
        ]
    )


async def run_operator(n: int, kube: AsyncClient, *, within: float = 600) -> float:
    label = f"{RUN}-{n}-{uuid.uuid4().hex[:4]}"
    names_ = [f"bench-op-{label}-{i}" for i in range(n)]
    started = time.perf_counter()
    try:
        await create_tenants(kube, label, names_)
        await wait_all(kube, label, n, done=_ready, within=within)
        return time.perf_counter() - started
    finally:
        deleting = time.perf_counter()
        await delete_tenants(kube, label, names_)
        if n > 1:
            print(f"{n} tenants deleted in {time.perf_counter() - deleting:.1f} s", flush=True)


async def delete_tenants(kube: AsyncClient, label: str, names_: list[str]) -> None:
    async def delete(name: str) -> None:
        with contextlib.suppress(ApiError):  # never created, or already gone
            await kube.delete(Tenant, name)

    await _bounded([lambda name=name: delete(name) for name in names_])  # type: ignore[misc]
    deadline = time.monotonic() + 900
    while time.monotonic() < deadline:
        left = [t async for t in kube.list(Tenant, labels={"bench": label})]
        if not left:
            return
        await asyncio.sleep(0.5)
    raise TimeoutError(f"tenants {label} not deleted")


async def _bounded(calls: list[Callable[[], Awaitable[Any]]], limit: int = 50) -> None:
    slots = asyncio.Semaphore(limit)

    async def one(call: Callable[[], Awaitable[Any]]) -> None:
        async with slots:
            await call()

    await asyncio.gather(*(one(c) for c in calls))


# --- main ----------------------------------------------------------------------------------------


async def main(sizes: list[int], repeats: int, memory_tenants: int, operator: Operator) -> None:
    kube = AsyncClient(config=KubeConfig.from_file(ENV["KUBECONFIG"]), field_manager="bench")
    clients: dict[str, Any] = {
        "mongo": mongo.connect(ENV["MONGODB_URI"]),
        "kafka": kafka.connect(ENV["KAFKA_BOOTSTRAP_SERVERS"]),
        "redis": redis.connect(ENV["REDIS_URL"]),
    }
    rows: list[tuple[str, str]] = []
    operator.start()
    for n in sizes:
        runs = repeats if n == 1 else 1
        raw = [await run_raw(n, kube, clients) for _ in range(runs)]
        op = [await run_operator(n, kube) for _ in range(runs)]
        raw_s, op_s = statistics.median(raw), statistics.median(op)
        note = f" (median of {runs})" if runs > 1 else ""
        rows.append((f"{n} tenant(s), raw provisioning calls{note}", f"{raw_s:.2f} s"))
        rows.append(
            (
                f"{n} tenant(s), operator apply -> Ready{note}",
                f"{op_s:.2f} s ({op_s / raw_s:.2f}x raw)",
            )
        )
        print(rows[-2], rows[-1], flush=True)
    if memory_tenants:
        operator.stop()
        operator.start()
        idle, _ = operator.rss_mib()
        label = f"{RUN}-mem"
        names_ = [f"bench-mem-{RUN}-{i}" for i in range(memory_tenants)]
        started = time.perf_counter()
        try:
            await create_tenants(kube, label, names_)
            await wait_all(kube, label, memory_tenants, done=_ready, within=1800)
            elapsed = time.perf_counter() - started
            await asyncio.sleep(10)  # a quiet moment before reading the memory
            rss, peak = operator.rss_mib()
            rows.append((f"{memory_tenants} tenants apply -> all Ready", f"{elapsed:.0f} s"))
            rows.append(("operator RSS idle (0 tenants)", f"{idle:.0f} MiB"))
            rows.append(
                (
                    f"operator RSS with {memory_tenants} tenants Ready",
                    f"{rss:.0f} MiB (peak {peak:.0f} MiB)",
                )
            )
            print(rows[-3:], flush=True)
        finally:
            started = time.perf_counter()
            await delete_tenants(kube, label, names_)
        rows.append(
            (
                f"{memory_tenants} tenants deleted (Delete policy)",
                f"{time.perf_counter() - started:.0f} s",
            )
        )
    await clients["mongo"].close()
    await clients["redis"].aclose()
    print("\n| measure | value |\n|---|---|")
    for measure, value in rows:
        print(f"| {measure} | {value} |")


def _exit_on_sigterm(*_: object) -> None:
    raise SystemExit(143)  # runs the clean-up in `finally` blocks


def cli() -> None:
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1,100", help="tenant counts to time (default 1,100)")
    parser.add_argument("--repeats", type=int, default=5, help="runs of the 1-tenant case")
    parser.add_argument("--memory-tenants", type=int, default=1000, help="0 skips the memory run")
    args = parser.parse_args()
    conf = StackConfig.from_env()
    platform_operator = Process("caas-operator", conf.run_dir)
    was_running = platform_operator.stop()
    operator = Operator(Path(os.environ.get("TMPDIR", "/tmp")) / f"bench-operator-{RUN}.log")
    try:
        asyncio.run(
            main(
                [int(s) for s in args.sizes.split(",") if s],
                args.repeats,
                args.memory_tenants,
                operator,
            )
        )
    finally:
        operator.stop()
        if was_running:
            subprocess.run([sys.executable, "-m", "caasctl", "up"], env=ENV, check=False)
        print(f"operator log: {operator.log}")


if __name__ == "__main__":
    cli()
