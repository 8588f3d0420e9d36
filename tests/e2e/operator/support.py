"""Helpers for the operator's e2e tests: the operator as a process, Tenants, and the backends."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis
from confluent_kafka import KafkaException
from confluent_kafka.admin import (
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    AdminClient,
    ConfigResource,
    ResourcePatternType,
    ResourceType,
)
from lightkube import ApiError, Client, KubeConfig
from lightkube.generic_resource import create_global_resource
from lightkube.resources.core_v1 import Event, Namespace, Secret
from lightkube.types import PatchType
from pymongo import MongoClient

from tests.conftest import Stack

Tenant = create_global_resource("platform.caas.io", "v1alpha1", "Tenant", "tenants")
READY_TIMEOUT = 60.0


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def unique(prefix: str) -> str:
    """A tenant name unique to this run (tests share one cluster)."""
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def wait_for(
    check: Callable[[], Any], *, timeout: float = READY_TIMEOUT, interval: float = 0.2, what: str
) -> Any:
    """Poll until `check` returns something truthy; fail naming `what` otherwise."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


@dataclass
class OperatorProcess:
    """One caas-operator process started by a test (never two at once: see conftest)."""

    stack: Stack
    log: Path
    resync_seconds: float = 2.0
    metrics_port: int = field(default_factory=free_port)
    extra_env: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen[bytes] | None = None

    def env(self) -> dict[str, str]:
        """The environment the operator runs with."""
        return {
            **self.stack.operator_env(),
            "CAAS_OPERATOR_RESYNC_SECONDS": str(self.resync_seconds),
            "CAAS_OPERATOR_METRICS_PORT": str(self.metrics_port),
            "CAAS_LOG_FORMAT": "json",
            **self.extra_env,
        }

    def start(self, extra_env: Mapping[str, str] | None = None) -> None:
        """Start it with the default environment plus `extra_env`."""
        assert self.proc is None or self.proc.poll() is not None, "operator already running"
        self.extra_env = dict(extra_env or {})
        with self.log.open("ab") as sink:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "caas_operator"],
                stdin=subprocess.DEVNULL,
                stdout=sink,
                stderr=subprocess.STDOUT,
                env=self.env(),
                start_new_session=True,
            )

    def kill9(self) -> None:
        """SIGKILL, no clean-up: what a node failure or OOM kill does."""
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        """SIGTERM and wait (SIGKILL if it does not exit)."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.kill9()

    def alive(self) -> bool:
        """Whether the process is running."""
        return self.proc is not None and self.proc.poll() is None

    def metrics(self) -> str:
        """The /metrics text."""
        url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as resp:
            text: str = resp.read().decode()
            return text

    def wait_metrics(self) -> str:
        """The /metrics text once the endpoint answers."""

        def fetch() -> str | None:
            try:
                return self.metrics()
            except OSError:
                return None

        text: str = wait_for(fetch, timeout=30, what="the operator's metrics endpoint")
        return text


class Kube:
    """Tenants and their Kubernetes objects through the API (faster than kubectl per call)."""

    def __init__(self, stack: Stack) -> None:
        self.client = Client(config=KubeConfig.from_file(stack.kubeconfig), field_manager="e2e")

    def apply(
        self,
        name: str,
        spec: Mapping[str, Any],
        *,
        annotations: dict[str, str] | None = None,
        labels: dict[str, str] | None = None,
    ) -> None:
        """Create or update the Tenant (server-side apply, like `kubectl apply --server-side`)."""
        body = Tenant(
            metadata={"name": name, "annotations": annotations or {}, "labels": labels or {}},
            spec=dict(spec),
        )
        self.client.apply(body, name=name, force=True)

    def get(self, name: str) -> dict[str, Any] | None:
        """The Tenant as a dict, None when it does not exist."""
        try:
            obj = self.client.get(Tenant, name=name)
        except ApiError as exc:
            if exc.status.code == 404:
                return None
            raise
        return obj.to_dict()  # type: ignore[no-any-return]

    def condition(self, name: str, kind: str) -> dict[str, Any] | None:
        """One condition of the Tenant's status."""
        tenant = self.get(name) or {}
        for condition in (tenant.get("status") or {}).get("conditions") or []:
            if condition["type"] == kind:
                return condition  # type: ignore[no-any-return]
        return None

    def wait_condition(
        self, name: str, kind: str = "Ready", *, status: str = "True", reason: str | None = None,
        timeout: float = READY_TIMEOUT,
    ) -> dict[str, Any]:  # fmt: skip
        """Wait until the condition has the status (and reason), for the current generation."""

        def check() -> dict[str, Any] | None:
            tenant = self.get(name) or {}
            generation = tenant.get("metadata", {}).get("generation")
            found = self.condition(name, kind)
            if (
                found
                and found["status"] == status
                and (reason is None or found["reason"] == reason)
                and found.get("observedGeneration") == generation
            ):
                return found
            return None

        found: dict[str, Any] = wait_for(
            check, timeout=timeout, what=f"{kind}={status} ({reason}) on tenant {name}"
        )
        return found

    def delete(self, name: str) -> None:
        """Start deleting the Tenant."""
        try:
            self.client.delete(Tenant, name=name)
        except ApiError as exc:
            if exc.status.code != 404:
                raise

    def wait_gone(self, name: str, *, timeout: float = READY_TIMEOUT) -> None:
        """Wait until the Tenant is gone (its finalizer ran)."""
        wait_for(lambda: self.get(name) is None, timeout=timeout, what=f"tenant {name} deleted")

    def annotate(self, name: str, key: str, value: str | None) -> None:
        """Set or remove one annotation."""
        self.client.patch(
            Tenant,
            name=name,
            obj={"metadata": {"annotations": {key: value}}},
            patch_type=PatchType.MERGE,
        )

    def patch_spec(self, name: str, spec: Mapping[str, Any]) -> None:
        """Merge-patch the spec."""
        self.client.patch(Tenant, name=name, obj={"spec": dict(spec)}, patch_type=PatchType.MERGE)

    def secret(self, tenant: str) -> dict[str, str] | None:
        """The decoded credentials Secret of the tenant."""
        try:
            secret = self.client.get(
                Secret, name="caas-tenant-credentials", namespace=f"tenant-{tenant}"
            )
        except ApiError as exc:
            if exc.status.code == 404:
                return None
            raise
        return {k: base64.b64decode(v).decode() for k, v in (secret.data or {}).items()}

    def namespace(self, tenant: str) -> Namespace | None:
        """The tenant's namespace."""
        try:
            return self.client.get(Namespace, name=f"tenant-{tenant}")
        except ApiError as exc:
            if exc.status.code == 404:
                return None
            raise

    def events(self, tenant: str) -> list[Event]:
        """Events about the Tenant, the way `kubectl describe` finds them."""
        selector = {
            "involvedObject.kind": "Tenant",
            "involvedObject.name": tenant,
            "involvedObject.namespace": "",
        }
        return list(self.client.list(Event, namespace="*", fields=selector))

    def reasons(self, tenant: str) -> list[str]:
        """Reasons of the Tenant's events, oldest first."""
        return [e.reason or "" for e in sorted(self.events(tenant), key=_event_time)]


def _event_time(event: Event) -> Any:
    return event.lastTimestamp or event.metadata.creationTimestamp  # type: ignore[union-attr]


class Backends:
    """Direct access to MongoDB, Kafka and Redis, to verify what the operator made."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.mongo: MongoClient[dict[str, Any]] = MongoClient(stack.mongodb_uri, tz_aware=True)
        self.kafka = AdminClient({"bootstrap.servers": stack.kafka_bootstrap})
        self.redis = redis.Redis.from_url(stack.redis_url, decode_responses=True)

    def close(self) -> None:
        """Release connections."""
        self.mongo.close()
        self.redis.close()

    # MongoDB
    def collections(self, tenant: str) -> set[str]:
        """Collections of the tenant's database."""
        return set(self.mongo[database(tenant)].list_collection_names())

    def indexes(self, tenant: str, collection: str) -> dict[str, Any]:
        """Index name -> info for a collection of the tenant."""
        info: dict[str, Any] = self.mongo[database(tenant)][collection].index_information()
        return info

    def claims(self, tenant: str) -> list[dict[str, Any]]:
        """The operator's ownership registry entries of the tenant."""
        return list(self.mongo["caas_platform"]["tenant_resources"].find({"tenant": tenant}))

    # Kafka
    def topics(self, prefix: str) -> dict[str, int]:
        """Topic name -> partitions for topics under the prefix."""
        metadata = self.kafka.list_topics(timeout=10)
        return {
            name: len(topic.partitions)
            for name, topic in metadata.topics.items()
            if name.startswith(prefix)
        }

    def topic_config(self, topic: str) -> dict[str, str]:
        """Live topic configuration."""
        resource = ConfigResource(ResourceType.TOPIC, topic)
        entries = self.kafka.describe_configs([resource])[resource].result(timeout=10)
        return {k: v.value for k, v in entries.items()}

    def scram_user_exists(self, user: str) -> bool:
        """Whether the SCRAM user has a credential."""
        future = self.kafka.describe_user_scram_credentials([user])[user]
        try:
            future.result(timeout=10)
        except KafkaException as exc:
            if exc.args[0].name() == "RESOURCE_NOT_FOUND":
                return False
            raise
        return True

    def acls(self, principal: str) -> list[AclBinding]:
        """Every ACL bound to the principal."""
        filt = AclBindingFilter(
            ResourceType.ANY, None, ResourcePatternType.ANY, principal, None,  # type: ignore[arg-type]
            AclOperation.ANY, AclPermissionType.ANY,
        )  # fmt: skip
        result: list[AclBinding] = self.kafka.describe_acls(filt).result(timeout=10)
        return result

    # Redis
    def redis_user(self, user: str) -> dict[str, Any] | None:
        """ACL GETUSER of the user."""
        found: dict[str, Any] | None = self.redis.acl_getuser(user)
        return found


def database(tenant: str) -> str:
    """The tenant's MongoDB database name."""
    return f"tenant_{tenant.replace('-', '_')}"


def index_claims(tenant: str, spec: Mapping[str, Any] | None = None) -> set[tuple[str, str]]:
    """The registry entries of the indexes a Tenant with this spec gets (defaults included)."""
    from caas_core.resources.tenant import MongoSpec  # noqa: PLC0415 - test support only
    from caas_operator.tenant.plan import index_names, tenant_collections  # noqa: PLC0415

    mongo = MongoSpec.model_validate((spec or {}).get("mongo", {}))
    return {("mongo-index", n) for n in index_names(database(tenant), tenant_collections(mongo))}


def manifest(name: str, spec: Mapping[str, Any]) -> str:
    """A Tenant manifest for kubectl."""
    return json.dumps(
        {
            "apiVersion": "platform.caas.io/v1alpha1",
            "kind": "Tenant",
            "metadata": {"name": name},
            "spec": dict(spec),
        }
    )


@contextmanager
def tenants(kube: Kube, *names: str) -> Iterator[tuple[str, ...]]:
    """Delete the tenants afterwards with deletionPolicy Delete, so no data is left behind."""
    try:
        yield names
    finally:
        for name in names:
            if kube.get(name) is not None:
                kube.annotate(name, "platform.caas.io/paused", None)
                kube.patch_spec(name, {"deletionPolicy": "Delete"})
                kube.delete(name)
        for name in names:
            kube.wait_gone(name, timeout=120)


class TcpProxy:
    """A loopback TCP forwarder a test can cut and restore: a backend outage for one client.

    Only the operator goes through it, so the shared backends stay up for everyone else.
    """

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = free_port()
        self._listener: socket.socket | None = None
        self._connections: list[socket.socket] = []
        self._lock = threading.Lock()
        self._accepting: threading.Thread | None = None

    def up(self) -> None:
        """Start accepting and forwarding connections."""
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        self._accepting = threading.Thread(target=self._accept, args=(listener,), daemon=True)
        self._accepting.start()

    def down(self) -> None:
        """Refuse new connections and cut the open ones."""
        listener, self._listener = self._listener, None
        if listener is not None:
            # shutdown() wakes the thread blocked in accept(); close() alone would not.
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        with self._lock:
            connections, self._connections = self._connections, []
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
            conn.close()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=5)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._connections += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for conn in (source, sink):
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)
