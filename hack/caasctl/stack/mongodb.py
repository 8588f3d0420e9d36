"""The stack's MongoDB: SecantusDB (a single-node MongoDB-compatible server on WiredTiger) with
authentication on, durable commits, and one least-privilege user per platform process.

Why SecantusDB and not FerretDB: docs/local-stack.md (measured fidelity and speed). The platform
only speaks standard MongoDB 7.0+, so the users and roles made here are the ones a real `mongod`
or Atlas deployment needs too (docs/mongodb-users.md; the kind path creates the same ones).

The administrator is made right after the first start through MongoDB's localhost exception (a
server with `--auth` and no user yet lets a loopback client create the first one); the platform's
roles and users are then kept in step with platform-users.json and the generated passwords on
every `up`, so a changed role or a lost platform password file is repaired. The administrator's
password file is the one to keep: without it only `caasctl stack down --purge` starts afresh.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

from caasctl.stack import probes
from caasctl.stack.config import HACK_DIR, StackConfig
from caasctl.stack.secrets import generated_secret
from caasctl.stack.steps import StepError

# The platform's MongoDB roles and users, shared with the kind path (hack/kind/up.sh).
USERS_FILE = HACK_DIR / "stack" / "mongodb" / "platform-users.json"
ADMIN_USER = "caas-admin"
UNAUTHORIZED = 13


def platform_users() -> dict[str, Any]:
    """Roles and users of the platform's processes (what each may touch, nothing more)."""
    loaded: dict[str, Any] = json.loads(USERS_FILE.read_text())
    return loaded


def _password(conf: StackConfig, user: str) -> str:
    return generated_secret(conf, f"mongodb-{user}-password", nbytes=24)


def uri(conf: StackConfig, user: str) -> str:
    """A connection string for one of the stack's MongoDB users (all live in `admin`)."""
    return (
        f"mongodb://{quote_plus(user)}:{quote_plus(_password(conf, user))}"
        f"@127.0.0.1:{conf.ports.mongo}/?authSource=admin"
    )


def env_vars(conf: StackConfig) -> dict[str, str]:
    """MONGODB_URI is the stack's administrator (tests and tools); each platform process gets
    its own least-privilege user's URI in CAAS_<PROCESS>_MONGODB_URI."""
    env = {"MONGODB_URI": uri(conf, ADMIN_USER)}
    for user in platform_users()["users"]:
        env[user["env"]] = uri(conf, user["name"])
    return env


def data_dir(conf: StackConfig) -> Path:
    return conf.data_dir / "mongodb"


def argv(conf: StackConfig) -> list[str]:
    return [
        str(conf.binary("secantusd-rs")),
        "--host=127.0.0.1",
        f"--port={conf.ports.mongo}",
        f"--storage-path={data_dir(conf)}",
        # Authentication on, as in production: every process proves who it is.
        "--auth",
        # An acknowledged write survives kill -9 (mongod's j:true); without it the log is
        # flushed in the background and ~25 ms of acknowledged writes can be lost.
        "--sync-on-commit",
        # A log file is allocated in full: 16 MB keeps an empty store at ~17 MB, not ~130 MB.
        "--log-file-max=16MB",
        "--cache-size=256M",
        "--log-level=WARNING",
    ]


def prepare(conf: StackConfig) -> None:
    data_dir(conf).mkdir(parents=True, exist_ok=True, mode=0o700)


def probe(conf: StackConfig) -> str | None:
    """Ready when an unauthenticated `ping` answers (allowed before any user exists)."""
    return probes.mongo_ping(f"mongodb://127.0.0.1:{conf.ports.mongo}/")


def configure(conf: StackConfig) -> None:
    """Create the administrator (first start) and make the platform's roles and users match
    hack/stack/mongodb/platform-users.json; idempotent."""
    from pymongo import MongoClient  # noqa: PLC0415 — heavy import, only when configuring
    from pymongo.errors import PyMongoError  # noqa: PLC0415

    _create_first_admin(conf)
    client: MongoClient[dict[str, Any]] = MongoClient(
        uri(conf, ADMIN_USER), serverSelectionTimeoutMS=5000
    )
    try:
        _ensure_platform_users(client, conf)
    except PyMongoError as exc:
        raise StepError(
            "configure mongodb users",
            f"{exc} — is {ADMIN_USER}'s password in {conf.home / 'secrets'} still the server's? "
            "(`caasctl stack down --purge` starts afresh)",
        ) from exc
    finally:
        client.close()


def _create_first_admin(conf: StackConfig) -> None:
    """Through the localhost exception, which only a server with no user at all grants; once
    any user exists the server answers Unauthorized, and there is nothing to do."""
    from pymongo import MongoClient  # noqa: PLC0415
    from pymongo.errors import OperationFailure  # noqa: PLC0415

    anonymous: MongoClient[dict[str, Any]] = MongoClient(
        f"mongodb://127.0.0.1:{conf.ports.mongo}/", serverSelectionTimeoutMS=5000
    )
    try:
        anonymous.admin.command(
            "createUser", ADMIN_USER, pwd=_password(conf, ADMIN_USER), roles=["root"]
        )
    except OperationFailure as exc:
        if exc.code != UNAUTHORIZED:
            raise StepError("configure mongodb users", str(exc)) from exc
    finally:
        anonymous.close()


def _ensure_platform_users(client: Any, conf: StackConfig) -> None:
    spec = platform_users()
    admin = client.admin
    for role in spec["roles"]:
        found = admin.command({"rolesInfo": role["role"]})["roles"]
        command = "updateRole" if found else "createRole"
        admin.command(command, role["role"], privileges=role["privileges"], roles=role["roles"])
    for user in spec["users"]:
        found = admin.command({"usersInfo": user["name"]})["users"]
        command = "updateUser" if found else "createUser"
        admin.command(command, user["name"], pwd=_password(conf, user["name"]), roles=user["roles"])
