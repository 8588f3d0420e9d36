"""Kafka ACL and Redis ACL comparisons used to detect drift in a tenant's access rules."""

import pytest

from caas_core.domain.kafka_acl import AclOp, AclResource, AclRule, diff_acls, tenant_acls
from caas_core.domain.redis_acl import (
    AclUserSpec,
    acl_user_differences,
    categories_rules,
    password_hash,
)

pytestmark = pytest.mark.unit

SPEC = AclUserSpec(name="tenant-a", key_pattern="t:a:*", channel_pattern="t:a:*")
CANONICAL = {"categories": ["+@all", "-@dangerous"], "commands": []}


def _live(**overrides: object) -> dict[str, object]:
    live: dict[str, object] = {
        "flags": ["on", "sanitize-payload"],
        "passwords": [password_hash("pw")],
        "keys": ["~t:a:*"],
        "channels": ["&t:a:*"],
        "selectors": [],
        **CANONICAL,
    }
    live.update(overrides)
    return live


def test_acl_diff_finds_missing_and_extra_rules() -> None:
    wanted = tenant_acls(username="tenant-a", prefix="tenant.a.")
    assert diff_acls(wanted, wanted).converged
    one = sorted(wanted)[0]
    stray = AclRule(
        principal="User:tenant-a",
        resource=AclResource.TOPIC,
        prefix="tenant.",
        operation=AclOp.READ,
    )
    diff = diff_acls(wanted, (wanted - {one}) | {stray}, foreign=["AclBinding(DENY ...)"])
    assert diff.missing == (one,)
    assert diff.extra == ("AclBinding(DENY ...)", "TOPIC tenant.* READ")


def test_categories_rules_are_stable_and_always_deny_admin() -> None:
    assert categories_rules(["all", "read"]) == ("+@all", "-@admin", "-@dangerous")
    assert categories_rules(["write", "read", "read"]) == (
        "+@read",
        "+@write",
        "-@admin",
        "-@dangerous",
    )


def test_a_matching_redis_user_has_no_differences() -> None:
    assert acl_user_differences(SPEC, _live(), password="pw", canonical_commands=CANONICAL) == ()


@pytest.mark.parametrize(
    ("overrides", "needle"),
    [
        ({"flags": ["off"]}, "disabled"),
        ({"passwords": []}, "password"),
        ({"keys": ["~t:a:*", "~*"]}, "key patterns"),
        ({"channels": ["&*"]}, "channel patterns"),
        ({"categories": ["+@all"]}, "command rules"),
        ({"selectors": ["(~x +get)"]}, "selectors"),
    ],
)
def test_redis_user_differences_are_named(overrides: dict[str, object], needle: str) -> None:
    found = acl_user_differences(
        SPEC, _live(**overrides), password="pw", canonical_commands=CANONICAL
    )
    assert len(found) == 1
    assert needle in found[0]
    assert "pw" not in found[0].replace("password", "")
