"""Stored API keys: when they may authenticate, and who may change them."""

from datetime import UTC, datetime, timedelta

import pytest

from caas_core.domain.api_key_records import (
    ApiKeyRecord,
    ForeignKeyError,
    KeyWriter,
    ResourceRef,
    Unusable,
    from_document,
    to_document,
)

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def _record(**overrides: object) -> ApiKeyRecord:
    fields: dict[str, object] = {
        "key_id": "abcdefghijklmnop",
        "tenant": "acme",
        "name": "backend",
        "key_hash": "0" * 64,
        "scopes": ("tokens:issue",),
        "managed_by": KeyWriter.API,
        "created_at": NOW - timedelta(days=1),
    }
    return ApiKeyRecord(**{**fields, **overrides})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({}, None),
        ({"expires_at": NOW + timedelta(seconds=1)}, None),
        ({"expires_at": NOW}, Unusable.EXPIRED),
        ({"revoked_at": NOW - timedelta(seconds=1)}, Unusable.REVOKED),
        ({"revoked_at": NOW + timedelta(hours=1)}, None),
        ({"valid_until": NOW}, Unusable.ROTATED_OUT),
        ({"valid_until": NOW + timedelta(minutes=5)}, None),
        # Revocation wins over every other reason: it is the one an operator acted on.
        ({"revoked_at": NOW, "expires_at": NOW, "valid_until": NOW}, Unusable.REVOKED),
    ],
)
def test_usability(overrides: dict[str, object], expected: Unusable | None) -> None:
    assert _record(**overrides).unusable(now=NOW) == expected


def test_each_writer_may_change_only_its_own_keys() -> None:
    by_operator = _record(
        managed_by=KeyWriter.OPERATOR,
        source=ResourceRef(namespace="tenant-acme", name="k", uid="u"),
    )
    by_operator.check_writer(KeyWriter.OPERATOR)
    with pytest.raises(
        ForeignKeyError, match=r"ApiKey resource tenant-acme/k; change it with kubectl"
    ):
        by_operator.check_writer(KeyWriter.API)
    with pytest.raises(ForeignKeyError, match=r"REST API"):
        _record().check_writer(KeyWriter.OPERATOR)


def test_rotation_never_extends_an_existing_overlap() -> None:
    once = _record().replaced(by="newkey", valid_until=NOW + timedelta(hours=1))
    assert (once.replaced_by, once.valid_until) == ("newkey", NOW + timedelta(hours=1))
    again = once.replaced(by="newer", valid_until=NOW + timedelta(days=1))
    assert again.valid_until == NOW + timedelta(hours=1)


def test_document_round_trip() -> None:
    record = _record(
        managed_by=KeyWriter.OPERATOR,
        source=ResourceRef(namespace="tenant-acme", name="k", uid="u"),
        expires_at=NOW + timedelta(days=30),
    )
    doc = to_document(record)
    assert doc["_id"] == record.key_id
    assert not {"key", "secret"} & doc.keys()
    assert from_document(doc) == record
