"""Command line: `caasctl up|down` (the platform), `caasctl stack ...` (its servers) and
`caasctl audit verify` (an audit export, offline)."""

from __future__ import annotations

import argparse
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from caasctl import audit, platform
from caasctl.stack import lifecycle
from caasctl.stack.components import COMPONENTS
from caasctl.stack.config import StackConfig
from caasctl.stack.install import install_all
from caasctl.stack.steps import StepError, say


def _stack_status(conf: StackConfig) -> int:
    rows = lifecycle.status(conf)
    for row in rows:
        state = "ready" if row.ready else f"NOT READY: {row.problem}"
        pid = f"pid {row.pid}" if row.pid else "-"
        print(f"{row.name:<24} {pid:<12} {state}")
    return 0 if all(r.ready for r in rows) else 1


def _stack_logs(conf: StackConfig, name: str | None, follow: bool) -> int:
    if name is None:
        for component in COMPONENTS:
            print(f"{component.name:<24} {lifecycle.log_path(conf, component)}")
        return 0
    path = lifecycle.log_path(conf, lifecycle.component(name))
    return subprocess.call(["tail", "-n", "200", *(["-F"] if follow else []), str(path)])


def _stack(args: argparse.Namespace, conf: StackConfig) -> int:
    match args.action:
        case "install":
            install_all(conf)
        case "up":
            lifecycle.up(conf)
            say(f"stack ready; connection settings: source {conf.env_file}")
        case "down":
            stopped = lifecycle.down(conf, purge=args.purge)
            say(f"stopped: {', '.join(stopped)}" if stopped else "nothing was running")
        case "status":
            return _stack_status(conf)
        case "env":
            print(lifecycle.render_env(conf), end="")
        case "logs":
            return _stack_logs(conf, args.component, args.follow)
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="caasctl", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser(
        "up", help="stack + CRDs + operator + control plane + sample tenant (the main job)"
    )
    commands.add_parser("down", help="stop the platform's processes and the stack (data kept)")
    stack = commands.add_parser("stack", help="the real local servers (etcd, Kubernetes, Kafka, …)")
    actions = stack.add_subparsers(dest="action", required=True)
    actions.add_parser("install", help="obtain and build the pinned servers into the cache")
    actions.add_parser("up", help="start every server and wait until all are ready (idempotent)")
    down = actions.add_parser("down", help="stop every server (safe to repeat)")
    down.add_argument("--purge", action="store_true", help="also delete all data and certificates")
    actions.add_parser("status", help="show each server's pid and readiness (exit 1 if not ready)")
    actions.add_parser("env", help="print the connection settings as shell exports")
    logs = actions.add_parser("logs", help="list log files, or show one server's log")
    logs.add_argument("component", nargs="?")
    logs.add_argument("-f", "--follow", action="store_true")
    audit_cmd = commands.add_parser("audit", help="the tamper-evident audit log")
    audit_actions = audit_cmd.add_subparsers(dest="action", required=True)
    check = audit_actions.add_parser(
        "verify", help="verify an NDJSON export with the published key (exit 1: first problem)"
    )
    check.add_argument("export", type=Path)
    check.add_argument("--key", required=True, help="verifier key: name+keyid+base64(0x01||key)")
    check.add_argument("--log", help="the log the export must be (e.g. tenant:acme)")
    check.add_argument("--fast", action="store_true", help="hashes and links only (not strict)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:  # noqa: PLR0911 (an exit per command)
    """Entry point of the `caasctl` console script."""
    args = _parser().parse_args(argv)
    if args.command == "audit":
        return audit.verify(export=args.export, key=args.key, log=args.log, fast=args.fast)
    conf = StackConfig.from_env()
    try:
        match args.command:
            case "stack":
                return _stack(args, conf)
            case "up":
                platform.up(conf)
                print(platform.summary(conf))
                return 0
            case "down":
                stopped = platform.down(conf)
                say(f"stopped: {', '.join(stopped)}" if stopped else "nothing was running")
                return 0
    except StepError as exc:
        print(f"caasctl: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 2


if __name__ == "__main__":
    sys.exit(main())
