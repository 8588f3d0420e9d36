"""What each server of the stack is: how to prepare its data, start it and know it is ready."""

from __future__ import annotations

import base64
import secrets
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from caasctl.stack import mongodb, probes
from caasctl.stack.config import HACK_DIR, StackConfig
from caasctl.stack.pki import Pki, ensure_pki
from caasctl.stack.secrets import generated_secret
from caasctl.stack.steps import StepError

SERVICE_CLUSTER_IP_RANGE = "10.0.0.0/24"
KAFKA_TEMPLATE = HACK_DIR / "stack" / "kafka" / "server.properties.in"
KAFKA_LOG4J = HACK_DIR / "stack" / "kafka" / "log4j2.properties"


@dataclass(frozen=True)
class Component:
    """One server: ports it binds, servers it needs first, and its lifecycle hooks."""

    name: str
    ports: Callable[[StackConfig], dict[str, int]]
    prepare: Callable[[StackConfig], None]
    argv: Callable[[StackConfig], list[str]]
    probe: Callable[[StackConfig], str | None]
    after: tuple[str, ...] = ()
    ready_timeout: float = 90.0
    # Run once the server is ready, on every `up` (idempotent): e.g. MongoDB's users.
    configure: Callable[[StackConfig], None] | None = None


def redis_password(conf: StackConfig) -> str:
    """The Redis admin (default user) password."""
    return generated_secret(conf, "redis-password")


def env_vars(conf: StackConfig) -> dict[str, str]:
    """Connection settings for the platform's processes and tests (the stack's env file)."""
    p = conf.ports
    return {
        "CAAS_STACK_HOME": str(conf.home),
        "KUBECONFIG": str(conf.kubeconfig),
        **mongodb.env_vars(conf),
        "KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{p.kafka}",
        # Where tenants' SCRAM principals connect; the authorizer enforces their ACLs there.
        "KAFKA_SASL_BOOTSTRAP_SERVERS": f"127.0.0.1:{p.kafka_sasl}",
        "REDIS_URL": f"redis://default:{redis_password(conf)}@127.0.0.1:{p.redis}/0",
    }


def _pki(conf: StackConfig) -> Pki:
    return ensure_pki(conf.pki_dir)


# --- etcd ---------------------------------------------------------------------------------


def _etcd_argv(conf: StackConfig) -> list[str]:
    p = conf.ports
    client, peer = f"http://127.0.0.1:{p.etcd_client}", f"http://127.0.0.1:{p.etcd_peer}"
    return [
        str(conf.binary("etcd")),
        "--name=caas",
        f"--data-dir={conf.data_dir / 'etcd'}",
        f"--listen-client-urls={client}",
        f"--advertise-client-urls={client}",
        f"--listen-peer-urls={peer}",
        f"--initial-advertise-peer-urls={peer}",
        f"--initial-cluster=caas={peer}",
        "--log-level=warn",
        # A throwaway development store: durability across power loss is not worth the fsyncs.
        "--unsafe-no-fsync",
    ]


ETCD = Component(
    name="etcd",
    ports=lambda c: {"client": c.ports.etcd_client, "peer": c.ports.etcd_peer},
    prepare=lambda c: (c.data_dir / "etcd").mkdir(parents=True, exist_ok=True, mode=0o700),
    argv=_etcd_argv,
    probe=lambda c: probes.http_ok(f"http://127.0.0.1:{c.ports.etcd_client}/readyz"),
)


# --- kube-apiserver ----------------------------------------------------------------------------


def _write_kubeconfig(conf: StackConfig, path: Path, cert: str, key: str) -> None:
    pki = _pki(conf)

    def b64(name: str) -> str:
        return base64.b64encode(pki.path(name).read_bytes()).decode()

    text = f"""apiVersion: v1
kind: Config
clusters:
- name: caas-local
  cluster:
    server: https://127.0.0.1:{conf.ports.apiserver}
    certificate-authority-data: {b64("ca.crt")}
users:
- name: caas-admin
  user:
    client-certificate-data: {b64(cert)}
    client-key-data: {b64(key)}
contexts:
- name: caas-local
  context: {{cluster: caas-local, user: caas-admin}}
current-context: caas-local
"""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600, exist_ok=True)
    path.write_text(text)


def _apiserver_prepare(conf: StackConfig) -> None:
    _pki(conf)
    _write_kubeconfig(conf, conf.kubeconfig, "admin.crt", "admin.key")


def _apiserver_argv(conf: StackConfig) -> list[str]:
    pki = _pki(conf)
    return [
        str(conf.binary("kube-apiserver")),
        f"--etcd-servers=http://127.0.0.1:{conf.ports.etcd_client}",
        "--bind-address=127.0.0.1",
        "--advertise-address=127.0.0.1",
        f"--secure-port={conf.ports.apiserver}",
        f"--tls-cert-file={pki.path('apiserver.crt')}",
        f"--tls-private-key-file={pki.path('apiserver.key')}",
        f"--client-ca-file={pki.path('ca.crt')}",
        f"--service-account-key-file={pki.path('sa.pub')}",
        f"--service-account-signing-key-file={pki.path('sa.key')}",
        "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
        # Real RBAC, so the Helm chart's roles are exercised rather than bypassed.
        "--authorization-mode=RBAC",
        f"--service-cluster-ip-range={SERVICE_CLUSTER_IP_RANGE}",
        "--allow-privileged=true",
        "--profiling=false",
        "--v=1",
    ]


APISERVER = Component(
    name="kube-apiserver",
    ports=lambda c: {"https": c.ports.apiserver},
    prepare=_apiserver_prepare,
    argv=_apiserver_argv,
    probe=lambda c: probes.http_ok(
        f"https://127.0.0.1:{c.ports.apiserver}/readyz", context=probes.admin_tls(_pki(c))
    ),
    after=("etcd",),
)


# --- kube-controller-manager -------------------------------------------------------------------


def _kcm_kubeconfig(conf: StackConfig) -> Path:
    return conf.home / "controller-manager.kubeconfig"


def _kcm_argv(conf: StackConfig) -> list[str]:
    pki = _pki(conf)
    return [
        str(conf.binary("kube-controller-manager")),
        f"--kubeconfig={_kcm_kubeconfig(conf)}",
        "--leader-elect=false",
        "--use-service-account-credentials=false",
        f"--service-account-private-key-file={pki.path('sa.key')}",
        f"--root-ca-file={pki.path('ca.crt')}",
        f"--service-cluster-ip-range={SERVICE_CLUSTER_IP_RANGE}",
        "--bind-address=127.0.0.1",
        f"--secure-port={conf.ports.controller_manager}",
        f"--authentication-kubeconfig={_kcm_kubeconfig(conf)}",
        f"--authorization-kubeconfig={_kcm_kubeconfig(conf)}",
        "--v=1",
    ]


CONTROLLER_MANAGER = Component(
    name="kube-controller-manager",
    ports=lambda c: {"https": c.ports.controller_manager},
    prepare=lambda c: _write_kubeconfig(c, _kcm_kubeconfig(c), "admin.crt", "admin.key"),
    argv=_kcm_argv,
    probe=lambda c: probes.default_service_account(_pki(c), c.ports.apiserver),
    after=("kube-apiserver",),
)


# --- Kafka (KRaft, combined broker + controller) ---------------------------------------------


def _kafka_dir(conf: StackConfig) -> Path:
    return conf.data_dir / "kafka"


def _kafka_prepare(conf: StackConfig) -> None:
    if shutil.which("java") is None:
        raise StepError("prepare kafka", "java is not on PATH; run hack/bootstrap.sh")
    root = _kafka_dir(conf)
    (root / "logs").mkdir(parents=True, exist_ok=True)
    properties = KAFKA_TEMPLATE.read_text().format(
        port=conf.ports.kafka,
        sasl_port=conf.ports.kafka_sasl,
        controller_port=conf.ports.kafka_controller,
        log_dirs=root / "logs",
    )
    (root / "server.properties").write_text(properties)
    command = [
        *_java(conf), "kafka.tools.StorageTool", "format",
        "--cluster-id", kafka_cluster_id(root / "cluster-id"),
        "--config", str(root / "server.properties"),
        "--standalone", "--ignore-formatted",
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        log = conf.logs_dir / "kafka-format.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text(result.stdout + result.stderr)
        raise StepError("format kafka storage", "StorageTool failed", command=command, log=log)


def new_kafka_cluster_id(random_bytes: Callable[[int], bytes] = secrets.token_bytes) -> str:
    """A KRaft cluster id: 16 random bytes in unpadded base64url — never one that starts with
    '-', which the storage tool's argument parser takes for an option (Kafka's own
    Uuid.randomUuid skips those too; 1 id in 64 would make `stack up` fail)."""
    while True:
        cluster_id = base64.urlsafe_b64encode(random_bytes(16)).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


def kafka_cluster_id(path: Path) -> str:
    """The stack's cluster id, made once; one a failed format left behind is replaced."""
    if path.exists() and (kept := path.read_text().strip()) and not kept.startswith("-"):
        return kept
    cluster_id = new_kafka_cluster_id()
    path.write_text(cluster_id)
    return cluster_id


def _java(conf: StackConfig) -> list[str]:
    return [
        "java",
        # The default 1 GiB heap is more than a single-partition development broker needs.
        "-Xmx512m",
        "-Xms128m",
        "-XX:+UseG1GC",
        "-Djava.awt.headless=true",
        f"-Dlog4j2.configurationFile={KAFKA_LOG4J}",
        "-cp",
        f"{conf.kafka_libs}/*",
    ]


KAFKA = Component(
    name="kafka",
    ports=lambda c: {
        "broker": c.ports.kafka,
        "sasl": c.ports.kafka_sasl,
        "controller": c.ports.kafka_controller,
    },
    prepare=_kafka_prepare,
    argv=lambda c: [*_java(c), "kafka.Kafka", str(_kafka_dir(c) / "server.properties")],
    probe=lambda c: probes.kafka_metadata(f"127.0.0.1:{c.ports.kafka}"),
)


# --- MongoDB (SecantusDB, hack/caasctl/stack/mongodb.py) ---------------------------------------

MONGODB = Component(
    name="mongodb",
    ports=lambda c: {"mongodb": c.ports.mongo},
    prepare=mongodb.prepare,
    argv=mongodb.argv,
    probe=mongodb.probe,
    configure=mongodb.configure,
)


# --- Redis -------------------------------------------------------------------------------


def _redis_conf(conf: StackConfig) -> Path:
    return conf.data_dir / "redis" / "redis.conf"


def _redis_prepare(conf: StackConfig) -> None:
    path = _redis_conf(conf)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    # The password lives in a 0600 file rather than on the command line, where `ps` shows it.
    path.touch(mode=0o600, exist_ok=True)
    path.write_text(
        "\n".join(
            [
                "bind 127.0.0.1",
                f"port {conf.ports.redis}",
                "protected-mode yes",
                f"dir {path.parent}",
                'save ""',
                "appendonly no",
                f"requirepass {redis_password(conf)}",
                "",
            ]
        )
    )


REDIS = Component(
    name="redis",
    ports=lambda c: {"redis": c.ports.redis},
    prepare=_redis_prepare,
    argv=lambda c: [shutil.which("redis-server") or "redis-server", str(_redis_conf(c))],
    probe=lambda c: probes.redis_ping(env_vars(c)["REDIS_URL"]),
    ready_timeout=30.0,
)

COMPONENTS: tuple[Component, ...] = (ETCD, REDIS, MONGODB, KAFKA, APISERVER, CONTROLLER_MANAGER)
BY_NAME = {c.name: c for c in COMPONENTS}

__all__ = ["BY_NAME", "COMPONENTS", "Component", "env_vars"]
