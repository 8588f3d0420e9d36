"""Appends planned from a head, and proofs over the tiles a stored log keeps, against MemoryTree."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from caas_core.auditlog import entry as entry_module
from caas_core.auditlog.append import (
    TILE_HEIGHT,
    Head,
    jsonable,
    log_of,
    personal_payload,
    plan_append,
    tenant_of,
)
from caas_core.auditlog.entry import GENESIS, Entry, personal_data_matches
from caas_core.auditlog.merkle import (
    MemoryTree,
    consistency_proof,
    frontier_at,
    inclusion_proof,
    tree_root,
)
from caas_core.auditlog.tiles import positions_needed, run_proof, stored_beneath

AT = datetime(2026, 12, 1, tzinfo=UTC)


def event(i: int, **extra: object) -> dict[str, object]:
    return {
        "id": f"e{i}",
        "at": (AT + timedelta(microseconds=i)).isoformat(),
        "action": "auth.login",
        "outcome": "success",
        "actor": {"type": "user", "id": f"u{i}"},
        "tenant": "acme",
        "target": {"type": None, "id": None},
        **extra,
    }


def appended_in_batches(sizes: list[int]) -> tuple[Head, list[bytes], dict[tuple[int, int], bytes]]:
    head = Head(log="tenant:acme")
    leaves: list[bytes] = []
    stored: dict[tuple[int, int], bytes] = {}
    n = 0
    for size in sizes:
        result = plan_append(head, [event(n + i) for i in range(size)], salts=lambda: bytes(32))
        n += size
        head = result.head
        for r in result.entries:
            leaves.append(bytes.fromhex(r.hash))
            stored[(0, r.entry.seq)] = bytes.fromhex(r.hash)
        stored.update({(level, index): h for level, index, h in result.nodes})
    return head, leaves, stored


def test_logs_and_tenants() -> None:
    assert log_of(None) == "platform"
    assert log_of("acme") == "tenant:acme"
    assert tenant_of("tenant:acme") == "acme"
    assert tenant_of("platform") is None


def test_personal_data_is_committed_not_hashed_in_and_odd_details_never_refuse_an_event() -> None:
    e = event(1, ip="203.0.113.9", userAgent="ua", details={"ratio": 0.25, "inf": float("inf")})
    result = plan_append(Head(log="tenant:acme"), [e], salts=lambda: b"s" * 32)
    (r,) = result.entries
    assert b"203.0.113.9" not in r.entry.encode()
    assert r.payload == {
        "ip": "203.0.113.9",
        "userAgent": "ua",
        "details": {"ratio": "0.25", "inf": "inf"},
    }
    assert r.salt is not None
    assert personal_data_matches(entry=r.entry, payload=r.payload, salt=r.salt)
    assert personal_payload(event(2)) is None
    assert plan_append(Head(log="tenant:acme"), [event(2)]).entries[0].entry.pd is None
    assert jsonable({1: (1.5, None, object)}) == {"1": ["1.5", None, "<class 'object'>"]}


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=300), min_size=1, max_size=6))
def test_batches_build_the_same_tree_and_keep_exactly_the_tile_nodes(sizes: list[int]) -> None:
    head, leaves, stored = appended_in_batches(sizes)
    tree = MemoryTree.from_leaves(leaves)
    assert head.size == len(leaves)
    assert head.root() == tree.root()
    assert head.last == leaves[-1].hex()
    kept = {p for p in stored if p[0] > 0}
    expected = {
        (level, index)
        for level in range(TILE_HEIGHT, tree.size.bit_length() + 1, TILE_HEIGHT)
        for index in range(tree.size >> level)
    }
    assert kept == expected
    assert all(stored[(lv, ix)] == tree.node(level=lv, index=ix) for lv, ix in kept)


@settings(max_examples=60, deadline=None)
@given(st.integers(min_value=1, max_value=1200), st.data())
def test_proofs_over_tiles_equal_proofs_over_the_whole_tree(size: int, data: st.DataObject) -> None:
    _, leaves, stored = appended_in_batches([size])
    tree = MemoryTree.from_leaves(leaves)
    index = data.draw(st.integers(min_value=0, max_value=size - 1))
    old = data.draw(st.integers(min_value=0, max_value=size))
    for proof in (
        lambda n: inclusion_proof(nodes=n, index=index, size=size),
        lambda n: consistency_proof(nodes=n, old_size=old, new_size=size),
        lambda n: tree_root(nodes=n, size=old),
        lambda n: frontier_at(nodes=n, size=old).hashes,
    ):
        wanted = stored_beneath(positions_needed(proof))
        assert wanted <= stored.keys()
        assert len(wanted) <= 2 * (TILE_HEIGHT + 1) * (1 << TILE_HEIGHT)
        assert run_proof(proof, {p: stored[p] for p in wanted}) == proof(tree)


def test_an_empty_head_starts_at_genesis() -> None:
    head = Head(log="platform")
    assert head.last == GENESIS
    assert head.size == 0


def test_the_writers_derived_entries_equal_checked_ones_and_refuse_the_same_event_data() -> None:
    planned = plan_append(Head(log="tenant:acme"), [event(i) for i in range(50)])
    for r in planned.entries:
        e = r.entry
        fields = {name: getattr(e, name) for name in Entry.__dataclass_fields__}
        assert Entry(**fields) == e
        assert Entry.decode(r.raw) == e
    naive = {**fields, "at": datetime(2026, 12, 1)}
    with pytest.raises(ValueError, match="timezone-aware"):
        Entry.derived(**naive)
    with pytest.raises(ValueError, match="required"):
        Entry.derived(**{**fields, "action": ""})
    with pytest.raises(UnicodeEncodeError):
        Entry.derived(**{**fields, "target_id": "\ud800"})


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1) | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=500, deadline=None)
@given(_json_values)
def test_canonical_json_fast_path_equals_the_general_jcs_writer(value: object) -> None:
    try:
        general = entry_module._canonical(value).encode("utf-8")
    except UnicodeEncodeError:
        with pytest.raises(UnicodeEncodeError):
            entry_module.canonical_json(value)
        return
    assert entry_module.canonical_json(value) == general
