"""A tenant's Redis ACL user, made by the operator's adapter, is confined to its own prefix."""

from __future__ import annotations

import secrets
import uuid

import pytest
import redis
from redis.exceptions import NoPermissionError

from caas_core.adapters import redis as redis_adapter
from caas_core.domain.naming import tenant_names
from caas_core.domain.redis_acl import AclUserSpec
from tests.conftest import Stack


def _spec(tenant: str) -> AclUserSpec:
    names = tenant_names(tenant)
    return AclUserSpec(
        name=names.redis_user,
        key_pattern=names.redis_key_pattern,
        channel_pattern=names.redis_channel_pattern,
    )


async def test_tenant_user_cannot_touch_another_tenants_keys_or_channels(stack: Stack) -> None:
    run = uuid.uuid4().hex[:6]
    tenant_a, tenant_b = f"it-a-{run}", f"it-b-{run}"
    password = secrets.token_urlsafe(24)
    admin = redis_adapter.connect(stack.redis_url)
    user = redis.Redis(
        host="127.0.0.1", port=stack.conf.ports.redis, username=f"tenant-{tenant_a}",
        password=password, decode_responses=True,
    )  # fmt: skip
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
