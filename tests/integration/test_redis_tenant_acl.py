"""A tenant's Redis ACL user, made by the operator's adapter, is confined to its own prefix: it
can neither touch nor *see* another tenant's or the platform's keys and channels."""

from __future__ import annotations

import secrets
import socket
import uuid
from collections.abc import Iterator

import pytest
import redis
from redis.exceptions import NoPermissionError, ResponseError

from caas_core.adapters import redis as redis_adapter
from caas_core.domain.naming import tenant_names
from caas_core.domain.redis_acl import AclUserSpec
from tests.conftest import Stack


def _spec(tenant: str, **overrides: object) -> AclUserSpec:
    names = tenant_names(tenant)
    return AclUserSpec(
        name=names.redis_user,
        key_pattern=names.redis_key_pattern,
        channel_pattern=names.redis_channel_pattern,
        **overrides,  # type: ignore[arg-type]
    )


def _user(stack: Stack, tenant: str, password: str) -> redis.Redis:
    return redis.Redis(
        host="127.0.0.1", port=stack.conf.ports.redis, username=f"tenant-{tenant}",
        password=password, decode_responses=True,
    )  # fmt: skip


async def test_tenant_user_cannot_touch_another_tenants_keys_or_channels(stack: Stack) -> None:
    run = uuid.uuid4().hex[:6]
    tenant_a, tenant_b = f"it-a-{run}", f"it-b-{run}"
    password = secrets.token_urlsafe(24)
    admin = redis_adapter.connect(stack.redis_url)
    user = _user(stack, tenant_a, password)
    try:
        await redis_adapter.ensure_acl_user(admin, _spec(tenant_a), password=password)
        await redis_adapter.ensure_acl_user(admin, _spec(tenant_a), password=password)  # idempotent
        await admin.set(f"t:{tenant_b}:profile", "b's data")

        user.set(f"t:{tenant_a}:profile", "a's data")
        assert user.get(f"t:{tenant_a}:profile") == "a's data"
        user.publish(f"t:{tenant_a}:events", "ok")
        for forbidden in (
            lambda: user.get(f"t:{tenant_b}:profile"),
            lambda: user.set(f"t:{tenant_b}:profile", "overwritten"),
            lambda: user.get("caas:platform:config"),
            lambda: user.publish(f"t:{tenant_b}:events", "spy"),
            user.flushall,
            user.acl_list,
        ):
            with pytest.raises(NoPermissionError):
                forbidden()
        assert await admin.get(f"t:{tenant_b}:profile") == "b's data"
    finally:
        user.close()
        await admin.delete(f"t:{tenant_a}:profile", f"t:{tenant_b}:profile")
        assert await redis_adapter.delete_acl_user(admin, name=f"tenant-{tenant_a}")
        await admin.aclose()


# Every command that takes no key (so no key pattern confines it) and could name keys or
# channels, or describe the server: key enumeration, server introspection, client and pub/sub
# introspection, scripting and function state, and the same enumeration from inside a script.
INTROSPECTION: tuple[tuple[str, ...], ...] = (
    ("SCAN", "0", "COUNT", "1000"),
    ("SCAN", "0", "MATCH", "*", "TYPE", "string"),
    ("KEYS", "*"),
    ("RANDOMKEY",),
    ("DBSIZE",),
    ("INFO",),
    ("INFO", "keyspace"),
    ("INFO", "clients"),
    ("INFO", "commandstats"),
    ("MEMORY", "STATS"),
    ("MEMORY", "DOCTOR"),
    ("MEMORY", "MALLOC-STATS"),
    ("MEMORY", "PURGE"),
    ("CLIENT", "LIST"),
    ("CLIENT", "KILL", "TYPE", "normal"),
    ("CLIENT", "NO-EVICT", "on"),
    ("CLIENT", "UNBLOCK", "1"),
    ("SLOWLOG", "GET", "128"),
    ("SLOWLOG", "LEN"),
    ("LATENCY", "LATEST"),
    ("LATENCY", "DOCTOR"),
    ("CONFIG", "GET", "*"),
    ("DEBUG", "OBJECT", "x"),
    ("MONITOR",),
    ("PUBSUB", "CHANNELS"),
    ("PUBSUB", "CHANNELS", "*"),
    ("PUBSUB", "NUMSUB", "x"),
    ("PUBSUB", "NUMPAT"),
    ("PUBSUB", "SHARDCHANNELS"),
    ("PUBSUB", "SHARDNUMSUB", "x"),
    ("FUNCTION", "LIST", "WITHCODE"),
    ("FUNCTION", "STATS"),
    ("FUNCTION", "DUMP"),
    ("SCRIPT", "FLUSH"),
    ("SCRIPT", "KILL"),
    ("ACL", "LIST"),
    ("ACL", "USERS"),
    ("ACL", "LOG"),
    ("ACL", "GETUSER", "default"),
    ("ROLE",),
    ("LASTSAVE",),
    ("LOLWUT",),
    ("SWAPDB", "0", "1"),
    ("EVAL", "return redis.call('SCAN', '0', 'COUNT', '1000')", "0"),
    ("EVAL", "return redis.call('KEYS', '*')", "0"),
    ("EVAL", "return redis.call('RANDOMKEY')", "0"),
)


@pytest.fixture
def two_tenants(stack: Stack) -> Iterator[tuple[str, str, redis.Redis, redis.Redis]]:
    """Tenant A's user (tested), B's data and channel subscriber, and platform keys."""
    run = uuid.uuid4().hex[:6]
    tenant_a, tenant_b = f"it-a-{run}", f"it-b-{run}"
    password = secrets.token_urlsafe(24)
    admin = redis.Redis.from_url(stack.redis_url, decode_responses=True)
    for tenant in (tenant_a, tenant_b):
        spec = _spec(tenant)
        admin.acl_setuser(
            spec.name, enabled=True, reset=True, passwords=[f"+{password}"],
            categories=list(spec.categories), commands=list(spec.commands),
            keys=[spec.key_pattern], channels=[spec.channel_pattern],
        )  # fmt: skip
    # What another tenant and the platform keep: key names carry tenant names and user ids.
    admin.set(f"t:{tenant_b}:secret-{run}", "b")
    admin.hset(f"caas:usage:{tenant_b}:{run}", "apiCalls", 1)
    admin.set(f"caas:fail:backup:{tenant_b}/user-{run}", 1)
    subscriber = _user(stack, tenant_b, password).pubsub()
    subscriber.subscribe(f"t:{tenant_b}:chan-{run}")
    user = _user(stack, tenant_a, password)
    user.set(f"t:{tenant_a}:mine", "a")
    yield run, tenant_b, user, admin
    subscriber.close()
    user.close()
    admin.delete(
        f"t:{tenant_a}:mine", f"t:{tenant_b}:secret-{run}", f"caas:usage:{tenant_b}:{run}",
        f"caas:fail:backup:{tenant_b}/user-{run}",
    )  # fmt: skip
    admin.acl_deluser(f"tenant-{tenant_a}", f"tenant-{tenant_b}")
    admin.close()


@pytest.mark.parametrize("command", INTROSPECTION, ids=lambda c: " ".join(c[:2])[:30])
def test_tenant_user_can_enumerate_nothing_of_others(
    two_tenants: tuple[str, str, redis.Redis, redis.Redis], command: tuple[str, ...]
) -> None:
    run, tenant_b, user, admin = two_tenants
    try:
        reply = user.execute_command(*command)
    except NoPermissionError:
        return  # denied by the ACL user's rules
    except ResponseError as exc:
        # Refused for another reason (DEBUG is disabled, no script running, a script calling a
        # denied command): the error must not carry what we look for either.
        reply = str(exc)
    shown = repr(reply)
    for secret in (tenant_b, f"secret-{run}", f"user-{run}", "caas:", "tenant-"):
        assert secret not in shown, (command, shown[:300])
    # What is left allowed reveals nothing server-wide: no key count, version or client list.
    assert "redis_version" not in shown
    assert "addr=" not in shown
    assert admin.get(f"t:{tenant_b}:secret-{run}") == "b"


def test_tracking_broadcast_does_not_push_other_tenants_key_names(
    stack: Stack, two_tenants: tuple[str, str, redis.Redis, redis.Redis]
) -> None:
    """CLIENT TRACKING in BCAST mode pushes the name of every key anyone writes (RESP3)."""
    _, _, user, _ = two_tenants
    username = user.connection_pool.connection_kwargs["username"]
    password = user.connection_pool.connection_kwargs["password"]
    with socket.create_connection(("127.0.0.1", stack.conf.ports.redis), timeout=5) as sock:
        sock.sendall(_resp("HELLO", "3", "AUTH", username, password))
        assert b"server" in sock.recv(4096)
        sock.sendall(_resp("CLIENT", "TRACKING", "ON", "BCAST"))
        answer = sock.recv(4096)
        assert b"NOPERM" in answer, answer


def _resp(*parts: str) -> bytes:
    return f"*{len(parts)}\r\n".encode() + b"".join(
        f"${len(p.encode())}\r\n{p}\r\n".encode() for p in parts
    )


async def test_a_user_made_under_older_rules_is_corrected_to_the_current_ones(
    stack: Stack,
) -> None:
    """The operator's resync calls ensure_acl_user for every tenant: rules added later (the
    enumeration denials) reach tenants whose users were made before them."""
    tenant = f"it-old-{uuid.uuid4().hex[:6]}"
    password = secrets.token_urlsafe(24)
    admin = redis_adapter.connect(stack.redis_url)
    user = _user(stack, tenant, password)
    try:
        older = _spec(tenant, commands=())  # the rules before SCAN & co. were denied
        await redis_adapter.ensure_acl_user(admin, older, password=password)
        assert isinstance(user.scan(0), tuple | list)

        report = await redis_adapter.ensure_acl_user(admin, _spec(tenant), password=password)
        assert report.corrected, report
        assert any("command rules" in difference for difference in report.corrected)
        for denied in (lambda: user.scan(0), user.randomkey, user.dbsize):
            with pytest.raises(NoPermissionError):
                denied()
        converged = await redis_adapter.ensure_acl_user(admin, _spec(tenant), password=password)
        assert not converged.changed
    finally:
        user.close()
        await redis_adapter.delete_acl_user(admin, name=f"tenant-{tenant}")
        await admin.aclose()
