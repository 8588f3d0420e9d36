"""MongoDB: client factory, idempotent database provisioning, and a ping probe."""

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

import pymongo
from pymongo import AsyncMongoClient, IndexModel
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import CollectionInvalid, OperationFailure

from caas_core.adapters.probe import timed_probe
from caas_core.domain.collections import CollectionSpec, IndexSpec
from caas_core.domain.health import ProbeResult
from caas_core.domain.scram import password_matches

logger = logging.getLogger(__name__)

MongoClient = AsyncMongoClient[dict[str, Any]]
_NAMESPACE_EXISTS: Final = 48
_NAMESPACE_NOT_FOUND: Final = 26
_INDEX_NOT_FOUND: Final = 27
_COMMAND_NOT_FOUND: Final = 59
_USER_NOT_FOUND: Final = 11
_PROBE_SLACK: Final = 0.25
# Marks users this platform created (customData), so it never adopts anyone else's.
USER_MARKER: Final = {"managedBy": "caas-operator"}


class MongoUserNotOwnedError(RuntimeError):
    """A user of that name exists but was not created by the operator."""


@dataclass(frozen=True, slots=True, kw_only=True)
class UserReport:
    """What ensure_user did: created the user, or corrected roles/password (by name)."""

    created: bool = False
    corrected: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class DatabaseReport:
    """What ensure_database did, and what it found but left alone."""

    database: str
    created_collections: tuple[str, ...] = ()
    created_indexes: tuple[str, ...] = ()
    drifts: tuple[str, ...] = ()


def connect(uri: str, *, timeout: float = 5.0, app_name: str = "caas") -> MongoClient:
    """A lazily connecting client whose server selection and connects give up after `timeout`."""
    millis = int(timeout * 1000)
    return AsyncMongoClient(
        uri,
        appname=app_name,
        serverSelectionTimeoutMS=millis,
        connectTimeoutMS=millis,
        tz_aware=True,
    )


async def ping(client: MongoClient, *, timeout: float = 2.0) -> ProbeResult:
    """Round-trip a ping command."""

    async def check() -> None:
        # pymongo.timeout bounds server selection too, so the driver gives up cleanly itself.
        with pymongo.timeout(timeout):
            await client.admin.command("ping")

    # The outer deadline is a backstop; a little slack lets pymongo's clearer error win.
    return await timed_probe(check, timeout=timeout + _PROBE_SLACK)


async def list_collections(client: MongoClient, *, database: str) -> set[str]:
    """Names of the database's collections (empty when the database does not exist)."""
    return set(await client[database].list_collection_names())


async def ensure_database(
    client: MongoClient,
    *,
    database: str,
    collections: Sequence[CollectionSpec],
    existing: set[str] | None = None,
) -> DatabaseReport:
    """Create missing collections and indexes; report (never drop) indexes that differ.

    `existing` (the current collection names, when the caller already listed them) saves a read.
    """
    db: AsyncDatabase[dict[str, Any]] = client[database]
    if existing is None:
        existing = set(await db.list_collection_names())
    created_collections: list[str] = []
    created_indexes: list[str] = []
    drifts: list[str] = []
    for spec in collections:
        if spec.name not in existing and await _create_collection(db, spec.name):
            created_collections.append(spec.name)
        made, drift = await _ensure_indexes(db, spec)
        created_indexes.extend(f"{spec.name}.{name}" for name in made)
        drifts.extend(drift)
    report = DatabaseReport(
        database=database,
        created_collections=tuple(created_collections),
        created_indexes=tuple(created_indexes),
        drifts=tuple(drifts),
    )
    if created_collections or created_indexes:
        logger.info(
            "mongo database ensured",
            extra={
                "database": database,
                "created_collections": created_collections,
                "created_indexes": created_indexes,
            },
        )
    return report


async def _create_collection(db: AsyncDatabase[dict[str, Any]], name: str) -> bool:
    try:
        await db.create_collection(name)
    except CollectionInvalid:
        return False  # created concurrently between listing and creating
    except OperationFailure as exc:
        if exc.code != _NAMESPACE_EXISTS:
            raise
        return False
    return True


async def ensure_indexes(
    db: AsyncDatabase[dict[str, Any]], spec: CollectionSpec
) -> tuple[list[str], list[str]]:
    """Create the spec's missing indexes only; return (created, drift descriptions)."""
    # Only the missing ones: a resync of many tenants issues no no-op index builds.
    # indexes that already exist.
    return await _ensure_indexes(db, spec)


async def _ensure_indexes(
    db: AsyncDatabase[dict[str, Any]], spec: CollectionSpec
) -> tuple[list[str], list[str]]:
    collection = db[spec.name]
    info = await collection.index_information()
    missing: list[IndexSpec] = []
    drifts: list[str] = []
    for index in spec.indexes:
        live = info.get(index.name)
        if live is None:
            missing.append(index)
        elif not _matches(index, live):
            drifts.append(f"{db.name}.{spec.name}: index {index.name} differs from its spec")
    if missing:
        await collection.create_indexes(
            [IndexModel(list(i.keys), name=i.name, unique=i.unique) for i in missing]
        )
    return [i.name for i in missing], drifts


def _matches(index: IndexSpec, live: dict[str, Any]) -> bool:
    # Servers may report key directions as floats (1.0); compare them as integers.
    keys = tuple((str(field), int(direction)) for field, direction in live.get("key", []))
    return keys == index.keys and bool(live.get("unique", False)) == index.unique


async def users_supported(client: MongoClient, *, database: str) -> bool:
    """Whether the server manages users (every MongoDB does; a wire-compatible server such as
    FerretDB v1 without its experimental auth has no usersInfo)."""
    try:
        await client[database].command({"usersInfo": 1})
    except OperationFailure as exc:
        if exc.code == _COMMAND_NOT_FOUND:
            return False
        raise
    return True


async def ensure_user(
    client: MongoClient,
    *,
    database: str,
    username: str,
    password: str,
    set_password: bool,
    marker: dict[str, str],
) -> UserReport:
    """Make a user of `database` with readWrite on it alone; never touch a user we did not make.

    The password is (re)set when `set_password` says the credentials Secret holds a new one,
    when the user is created, and when the server's SCRAM keys show it was changed by someone
    else (drift: recomputed from the Secret's password, it cannot be read back).
    """
    db = client[database]
    roles = [{"role": "readWrite", "db": database}]
    found = await db.command(
        {"usersInfo": {"user": username, "db": database}, "showCredentials": True}
    )
    users: list[dict[str, Any]] = found.get("users", [])
    if not users:
        await db.command(
            {
                "createUser": username,
                "pwd": password,
                "roles": roles,
                "customData": {**USER_MARKER, **marker},
            }
        )
        logger.info("mongo user created", extra={"database": database, "mongo_user": username})
        return UserReport(created=True)
    user = users[0]
    custom = user.get("customData") or {}
    if any(custom.get(k) != v for k, v in USER_MARKER.items()):
        raise MongoUserNotOwnedError(
            f"MongoDB user {username} on {database} exists but was not created by the operator"
        )
    corrected: list[str] = []
    update: dict[str, Any] = {"updateUser": username}
    live_roles = sorted((r.get("role"), r.get("db")) for r in user.get("roles", []))
    if live_roles != [("readWrite", database)]:
        update["roles"] = roles
        corrected.append("roles")
    # ~4 ms of PBKDF2 per check: off the event loop, which serves every other tenant meanwhile.
    if set_password or (
        await asyncio.to_thread(password_matches, password, user.get("credentials") or {}) is False
    ):
        update["pwd"] = password
        corrected.append("password")
    if corrected:
        await db.command(update)
    return UserReport(corrected=tuple(corrected))


async def drop_user(client: MongoClient, *, database: str, username: str) -> bool:
    """Drop the user; False when it did not exist."""
    try:
        await client[database].command({"dropUser": username})
    except OperationFailure as exc:
        if exc.code == _USER_NOT_FOUND:
            return False
        raise
    logger.info("mongo user dropped", extra={"database": database, "mongo_user": username})
    return True


async def drop_index(client: MongoClient, *, database: str, collection: str, index: str) -> bool:
    """Drop one named index; False when it (or its collection) is not there any more."""
    try:
        await client[database][collection].drop_index(index)
    except OperationFailure as exc:
        if exc.code in (_INDEX_NOT_FOUND, _NAMESPACE_NOT_FOUND):
            return False
        raise
    return True


async def drop_database(client: MongoClient, *, database: str) -> None:
    """Drop the database; dropping one that does not exist is not an error."""
    await client.drop_database(database)
    logger.info("mongo database dropped", extra={"database": database})
