"""The pure AccessPolicy lifecycle: reading the spec (errors at pointers and line:column), the
owner rule, writing only differences, status, and text policies stored as their JSON form."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from caas_core.authz import cedar
from caas_core.authz.documents import SCHEMA_KEY, Kind
from caas_core.authz.objects import Put, StoredObject, Writer
from caas_core.authz.parse import parse_policy
from caas_core.authz.rbac import Role
from caas_core.authz.schema import DocumentError, parse_schema
from caas_core.authz.text import parse_text
from caas_core.domain.api_key_records import ResourceRef
from caas_operator.accesspolicy.plan import (
    OWNED_BY_API,
    OWNED_BY_RESOURCE,
    AccessPolicyObserved,
    plan_access_policy,
    tenant_of,
)
from caas_operator.accesspolicy.serialize import policy_document
from caas_operator.accesspolicy.spec import (
    INVALID_POLICY,
    INVALID_SCHEMA,
    INVALID_SPEC,
    Desired,
    Refused,
    read_spec,
    schema_document,
)
from caas_operator.accesspolicy.status import (
    kept_fields,
    ready_message,
    refused_message,
    status_fields,
)
from tests.unit.authz import corpus
from tests.unit.authz.test_parse import SCHEMA_DOC, _policy
from tests.unit.authz.test_text import _CORPUS_SCHEMA

T = "acme"
UID = "uid-ap"
SOURCE = ResourceRef(namespace="tenant-acme", name="readers", uid=UID)
OTHER = ResourceRef(namespace="tenant-acme", name="writers", uid="uid-other")
WHEN = datetime(2026, 3, 1, tzinfo=UTC)
TEXT = """@id("t1")
permit (principal in Group::"eng", action in [Action::"read"], resource is Channel)
when { principal.level >= 2 && context.ip.isInRange(ip("10.0.0.0/8")) };
"""


def _stored(
    kind: Kind,
    key: str,
    document: dict[str, Any],
    *,
    owner: Writer = Writer.OPERATOR,
    source: ResourceRef | None = SOURCE,
) -> StoredObject:
    return StoredObject(
        kind=kind, key=key, document=document, owner=owner, source=source, updated_at=WHEN
    )


SCHEMA_OBJECT = _stored(Kind.SCHEMA, SCHEMA_KEY, SCHEMA_DOC, owner=Writer.API, source=None)


def _read(spec: dict[str, Any], *, stored_schema: StoredObject | None = SCHEMA_OBJECT) -> Desired:
    return read_spec(spec, tenant=T, stored_schema=stored_schema, uid=UID)


def _refused(spec: dict[str, Any], **kwargs: Any) -> tuple[str, str]:
    with pytest.raises(Refused) as caught:
        _read(spec, **kwargs)
    return caught.value.failure.reason, caught.value.failure.message


# --- reading the spec -------------------------------------------------------------------------


def test_json_policies_are_stored_as_written() -> None:
    desired = _read({"policies": [_policy()]})
    assert desired.puts == (Put(Kind.POLICY, "p1", _policy()),)
    assert (desired.policies, desired.from_text) == (1, 0)


def test_text_policies_are_stored_as_their_json_form() -> None:
    desired = _read({"text": TEXT, "policies": [_policy()]})
    assert [put.key for put in desired.puts] == ["p1", "t1"]
    assert (desired.policies, desired.from_text) == (2, 1)
    schema = parse_schema(SCHEMA_DOC)
    [from_text] = parse_text(TEXT, tenant=T, schema=schema)
    assert parse_policy(desired.puts[1].document, tenant=T, schema=schema) == from_text


@pytest.mark.parametrize(
    ("policy", "pointer", "message"),
    [
        (
            _policy(principal={"op": "in", "entity": {"type": "Robot", "id": "r"}}),
            "/spec/policies/0/principal/entity/type",
            "unknown entity type 'Robot'",
        ),
        (
            _policy(action={"op": "in", "actions": ["fly"]}),
            "/spec/policies/0/action/actions/0",
            "unknown action 'fly'",
        ),
        (
            # A misspelt field is refused, never dropped (dropping `conditions` would permit more).
            {**_policy(), "condtions": []},
            "/spec/policies/0/condtions",
            "unknown field",
        ),
        (
            {
                **_policy(),
                "conditions": [
                    {
                        "kind": "when",
                        "body": {
                            "op": ">",
                            "left": {
                                "op": "getAttr",
                                "of": {"op": "var", "name": "principal"},
                                "attr": "rank",
                            },
                            "right": {"op": "value", "value": 1},
                        },
                    }
                ],
            },
            "/spec/policies/0/conditions/0/body/left/attr",
            "unknown attribute `rank`",
        ),
    ],
)
def test_a_json_error_names_its_pointer_in_the_resource(
    policy: dict[str, Any], pointer: str, message: str
) -> None:
    reason, text = _refused({"policies": [policy]})
    assert reason == INVALID_POLICY
    assert text.startswith(f"{pointer}: ")
    assert message in text


def test_every_invalid_policy_is_reported_and_long_lists_are_cut() -> None:
    fly = {"op": "in", "actions": ["fly"]}
    bad = [{**_policy(), "id": f"p{i}", "action": fly} for i in range(8)]
    _, text = _refused({"policies": [_policy(id="ok"), *bad]})
    assert text.count("unknown action 'fly'") == 5
    assert "/spec/policies/1/action/actions/0" in text
    assert text.endswith("and 3 more")


@pytest.mark.parametrize(
    ("text", "location", "message"),
    [
        ("permit (principal, action, resource) when { principal.rank > 1 };", "1:55", "`rank`"),
        ('@id("a")\npermit (principal is Robot, action, resource);', "2:22", "'Robot'"),
        ("permit (principal, action, resource) when { true } #", "1:52", "unexpected"),
    ],
)
def test_a_text_error_names_its_line_and_column(text: str, location: str, message: str) -> None:
    reason, found = _refused({"text": text})
    assert reason == INVALID_POLICY
    assert found.startswith(f"spec.text {location}: ")
    assert message in found


def test_ids_are_unique_across_json_and_text() -> None:
    reason, message = _refused({"policies": [_policy(id="t1")], "text": TEXT})
    assert reason == INVALID_POLICY
    assert "t1" in message
    assert "both spec.policies and spec.text" in message


def test_the_resources_own_schema_is_checked_and_stored() -> None:
    desired = _read({"policies": [_policy()], "schema": SCHEMA_DOC}, stored_schema=None)
    assert desired.puts[-1] == Put(Kind.SCHEMA, SCHEMA_KEY, SCHEMA_DOC)
    bad = {"actions": {"read": {"principalTypes": ["Robot"]}}}
    reason, message = _refused({"policies": [_policy()], "schema": bad})
    assert reason == INVALID_SCHEMA
    assert message.startswith("/spec/schema/actions/read/principalTypes/0: unknown entity type")


def test_policies_are_checked_against_the_schema_the_tenant_will_have() -> None:
    # No schema at all: every type and action is unknown.
    assert _refused({"policies": [_policy()]}, stored_schema=None)[0] == INVALID_POLICY
    # This resource's earlier schema goes with a write that no longer lists it.
    own = _stored(Kind.SCHEMA, SCHEMA_KEY, SCHEMA_DOC)
    assert schema_document(None, own, uid=UID) == {}
    assert _refused({"policies": [_policy()]}, stored_schema=own)[0] == INVALID_POLICY
    # Another writer's schema stays, and is the one used.
    assert schema_document(None, SCHEMA_OBJECT, uid=UID) == SCHEMA_DOC
    assert schema_document({"actions": {}}, SCHEMA_OBJECT, uid=UID) == {"actions": {}}


def test_a_spec_the_crd_would_refuse_is_refused_too() -> None:
    reason, message = _refused({"text": "x" * (256 * 1024 + 1)})
    assert reason == INVALID_SPEC
    assert "text" in message
    reason, message = _refused({"policies": [_policy(effect="allow")]})
    assert reason == INVALID_SPEC
    assert message.startswith("policies.0.effect: ")


# --- the write --------------------------------------------------------------------------------


def _observed(
    stored: tuple[StoredObject, ...] = (), existing: tuple[StoredObject, ...] = ()
) -> AccessPolicyObserved:
    return AccessPolicyObserved(
        source=SOURCE,
        stored=stored,
        existing={(obj.kind, obj.key): obj for obj in (*stored, *existing)},
    )


def test_a_new_resource_is_written() -> None:
    desired = _read({"policies": [_policy()]})
    plan = plan_access_policy(desired, _observed())
    assert plan.write == desired.puts
    assert plan.failure is None


def test_a_converged_resource_writes_nothing() -> None:
    desired = _read({"policies": [_policy()], "text": TEXT})
    # Stored documents come back from JSON: key order differs, values are equal.
    stored = tuple(
        _stored(put.kind, put.key, dict(reversed(list(put.document.items()))))
        for put in desired.puts
    )
    plan = plan_access_policy(desired, _observed(stored))
    assert (plan.write, plan.failure) == (None, None)


def test_any_difference_rewrites_the_resources_objects() -> None:
    desired = _read({"policies": [_policy()]})
    changed = _stored(Kind.POLICY, "p1", {**_policy(), "effect": "forbid"})
    assert plan_access_policy(desired, _observed((changed,))).write == desired.puts
    dropped = _stored(Kind.POLICY, "gone", _policy(id="gone"))
    same = _stored(Kind.POLICY, "p1", _policy())
    assert plan_access_policy(desired, _observed((same, dropped))).write == desired.puts


def test_an_object_of_the_rest_api_is_never_overwritten() -> None:
    desired = _read({"policies": [_policy()]})
    theirs = _stored(Kind.POLICY, "p1", _policy(), owner=Writer.API, source=None)
    plan = plan_access_policy(desired, _observed(existing=(theirs,)))
    assert plan.write is None
    assert plan.failure is not None
    assert plan.failure.reason == OWNED_BY_API
    assert "managed by the api through the REST API (/v1/security)" in plan.failure.message
    assert not plan.failure.retryable


def test_another_access_policys_object_is_never_overwritten() -> None:
    desired = _read({"policies": [_policy()], "schema": SCHEMA_DOC}, stored_schema=None)
    theirs = _stored(Kind.SCHEMA, SCHEMA_KEY, SCHEMA_DOC, source=OTHER)
    plan = plan_access_policy(desired, _observed(existing=(theirs,)))
    assert plan.failure is not None
    assert plan.failure.reason == OWNED_BY_RESOURCE
    assert "AccessPolicy resource tenant-acme/writers" in plan.failure.message


def test_the_tenant_is_read_from_the_source_namespace() -> None:
    assert tenant_of(SOURCE) == "acme"
    assert tenant_of(ResourceRef(namespace="default", name="x", uid="u")) is None
    assert tenant_of(ResourceRef(namespace="tenant-Bad_Name", name="x", uid="u")) is None


# --- status -----------------------------------------------------------------------------------


def test_status_fields_and_messages() -> None:
    assert status_fields(tenant=T, policies=2, applied_generation=3, version="7") == {
        "tenant": T,
        "policies": 2,
        "appliedGeneration": 3,
        "policySetVersion": "7",
    }
    assert ready_message(tenant=T, policies=1, from_text=0, version="7") == (
        "1 policy in effect for tenant acme (policy-set version 7)"
    )
    assert "(2 from spec.text)" in ready_message(tenant=T, policies=3, from_text=2, version="7")
    old = {"tenant": T, "policies": 2, "appliedGeneration": 3, "policySetVersion": "7"}
    assert kept_fields(old, tenant=None) == old
    assert refused_message("bad", old) == "bad; generation 3 stays in effect"
    assert refused_message("bad", None) == "bad; nothing of this resource is in effect"


# --- the JSON form of text policies -------------------------------------------------------------


@settings(
    max_examples=4,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(world=corpus.world(), data=st.data())
def test_every_policy_read_from_text_reads_back_from_its_json_form(
    world: tuple[list[Role], object], data: st.DataObject
) -> None:
    schema = parse_schema(_CORPUS_SCHEMA)
    roles, _ = world
    checked = 0
    for policy in data.draw(corpus.policy_set(roles, 60)):
        try:
            [read] = parse_text(cedar.policy(policy), tenant=corpus.T, schema=schema)
        except DocumentError:
            continue  # deliberately ill-typed corpus policies
        assert parse_policy(policy_document(read), tenant=corpus.T, schema=schema) == read
        checked += 1
    assert checked >= 30
