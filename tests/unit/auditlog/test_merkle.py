"""The Merkle tree against RFC 9162's recursive definitions, written out naively again here."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from caas_core.auditlog import merkle


def _h(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def _mth(leaves: list[bytes]) -> bytes:
    """RFC 9162 §2.1.1 MTH over entries, straight from the definition."""
    n = len(leaves)
    if n == 0:
        return _h(b"")
    if n == 1:
        return _h(b"\x00" + leaves[0])
    k = 1
    while k * 2 < n:
        k *= 2
    return _h(b"\x01" + _mth(leaves[:k]) + _mth(leaves[k:]))


def _path(m: int, leaves: list[bytes]) -> list[bytes]:
    """RFC 9162 §2.1.3.1 PATH(m, D[n])."""
    n = len(leaves)
    if n == 1:
        return []
    k = 1
    while k * 2 < n:
        k *= 2
    if m < k:
        return [*_path(m, leaves[:k]), _mth(leaves[k:])]
    return [*_path(m - k, leaves[k:]), _mth(leaves[:k])]


def _subproof(m: int, leaves: list[bytes], b: bool) -> list[bytes]:
    """RFC 9162 §2.1.4.1 SUBPROOF(m, D[n], b)."""
    n = len(leaves)
    if m == n:
        return [] if b else [_mth(leaves)]
    k = 1
    while k * 2 < n:
        k *= 2
    if m <= k:
        return [*_subproof(m, leaves[:k], b), _mth(leaves[k:])]
    return [*_subproof(m - k, leaves[k:], False), _mth(leaves[:k])]


def _entries(n: int) -> list[bytes]:
    return [f"entry {i}".encode() for i in range(n)]


MAX = 70
ENTRIES = _entries(MAX)
TREE = merkle.MemoryTree.from_leaves([merkle.leaf_hash(e) for e in ENTRIES])
ROOTS = [_mth(ENTRIES[:n]) for n in range(MAX + 1)]


def test_hashes_are_domain_separated() -> None:
    assert merkle.leaf_hash(b"x") == _h(b"\x00x")
    assert merkle.node_hash(b"a" * 32, b"b" * 32) == _h(b"\x01" + b"a" * 32 + b"b" * 32)
    assert _h(b"") == merkle.EMPTY_ROOT


def test_roots_of_every_size_match_the_definition() -> None:
    frontier = merkle.Frontier()
    assert frontier.root() == ROOTS[0] == TREE.root(size=0)
    for n in range(1, MAX + 1):
        frontier.append(merkle.leaf_hash(ENTRIES[n - 1]))
        assert frontier.size == n
        assert len(frontier.hashes) == n.bit_count()
        assert frontier.root() == ROOTS[n] == TREE.root(size=n)
        restored = merkle.frontier_at(nodes=TREE, size=n)
        assert restored.hashes == frontier.hashes
        assert restored.root() == ROOTS[n]


def test_inclusion_proofs_for_every_index_and_size() -> None:
    for n in range(1, MAX + 1):
        for m in range(n):
            proof = merkle.inclusion_proof(nodes=TREE, index=m, size=n)
            assert proof == _path(m, ENTRIES[:n]), (m, n)
            leaf = merkle.leaf_hash(ENTRIES[m])
            assert merkle.verify_inclusion(leaf=leaf, index=m, size=n, proof=proof, root=ROOTS[n])
            # The same proof proves nothing else: another leaf, index, size or root.
            other = merkle.leaf_hash(b"other")
            assert not merkle.verify_inclusion(
                leaf=other, index=m, size=n, proof=proof, root=ROOTS[n]
            )
            if n > 1:
                wrong = (m + 1) % n
                assert not merkle.verify_inclusion(
                    leaf=leaf, index=wrong, size=n, proof=proof, root=ROOTS[n]
                )
            if n < MAX:  # not a proof for the grown tree
                assert not merkle.verify_inclusion(
                    leaf=leaf, index=m, size=n + 1, proof=proof, root=ROOTS[n + 1]
                )
            assert not merkle.verify_inclusion(
                leaf=leaf, index=m, size=n, proof=[*proof, ROOTS[0]], root=ROOTS[n]
            )
            if proof:
                assert not merkle.verify_inclusion(
                    leaf=leaf, index=m, size=n, proof=proof[:-1], root=ROOTS[n]
                )


def test_consistency_proofs_for_every_pair_of_sizes() -> None:
    for n in range(0, MAX + 1):
        for m in range(0, n + 1):
            proof = merkle.consistency_proof(nodes=TREE, old_size=m, new_size=n)
            expected = _subproof(m, ENTRIES[:n], True) if 0 < m < n else []
            assert proof == expected, (m, n)
            assert merkle.verify_consistency(
                old_size=m, new_size=n, old_root=ROOTS[m], new_root=ROOTS[n], proof=proof
            ), (m, n)
            if 0 < m < n:
                # A forked tree: another old root, another new root, or a cut or padded proof.
                assert not merkle.verify_consistency(
                    old_size=m, new_size=n, old_root=ROOTS[m - 1], new_root=ROOTS[n], proof=proof
                )
                assert not merkle.verify_consistency(
                    old_size=m, new_size=n, old_root=ROOTS[m], new_root=ROOTS[n - 1], proof=proof
                )
                assert not merkle.verify_consistency(
                    old_size=m, new_size=n, old_root=ROOTS[m], new_root=ROOTS[n], proof=proof[:-1]
                )
                assert not merkle.verify_consistency(
                    old_size=m,
                    new_size=n,
                    old_root=ROOTS[m],
                    new_root=ROOTS[n],
                    proof=[*proof, ROOTS[1]],
                )


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="not in a tree"):
        merkle.inclusion_proof(nodes=TREE, index=5, size=5)
    with pytest.raises(ValueError, match="no consistency proof"):
        merkle.consistency_proof(nodes=TREE, old_size=6, new_size=5)
    with pytest.raises(ValueError, match="hashes"):
        merkle.Frontier(size=3, hashes=[ROOTS[1]])
    assert not merkle.verify_consistency(
        old_size=3, new_size=2, old_root=ROOTS[3], new_root=ROOTS[2], proof=[]
    )
    assert not merkle.verify_consistency(
        old_size=2, new_size=2, old_root=ROOTS[2], new_root=ROOTS[2], proof=[ROOTS[1]]
    )
    assert merkle.root_from_inclusion(leaf=ROOTS[0], index=0, size=0, proof=[]) is None


def _flip(proof: list[bytes], at: int, bit: int) -> list[bytes]:
    tampered = list(proof)
    element = bytearray(tampered[at])
    element[bit // 8] ^= 1 << (bit % 8)
    tampered[at] = bytes(element)
    return tampered


@settings(max_examples=150, deadline=None)
@given(
    size=st.integers(1, 3000),
    data=st.data(),
)
def test_large_trees_prove_inclusion_and_consistency(size: int, data: st.DataObject) -> None:
    leaves = [merkle.leaf_hash(i.to_bytes(4, "big")) for i in range(size)]
    tree = merkle.MemoryTree.from_leaves(leaves)
    frontier = merkle.Frontier()
    for leaf in leaves:
        frontier.append(leaf)
    root = tree.root()
    assert frontier.root() == root

    index = data.draw(st.integers(0, size - 1), label="index")
    proof = merkle.inclusion_proof(nodes=tree, index=index, size=size)
    assert len(proof) <= size.bit_length()
    assert merkle.verify_inclusion(
        leaf=leaves[index], index=index, size=size, proof=proof, root=root
    )
    if proof:
        at = data.draw(st.integers(0, len(proof) - 1), label="at")
        bit = data.draw(st.integers(0, 255), label="bit")
        tampered = _flip(proof, at, bit)
        assert not merkle.verify_inclusion(
            leaf=leaves[index], index=index, size=size, proof=tampered, root=root
        )

    old = data.draw(st.integers(1, size), label="old")
    old_root = tree.root(size=old)
    consistency = merkle.consistency_proof(nodes=tree, old_size=old, new_size=size)
    assert merkle.verify_consistency(
        old_size=old, new_size=size, old_root=old_root, new_root=root, proof=consistency
    )
    if consistency:
        at = data.draw(st.integers(0, len(consistency) - 1), label="c_at")
        bit = data.draw(st.integers(0, 255), label="c_bit")
        assert not merkle.verify_consistency(
            old_size=old,
            new_size=size,
            old_root=old_root,
            new_root=root,
            proof=_flip(consistency, at, bit),
        )


@settings(max_examples=60, deadline=None)
@given(start=st.integers(0, 600), count=st.integers(0, 1500))
def test_extend_equals_appending_one_by_one(start: int, count: int) -> None:
    leaves = [merkle.leaf_hash(i.to_bytes(4, "big")) for i in range(start + count)]
    one, bulk = merkle.Frontier(), merkle.Frontier()
    for leaf in leaves:
        one.append(leaf)
    bulk.extend(leaves[:start])
    bulk.extend(leaves[start:])
    assert bulk.size == one.size
    assert bulk.hashes == one.hashes
    assert bulk.root() == one.root()
