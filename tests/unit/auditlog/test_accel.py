"""The compiled accelerator against the pure Python path it accelerates: the same answers.

`fastpath.check_entries` and `Frontier.extend` define the fast path; accel.c must give their
results byte for byte — the leaf hashes, every "not sure", the folded frontier — and the verifier
the same Report either way, on valid exports and on tampered ones (the generators of
test_verify.py, plus byte-level changes). bootstrap builds the accelerator, so a machine where it
is missing fails here rather than silently testing the pure path twice.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from caas_core.auditlog import accel, fastpath
from caas_core.auditlog.entry import GENESIS
from caas_core.auditlog.export import BODY_AT, ENTRY_PREFIX, HASH_AT, PREV_AT, SEQ_AT, export_lines
from caas_core.auditlog.merkle import Frontier, MemoryTree, frontier_at
from caas_core.auditlog.verify import Report, verify_export

from .conftest import SIGNER, entries
from .test_verify import KEY, LOGS, _export, _mutate, tampered

ODD_LOG = 'tenant:50% "é"\\'  # %, quotes, non-ASCII and a backslash in the seq template
ODD = list(export_lines(entries=entries(40, log=ODD_LOG), signer=SIGNER, checkpoint_every=7))
BIG = list(export_lines(entries=entries(3000), signer=SIGNER, checkpoint_every=700))
SLOW = settings(
    max_examples=400,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


@contextmanager
def _path(*, accelerated: bool) -> Iterator[None]:
    before = fastpath.accelerated
    fastpath.accelerated = accelerated
    try:
        yield
    finally:
        fastpath.accelerated = before


def _both(lines: list[bytes], **kwargs: Any) -> Report:
    with _path(accelerated=True):
        fast = verify_export(lines=lines, key=KEY, **kwargs)
    with _path(accelerated=False):
        pure = verify_export(lines=lines, key=KEY, **kwargs)
    assert fast == pure
    return fast


def test_the_accelerator_is_built_and_chosen() -> None:
    # A failure, not a skip: hack/bootstrap.sh (make test) builds it on every machine.
    assert accel.AVAILABLE, "not built: run hack/bootstrap.sh (hack/build_audit_accelerator.py)"
    assert fastpath.accelerated


def _entry_run(lines: list[bytes]) -> list[bytes]:
    return [line for line in lines if line.startswith(ENTRY_PREFIX)]


@st.composite
def batches(draw: st.DrawFn) -> tuple[list[bytes], int, bytes, bytes]:
    """(lines, seq, prev, template) as the verifier would pass them, often intact, often not."""
    source = draw(st.sampled_from(["small", "odd", "tampered"]))
    if source == "small":
        n = draw(st.sampled_from(sorted(LOGS)))
        lines, log = _export(n, n), "tenant:acme"
    elif source == "odd":
        lines, log = ODD, ODD_LOG
    else:
        lines, log = draw(tampered())[0], "tenant:acme"
    run = _entry_run(lines) or _entry_run(_export(1, 1))  # a tampering may leave no entry
    start = draw(st.integers(0, len(run) - 1))
    run = run[start : start + draw(st.integers(1, len(run) - start))]
    seq, prev = start, (GENESIS if start == 0 else run[0][PREV_AT : PREV_AT + 64].decode())
    if draw(st.booleans()):  # byte-level damage: one byte changed, dropped or added
        i = draw(st.integers(0, len(run) - 1))
        edges = [HASH_AT, BODY_AT, PREV_AT, SEQ_AT, len(run[i])]  # where the layout's parts meet
        near = st.sampled_from(edges).flatmap(lambda e: st.integers(e - 3, e + 1))
        at = min(max(draw(st.integers(0, len(run[i])) | near), 0), len(run[i]))
        byte = bytes([draw(st.integers(0, 255))])
        how = draw(st.sampled_from(["set", "drop", "add"]))
        tail = run[i][at + 1 :] if how != "add" else run[i][at:]
        run[i] = run[i][:at] + (b"" if how == "drop" else byte) + tail
        if draw(st.booleans()):  # and re-hashed, and re-linked: only the layout is wrong
            _rehash(run, i)
    if draw(st.booleans()):  # the verifier's state disagrees with the lines
        seq = draw(st.sampled_from([seq + 1, max(seq - 1, 0), seq + 10**6, 2**63 + seq]))
        prev = draw(st.sampled_from([prev, "ab" * 32, prev[:63], prev + "0", prev.upper()]))
    template = fastpath.seq_template(draw(st.sampled_from([log, "tenant:other", "50%"])))
    return run, seq, prev.encode(), template


def _rehash(run: list[bytes], i: int) -> None:
    """Give lines i, i+1, … correct own hashes and links, as a forger would."""
    for j in range(i, len(run)):
        line = run[j]
        if j > i:
            line = line[:PREV_AT] + run[j - 1][HASH_AT : HASH_AT + 64] + line[PREV_AT + 64 :]
        own = hashlib.sha256(b"\x00" + line[BODY_AT:-2]).hexdigest().encode()
        run[j] = line[:HASH_AT] + own + line[HASH_AT + 64 :]


@SLOW
@given(case=batches())
def test_check_entries_gives_the_pure_paths_answers(
    case: tuple[list[bytes], int, bytes, bytes],
) -> None:
    lines, seq, prev, template = case
    pure = fastpath.check_entries(lines, seq=seq, prev=prev, template=template)
    event("intact" if pure else "not sure")
    try:
        fast = accel.check_entries(lines, seq=seq, prev=prev, template=template)
    except LookupError:  # outside the C code's range: the pure path answers, by design
        assert seq > 2**62
        return
    assert fast == pure


def _frontier(size: int) -> Frontier:
    tree = MemoryTree.from_leaves([hashlib.sha256(b"%d" % i).digest() for i in range(size)])
    return frontier_at(nodes=tree, size=size)


@settings(max_examples=300, deadline=None)
@given(size=st.integers(0, 600), count=st.integers(0, 700), seed=st.binary(max_size=4))
def test_frontiers_fold_as_frontier_extend_does(size: int, count: int, seed: bytes) -> None:
    leaves = [hashlib.sha256(seed + b"%d" % i).digest() for i in range(count)]
    pure = _frontier(size)
    pure.extend(leaves)
    fast = accel.extended(_frontier(size), b"".join(leaves))
    assert (fast.size, fast.hashes, fast.root()) == (pure.size, pure.hashes, pure.root())


@SLOW
@given(case=batches(), size=st.integers(0, 40), pending=st.booleans())
def test_check_and_extend_is_the_same_on_both_paths(
    case: tuple[list[bytes], int, bytes, bytes], size: int, pending: bool
) -> None:
    lines, seq, prev, template = case
    left = bytes(range(32)) if pending else None
    answers = []
    for accelerated in (True, False):
        with _path(accelerated=accelerated):
            frontier = _frontier(size)
            got = fastpath.check_and_extend(
                lines, seq=seq, prev=prev, template=template, frontier=frontier, pending=left
            )
        assert frontier.hashes == _frontier(size).hashes  # left as it was
        answers.append(None if got is None else (got[0].size, got[0].hashes, got[1]))
    assert answers[0] == answers[1]


@SLOW
@given(
    case=batches(),
    others=st.lists(st.tuples(st.integers(0, 40), st.sampled_from(ODD[7:9])), max_size=3),
    limit=st.integers(0, 45),
)
def test_runs_are_found_and_checked_alike_on_both_paths(
    case: tuple[list[bytes], int, bytes, bytes], others: list[tuple[int, bytes]], limit: int
) -> None:
    lines, seq, prev, template = case
    for at, line in others:  # checkpoint lines (and an entry line again) among the entries
        lines.insert(min(at, len(lines)), line)
    answers = []
    for accelerated in (True, False):
        with _path(accelerated=accelerated):
            run, got = fastpath.check_run(
                lines,
                limit=limit,
                seq=seq,
                prev=prev,
                template=template,
                frontier=_frontier(5),
                pending=None,
            )
        answers.append((run, None if got is None else (got[0].hashes, got[1])))
    assert answers[0] == answers[1]


def test_a_line_split_inside_the_prefix_is_not_an_entry_line() -> None:
    line = _entry_run(ODD)[0]
    split = [line[:10], line[10:], line]
    for accelerated in (True, False):
        with _path(accelerated=accelerated):
            run, checked = fastpath.check_run(
                split,
                limit=3,
                seq=0,
                prev=GENESIS.encode(),
                template=fastpath.seq_template(ODD_LOG),
                frontier=Frontier(),
                pending=None,
            )
        assert (run, checked) == (0, None)


def test_without_the_accelerator_the_verifier_takes_the_pure_path() -> None:
    # As on an auditor's machine without a compiler: the module cannot be imported.
    code = (
        "import sys; sys.modules['caas_core.auditlog._accel'] = None\n"
        "from caas_core.auditlog import accel, fastpath\n"
        "from caas_core.auditlog.export import export_lines\n"
        "from caas_core.auditlog.verify import verify_export\n"
        "from tests.unit.auditlog.conftest import SIGNER, entries\n"
        "assert not accel.AVAILABLE and not fastpath.accelerated\n"
        "lines = list(export_lines(entries=entries(50), signer=SIGNER, checkpoint_every=20))\n"
        "assert verify_export(lines=lines, key=SIGNER.verifier_key).ok\n"
    )
    root = Path(__file__).resolve().parents[3]
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr


@SLOW
@given(case=tampered(), strict=st.booleans())
def test_reports_are_the_same_on_both_paths(
    case: tuple[list[bytes], set[int], set[Any]], strict: bool
) -> None:
    _both(case[0], strict=strict)


@settings(max_examples=150, deadline=None)
@given(
    line=st.integers(0, len(ODD) - 1),
    at=st.integers(0, 500),
    byte=st.integers(0, 255),
    strict=st.booleans(),
)
def test_byte_changes_give_the_same_report_on_both_paths(
    line: int, at: int, byte: int, strict: bool
) -> None:
    lines = list(ODD)
    at %= len(lines[line])
    lines[line] = lines[line][:at] + bytes([byte]) + lines[line][at + 1 :]
    _both(lines, strict=strict)


def test_a_large_export_verifies_alike_intact_and_tampered() -> None:
    for strict in (False, True):
        report = _both(BIG, strict=strict)
        assert report.ok
        assert report.entries == 3000
    at_entries = [i for i, line in enumerate(BIG) if line.startswith(ENTRY_PREFIX)]
    for at in (at_entries[1], at_entries[699], at_entries[700], at_entries[1500], at_entries[-1]):
        tampered_lines = list(BIG)
        tampered_lines[at] = _mutate(tampered_lines[at], "action", at)
        report = _both(tampered_lines, strict=False)
        assert report.problem is not None
        assert report.problem.line == at + 1


def test_every_byte_of_the_layout_forged_gives_the_same_answer() -> None:
    """Each byte of the fixed parts and the line's end changed in a forgery with correct own
    hashes and links: only the layout checks can refuse it, on both paths alike."""
    run = _entry_run(ODD)[3:9]
    template = fastpath.seq_template(ODD_LOG)
    prev = run[0][PREV_AT : PREV_AT + 64]
    size = len(run[2])
    for at in [*range(SEQ_AT + 40), *range(size - 4, size)]:
        for byte in (b"x", b"}", b"\n"):
            forged = list(run)
            forged[2] = forged[2][:at] + byte + forged[2][at + 1 :]
            _rehash(forged, 2)
            pure = fastpath.check_entries(forged, seq=3, prev=prev, template=template)
            fast = accel.check_entries(forged, seq=3, prev=prev, template=template)
            assert fast == pure, (at, byte)
    assert fastpath.check_entries(run, seq=3, prev=prev, template=template) is not None
