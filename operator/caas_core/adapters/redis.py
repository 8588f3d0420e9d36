"""Redis: client factory, idempotent per-tenant ACL users, and a ping probe."""

import logging

from redis.asyncio import Redis
from redis.exceptions import ResponseError

from caas_core.adapters.probe import timed_probe
from caas_core.domain.health import ProbeResult
from caas_core.domain.redis_acl import AclUserSpec

logger = logging.getLogger(__name__)


class RedisAclError(RuntimeError):
    """An ACL command failed; the message never contains the password."""


def connect(url: str, *, timeout: float = 5.0) -> Redis:
    """A client from a redis:// URL whose connects and commands give up after `timeout`."""
    return Redis.from_url(
        url,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        decode_responses=True,
        health_check_interval=30,
    )


async def ping(client: Redis, *, timeout: float = 2.0) -> ProbeResult:
    """Round-trip a PING."""

    async def check() -> None:
        await client.ping()

    return await timed_probe(check, timeout=timeout)


async def ensure_acl_user(client: Redis, user: AclUserSpec, *, password: str) -> None:
    """Make the user exist with exactly these rules and this one password (idempotent)."""
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
            keys=[user.key_pattern],
            channels=[user.channel_pattern],
        )
    except ResponseError as exc:
        # Redis echoes the offending rule, which may be the password: never pass it on.
        message = str(exc).replace(password, "***")
        raise RedisAclError(f"ACL SETUSER {user.name} failed: {message}") from None
    # Debug only: this runs on every reconcile and changes nothing once converged.
    logger.debug("redis acl user ensured", extra={"redis_user": user.name})


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
