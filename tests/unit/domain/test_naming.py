"""Tenant names and every backend name derived from them."""

import pytest

from caas_core.domain import naming
from caas_core.domain.naming import InvalidTenantNameError, tenant_names, validate_tenant_name

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("name", ["a", "acme", "acme-corp", "a1", "0x", "a" * 40])
def test_valid_names_pass_unchanged(name: str) -> None:
    assert validate_tenant_name(name) == name
    assert naming.is_valid_tenant_name(name)


@pytest.mark.parametrize(
    "name",
    ["", "Acme", "-acme", "acme-", "ac_me", "ac.me", "ac me", "a" * 41, "ümlaut", "acme\n"],
)
def test_invalid_names_are_rejected(name: str) -> None:
    with pytest.raises(InvalidTenantNameError):
        validate_tenant_name(name)
    assert not naming.is_valid_tenant_name(name)


def test_too_long_name_message_gives_the_limit() -> None:
    with pytest.raises(InvalidTenantNameError, match="maximum is 40"):
        validate_tenant_name("a" * 41)


def test_derived_names_follow_the_shared_conventions() -> None:
    names = tenant_names("acme-corp")
    assert names.namespace == "tenant-acme-corp"
    assert names.database == "tenant_acme_corp"
    assert names.topic_prefix == "tenant.acme-corp."
    assert names.topic("events") == "tenant.acme-corp.events"
    assert names.redis_user == "tenant-acme-corp"
    assert names.redis_key_pattern == "t:acme-corp:*"
    assert names.redis_channel_pattern == "t:acme-corp:*"
    assert names.credentials_secret == "caas-tenant-credentials"
    assert names.labels() == {
        "platform.caas.io/tenant": "acme-corp",
        "app.kubernetes.io/managed-by": "caas-operator",
    }


def test_single_name_helpers_validate_too() -> None:
    with pytest.raises(InvalidTenantNameError):
        naming.namespace_name("Bad")
    assert naming.topic_name("x", "events") == "tenant.x.events"
    assert naming.redis_prefix("x") == "t:x:"


def test_longest_name_fits_a_kubernetes_namespace() -> None:
    names = tenant_names("a" * 40)
    assert len(names.namespace) <= 63
    assert len(names.database) <= 63
