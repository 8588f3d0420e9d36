"""The whole platform on the local stack: CRDs, operator, control plane and a sample tenant."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from caasctl.stack import lifecycle, probes
from caasctl.stack.components import env_vars
from caasctl.stack.config import REPO_ROOT, StackConfig
from caasctl.stack.processes import Process, port_holder, port_in_use
from caasctl.stack.secrets import generated_secret
from caasctl.stack.steps import StepError, elapsed, say, step

CRDS_DIR = REPO_ROOT / "crds"
SAMPLES_DIR = REPO_ROOT / "manifests" / "samples"
SAMPLE_TENANT = "acme"
API_PORT = int(os.environ.get("CAAS_API_PORT", "3000"))
VERIFIER_PORT = int(os.environ.get("CAAS_AUDIT_VERIFIER_PORT", "9464"))
READY_TIMEOUT = 120.0


@dataclass(frozen=True)
class Service:
    """A platform process (not a backend server): started from this virtualenv's Python."""

    name: str
    module: str
    probe: Callable[[StackConfig], str | None]
    mongodb_user_env: str  # the stack env var holding this process's own MongoDB user's URI
    port: int | None = None


DISPATCHER_PORT = int(os.environ.get("CAAS_DISPATCHER_PORT", "9465"))


def _api_ready(_: StackConfig) -> str | None:
    return probes.http_ok(f"http://127.0.0.1:{API_PORT}/internal/ready")


def _dispatcher_ready(_: StackConfig) -> str | None:
    return probes.http_ok(f"http://127.0.0.1:{DISPATCHER_PORT}/healthz")


def _verifier_ready(_: StackConfig) -> str | None:
    # /healthz answers 200 once its first pass over every audit log has ended.
    return probes.http_ok(f"http://127.0.0.1:{VERIFIER_PORT}/healthz")


SERVICES = (
    # The operator proves itself by reconciling the sample tenant to Ready (waited for below).
    Service(
        "caas-operator",
        "caas_operator",
        probe=lambda _: None,
        mongodb_user_env="CAAS_OPERATOR_MONGODB_URI",
    ),
    Service(
        "caas-api",
        "caas_control_plane",
        probe=_api_ready,
        mongodb_user_env="CAAS_API_MONGODB_URI",
        port=API_PORT,
    ),
    # The webhook dispatcher (gateway-webhooks): a control-plane process with the API's user.
    Service(
        "caas-dispatcher",
        "caas_control_plane.dispatcher",
        probe=_dispatcher_ready,
        mongodb_user_env="CAAS_API_MONGODB_URI",
        port=DISPATCHER_PORT,
    ),
    # The audit verifier (issue 11): a control-plane worker with the API's MongoDB user and
    # secret, hence the same checkpoint key.
    Service(
        "caas-audit-verifier",
        "caas_control_plane.audit_verifier",
        probe=_verifier_ready,
        mongodb_user_env="CAAS_API_MONGODB_URI",
        port=VERIFIER_PORT,
    ),
)


def service_env(conf: StackConfig, service: Service | None = None) -> dict[str, str]:
    """Environment of the platform's processes: the stack's settings plus development defaults;
    a service connects to MongoDB as its own least-privilege user, kubectl as the admin."""
    stack = env_vars(conf)
    mongodb = {"MONGODB_URI": stack[service.mongodb_user_env]} if service else {}
    return {
        **os.environ,
        **stack,
        **mongodb,
        "CAAS_ENV": "development",
        "CAAS_SECRET_KEY": generated_secret(conf, "api-secret-key", nbytes=48),
        "CAAS_API_PORT": str(API_PORT),
        "CAAS_AUDIT_VERIFIER_PORT": str(VERIFIER_PORT),
    }


def kubectl(conf: StackConfig, *args: str, step_name: str) -> str:
    """Run the stack's kubectl as admin; failures name the step and show kubectl's message."""
    command = [str(conf.binary("kubectl")), *args]
    result = subprocess.run(
        command, capture_output=True, text=True, env=service_env(conf), check=False
    )
    if result.returncode != 0:
        raise StepError(step_name, result.stderr.strip() or result.stdout.strip(), command=command)
    return result.stdout


def _start_service(conf: StackConfig, service: Service) -> None:
    handle = Process(service.name, conf.run_dir)
    if handle.pid() is not None:
        return
    if service.port is not None and port_in_use(service.port):
        raise StepError(
            f"start {service.name}",
            f"port {service.port} is in use by {port_holder(service.port)}",
        )
    argv: Sequence[str] = [sys.executable, "-m", service.module]
    log = conf.logs_dir / f"{service.name}.log"
    handle.start(argv, log=log, env=service_env(conf, service))
    started = time.monotonic()
    while (problem := service.probe(conf)) is not None:
        if handle.pid() is None or time.monotonic() - started > READY_TIMEOUT:
            handle.stop()
            cause = "exited during start-up" if handle.pid() is None else f"not ready: {problem}"
            raise StepError(f"start {service.name}", cause, command=argv, log=log)
        time.sleep(0.25)
    say(f"    {service.name} running after {elapsed(started)} (log: {log})")


def _wait_until_served(conf: StackConfig) -> None:
    """Established is not enough: a new CRD's storage answers 'storage is (re)initializing'
    for a moment after it, so list every kind until the apiserver serves them all."""
    kinds = ",".join(sorted(path.name.removesuffix(".yaml") for path in CRDS_DIR.glob("*.yaml")))
    deadline = time.monotonic() + READY_TIMEOUT
    while True:
        try:
            kubectl(conf, "get", kinds, "--all-namespaces", step_name="list the new kinds")
        except StepError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)
        else:
            return


def up(conf: StackConfig) -> None:
    """Stack up, CRDs applied, operator and API started, sample tenant reconciled to Ready."""
    lifecycle.up(conf)
    with step("installing the platform's CRDs"):
        kubectl(conf, "apply", "--server-side", "-f", str(CRDS_DIR), step_name="apply CRDs")
        kubectl(
            conf, "wait", "--for=condition=Established", "--timeout=60s", "-f", str(CRDS_DIR),
            step_name="wait for CRDs",
        )  # fmt: skip
        _wait_until_served(conf)
    with step("starting the operator and the control plane's processes"):
        for service in SERVICES:
            _start_service(conf, service)
    with step(f"applying the sample tenant '{SAMPLE_TENANT}' and waiting until it is Ready"):
        kubectl(conf, "apply", "-f", str(SAMPLES_DIR), step_name="apply samples")
        kubectl(
            conf, "wait", f"tenant/{SAMPLE_TENANT}", "--for=condition=Ready",
            f"--timeout={READY_TIMEOUT:.0f}s", step_name="wait for the sample tenant",
        )  # fmt: skip


def summary(conf: StackConfig) -> str:
    """What to look at once the platform is up."""
    return f"""
The CAAS platform is running.

  source {conf.env_file}          # KUBECONFIG, MONGODB_URI, KAFKA_BOOTSTRAP_SERVERS, REDIS_URL
  export PATH={conf.bin_dir}:$PATH
  kubectl get tenants                   # the sample tenant '{SAMPLE_TENANT}', Ready
  kubectl describe tenant {SAMPLE_TENANT}
  curl -f http://127.0.0.1:{API_PORT}/internal/ready
  open http://127.0.0.1:{API_PORT}/documentation   # Swagger UI
  curl -s http://127.0.0.1:{VERIFIER_PORT}/metrics | grep caas_audit   # the audit verifier
  curl -s http://127.0.0.1:{DISPATCHER_PORT}/metrics | grep caas_webhook   # the webhook dispatcher

Logs: caasctl stack logs   (operator, API and workers: {conf.logs_dir}/caas-*.log)
Stop: make down   (data kept; `caasctl stack down --purge` deletes it)
"""


def down(conf: StackConfig) -> list[str]:
    """Stop the platform's processes, then the stack."""
    stopped = [s.name for s in reversed(SERVICES) if Process(s.name, conf.run_dir).stop()]
    return stopped + lifecycle.down(conf)


def running(conf: StackConfig) -> dict[str, int | None]:
    """Pid of each platform process (None when stopped)."""
    return {s.name: Process(s.name, conf.run_dir).pid() for s in SERVICES}
