"""Bring the stack up, down, and report on it; `up` is idempotent and all-or-nothing."""

from __future__ import annotations

import shlex
import shutil
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from caasctl.stack.components import BY_NAME, COMPONENTS, Component, env_vars
from caasctl.stack.config import StackConfig
from caasctl.stack.install import install_all
from caasctl.stack.processes import Process, port_holder, port_in_use
from caasctl.stack.steps import StepError, elapsed, say, step

POLL_SECONDS = 0.25


@dataclass(frozen=True)
class ComponentStatus:
    """One line of `stack status`."""

    name: str
    pid: int | None
    problem: str | None

    @property
    def ready(self) -> bool:
        return self.pid is not None and self.problem is None


def process(conf: StackConfig, component: Component) -> Process:
    """The pid-file handle of a component."""
    return Process(component.name, conf.run_dir)


def log_path(conf: StackConfig, component: Component) -> Path:
    """Where a component's output goes."""
    return conf.logs_dir / f"{component.name}.log"


def _check_ports(conf: StackConfig, components: Iterable[Component]) -> None:
    """Refuse to start anything when one of the ports we need is taken by someone else."""
    taken = [
        f"port {port} ({component.name} {label}) is in use by {port_holder(port)}"
        for component in components
        for label, port in component.ports(conf).items()
        if port_in_use(port)
    ]
    if taken:
        raise StepError(
            "check ports",
            "; ".join(taken)
            + ". Stop that process or choose other ports with CAAS_STACK_PORT_<NAME>=...",
        )


def _wait_ready(conf: StackConfig, component: Component) -> None:
    started = time.monotonic()
    handle = process(conf, component)
    problem: str | None = "not probed"
    while time.monotonic() - started < component.ready_timeout:
        if handle.pid() is None:
            raise StepError(
                f"start {component.name}",
                "the process exited during start-up",
                command=component.argv(conf),
                log=log_path(conf, component),
            )
        problem = component.probe(conf)
        if problem is None:
            say(f"    {component.name} ready after {elapsed(started)}")
            return
        time.sleep(POLL_SECONDS)
    raise StepError(
        f"start {component.name}",
        f"not ready after {component.ready_timeout:.0f}s: {problem}",
        command=component.argv(conf),
        log=log_path(conf, component),
    )


def _start(conf: StackConfig, component: Component) -> None:
    component.prepare(conf)
    argv = component.argv(conf)
    try:
        process(conf, component).start(argv, log=log_path(conf, component))
    except OSError as exc:
        raise StepError(f"start {component.name}", str(exc), command=argv) from exc


def up(conf: StackConfig) -> None:
    """Install what is missing, start what is not running, wait until everything is ready."""
    install_all(conf)
    for directory in (conf.home, conf.logs_dir, conf.run_dir, conf.data_dir):
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    stopped = [c for c in COMPONENTS if process(conf, c).pid() is None]
    _check_ports(conf, stopped)
    started: list[Component] = []
    pending = list(COMPONENTS)
    ready: set[str] = set()
    with step(f"starting the stack ({len(stopped)} of {len(COMPONENTS)} servers to start)"):
        try:
            while pending:
                wave = [c for c in pending if all(dep in ready for dep in c.after)]
                for component in wave:
                    if component in stopped:
                        _start(conf, component)
                        started.append(component)
                with ThreadPoolExecutor(max_workers=len(wave)) as pool:
                    list(pool.map(lambda c: _wait_ready(conf, c), wave))
                for component in wave:
                    if component.configure is not None:
                        component.configure(conf)
                ready.update(c.name for c in wave)
                pending = [c for c in pending if c not in wave]
        except BaseException:
            # All or nothing: a failed `up` leaves no half-started stack behind.
            for component in reversed(started):
                process(conf, component).stop()
            raise
    write_env_file(conf)


def write_env_file(conf: StackConfig) -> None:
    """Write the shell-sourceable env file (it holds a password: owner-only)."""
    conf.env_file.touch(mode=0o600, exist_ok=True)
    conf.env_file.write_text(render_env(conf))


def render_env(conf: StackConfig) -> str:
    """`export NAME=value` lines for every connection setting."""
    return "".join(f"export {k}={shlex.quote(v)}\n" for k, v in env_vars(conf).items())


def down(conf: StackConfig, *, purge: bool = False) -> list[str]:
    """Stop every server (dependents first); with `purge`, delete all state. Safe to repeat."""
    stopped = [c.name for c in reversed(COMPONENTS) if process(conf, c).stop()]
    if purge and conf.home.exists():
        shutil.rmtree(conf.home)
    return stopped


def status(conf: StackConfig) -> list[ComponentStatus]:
    """Each server's pid and, when it is not ready, why."""
    rows = []
    for component in COMPONENTS:
        pid = process(conf, component).pid()
        problem = "not running" if pid is None else component.probe(conf)
        rows.append(ComponentStatus(component.name, pid, problem))
    return rows


def component(name: str) -> Component:
    """Look a component up by name, with the valid names in the error."""
    try:
        return BY_NAME[name]
    except KeyError:
        raise StepError(
            "logs", f"unknown component {name!r}; one of {', '.join(BY_NAME)}"
        ) from None
