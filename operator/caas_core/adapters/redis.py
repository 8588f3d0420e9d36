"""Redis: client factory, idempotent per-tenant ACL users with drift reports, and a ping probe."""

import logging
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from redis.asyncio import BlockingConnectionPool, Redis
from redis.exceptions import ResponseError

from caas_core.adapters.probe import timed_probe
from caas_core.domain.health import ProbeResult
from caas_core.domain.redis_acl import AclUserSpec, acl_user_differences

logger = logging.getLogger(__name__)

_PROBE_USER_PREFIX: Final = "caas-operator-canonical-"
# Canonical `commands`/`categories` per category rule list, learnt once per process.
_CANONICAL: dict[tuple[str, ...], dict[str, Any]] = {}


class RedisAclError(RuntimeError):
    """An ACL command failed; the message never contains the password."""


@dataclass(frozen=True, slots=True, kw_only=True)
class AclUserReport:
    """What ensure_acl_user found and did."""

    created: bool = False
    # How the live user differed from the spec before it was corrected.
    corrected: tuple[str, ...] = ()

    @property
    def changed(self) -> bool:
        """True when Redis was written to."""
        return self.created or bool(self.corrected)


def connect(url: str, *, timeout: float = 5.0, max_connections: int = 64) -> Redis:
    """A client from a redis:// URL whose connects and commands give up after `timeout`."""
    # A bounded, blocking pool: under a burst, callers wait (up to `timeout`) for a free
    # connection instead of opening one each until Redis or the file-descriptor limit refuses.
    pool = BlockingConnectionPool.from_url(
        url,
        max_connections=max_connections,
        timeout=timeout,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        decode_responses=True,
        health_check_interval=30,
    )
    return Redis.from_pool(pool)


async def ping(client: Redis, *, timeout: float = 2.0) -> ProbeResult:
    """Round-trip a PING."""

    async def check() -> None:
        await client.ping()

    return await timed_probe(check, timeout=timeout)


async def get_acl_user(client: Redis, *, name: str) -> dict[str, Any] | None:
    """ACL GETUSER as a dict (flags, passwords, keys, channels, categories, ...), None if absent."""
    user: dict[str, Any] | None = await client.acl_getuser(name)
    return user


async def _canonical_commands(
    client: Redis, categories: Sequence[str], commands: Sequence[str]
) -> dict[str, Any]:
    """How Redis itself renders these category and command rules, learnt from a disabled
    scratch user."""
    key = (*categories, "|", *commands)
    cached = _CANONICAL.get(key)
    if cached is not None:
        return cached
    probe = f"{_PROBE_USER_PREFIX}{secrets.token_hex(6)}"
    try:
        await client.acl_setuser(
            probe,
            enabled=False,
            reset=True,
            categories=list(categories),
            commands=list(commands),
        )
        live = await client.acl_getuser(probe) or {}
    finally:
        await client.acl_deluser(probe)
    canonical = {"categories": live.get("categories", []), "commands": live.get("commands", [])}
    _CANONICAL[key] = canonical
    return canonical


_UNREAD: Final[dict[str, Any]] = {}


async def ensure_acl_user(
    client: Redis,
    user: AclUserSpec,
    *,
    password: str,
    live: dict[str, Any] | None = _UNREAD,
) -> AclUserReport:
    """Make the user exist with exactly these rules and this one password.

    Reads first (unless the caller passes what ACL GETUSER returned as `live`) and writes only
    when the user is missing or differs, so a converged user costs a read and no write.
    """
    if live is _UNREAD:
        live = await get_acl_user(client, name=user.name)
    if live is not None:
        canonical = await _canonical_commands(client, user.categories, user.commands)
        differences = acl_user_differences(
            user, live, password=password, canonical_commands=canonical
        )
        if not differences:
            return AclUserReport()
    await _set_user(client, user, password=password)
    if live is None:
        logger.info("redis acl user created", extra={"redis_user": user.name})
        return AclUserReport(created=True)
    logger.info(
        "redis acl user corrected", extra={"redis_user": user.name, "differences": differences}
    )
    return AclUserReport(corrected=differences)


async def _set_user(client: Redis, user: AclUserSpec, *, password: str) -> None:
    try:
        # `reset` makes the single, atomic SETUSER converge from any previous state: old
        # passwords, keys, channels and permissions are dropped before ours are added.
        await client.acl_setuser(
            user.name,
            enabled=True,
            reset=True,
            reset_channels=True,
            passwords=[f"+{password}"],
            categories=list(user.categories),
            commands=list(user.commands),
            keys=[user.key_pattern],
            channels=[user.channel_pattern],
        )
    except ResponseError as exc:
        # Redis echoes the offending rule, which may be the password: never pass it on.
        message = str(exc).replace(password, "***")
        raise RedisAclError(f"ACL SETUSER {user.name} failed: {message}") from None


async def acl_user_exists(client: Redis, *, name: str) -> bool:
    """Tell whether the ACL user exists."""
    users = await client.acl_users()
    return name in {u.decode() if isinstance(u, bytes) else u for u in users}


async def delete_acl_user(client: Redis, *, name: str) -> bool:
    """Delete the user (Redis also drops its live connections); False when it did not exist."""
    deleted = await client.acl_deluser(name)
    if deleted:
        logger.info("redis acl user deleted", extra={"redis_user": name})
    return bool(deleted)
