"""Which indexes the operator registers, and which it drops when the spec lets them go."""

from caas_core.domain.collections import CollectionSpec, IndexSpec
from caas_operator.tenant.plan import index_names, removed_indexes

DB = "tenant_acme"


def test_index_names_carry_database_and_collection() -> None:
    collections = (
        CollectionSpec(name="users", indexes=(IndexSpec(name="by_email", keys=(("email", 1),)),)),
        CollectionSpec(name="orders"),
    )
    assert index_names(DB, collections) == ["tenant_acme.users.by_email"]


def test_only_registered_indexes_of_this_database_that_the_spec_dropped_go() -> None:
    claimed = {
        "tenant_acme.users.by_email",  # still wanted
        "tenant_acme.orders.by_customer",  # taken out of the spec
        "tenant_other.orders.by_customer",  # another tenant's database
    }
    wanted = ["tenant_acme.users.by_email"]
    assert removed_indexes(DB, claimed=claimed, wanted=wanted) == [
        ("tenant_acme.orders.by_customer", "orders", "by_customer")
    ]


def test_a_database_name_prefix_of_another_is_not_confused() -> None:
    claimed = {"tenant_acme2.orders.by_customer"}
    assert removed_indexes(DB, claimed=claimed, wanted=[]) == []


def test_nothing_registered_nothing_dropped() -> None:
    assert removed_indexes(DB, claimed=set(), wanted=["tenant_acme.users.by_email"]) == []
