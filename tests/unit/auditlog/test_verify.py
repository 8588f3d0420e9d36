"""The Must-show property: every single tampering of a stored log is caught at the right line.

Logs are exports (entries with checkpoints every few entries, ending signed). Each case applies
one tampering — a changed field, a deleted, moved or swapped entry, an inserted entry (a replayed
copy, or a forged one with a correct hash that claims a place in the chain) — and the verifier
must name the line of the tampered entry (1-based) and the kind. Valid logs always verify. Both
the strict path and the fast path must give the same answer.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from caas_core.auditlog import fastpath
from caas_core.auditlog.checkpoint import Checkpoint, CheckpointSigner, origin_for
from caas_core.auditlog.entry import Entry
from caas_core.auditlog.export import checkpoint_line, entry_line, export_lines
from caas_core.auditlog.verify import Kind, Report, verify_export

from .conftest import SIGNER, entries

KEY = SIGNER.verifier_key
LOGS = {n: entries(n) for n in (1, 2, 3, 5, 8, 13, 21, 34)}


def _export(n: int, every: int) -> list[bytes]:
    return list(export_lines(entries=LOGS[n], signer=SIGNER, checkpoint_every=every))


def _verify(lines: list[bytes], **kwargs: Any) -> Report:
    strict = verify_export(lines=lines, key=KEY, **kwargs)
    fast = verify_export(lines=lines, key=KEY, strict=False, **kwargs)
    assert fast.problem == strict.problem
    return strict


def _is_entry(line: bytes) -> bool:
    return line.startswith(b'{"type":"entry"')


def _with_entry(line: bytes, change: Any) -> bytes:
    record = json.loads(line)
    change(record)
    return json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"


FIELDS = ["hash", "v", "prev", "seq", "log", "id", "at", "action", "outcome", "pd"]
FIELDS += ["actor.type", "actor.id", "target.type", "target.id"]


def _mutate(line: bytes, field: str, salt: int) -> bytes:
    def change(record: dict[str, Any]) -> None:
        if field == "hash":
            record["hash"] = ("f" if record["hash"][0] != "f" else "0") + record["hash"][1:]
            return
        holder, name = record["entry"], field
        if "." in field:
            outer, name = field.split(".")
            holder = holder[outer]
        value = holder[name]
        if isinstance(value, int):
            holder[name] = value + 1 + salt
        elif value is None:
            holder[name] = f"x{salt}"
        elif name in ("prev", "pd"):
            holder[name] = ("1" if value[salt % 64] != "1" else "2").join(
                (value[: salt % 64], value[salt % 64 + 1 :])
            )
        elif name == "at":
            second = (int(value[17:19]) + 1 + salt % 59) % 60  # always another second
            holder[name] = f"{value[:17]}{second:02d}{value[19:]}"
        else:
            holder[name] = value + chr(0x61 + salt % 26)

    return _with_entry(line, change)


@st.composite
def tampered(draw: st.DrawFn) -> tuple[list[bytes], set[int], set[Kind]]:
    """(export lines, the 1-based line the verifier must name, the kinds it may give); a copy
    inserted next to its original may be named at either of the two identical lines."""
    n = draw(st.sampled_from(sorted(LOGS)))
    lines = _export(n, draw(st.integers(1, 6)))
    at = [i for i, line in enumerate(lines) if _is_entry(line)]
    op = draw(st.sampled_from(["mutate", "delete", "swap", "move", "replay", "forge"]))
    p = draw(st.sampled_from(at))
    if op == "mutate":
        field, salt = draw(st.sampled_from(FIELDS)), draw(st.integers(0, 200))
        lines[p] = _mutate(lines[p], field, salt)
        return lines, {p + 1}, {Kind.MODIFIED, Kind.MALFORMED}
    if op == "delete":
        del lines[p]
        return lines, {p + 1}, {Kind.DELETED}
    if op in ("swap", "move"):
        if len(at) < 2:
            return _export(n, 1), set(), set()
        q = draw(st.sampled_from([i for i in at if i != p]))
        p, q = min(p, q), max(p, q)
        if op == "swap":
            lines[p], lines[q] = lines[q], lines[p]
        else:
            forward = draw(st.booleans())
            if forward:
                lines.insert(q, lines.pop(p))
            else:
                lines.insert(p, lines.pop(q))
        return lines, {p + 1}, {Kind.REORDERED}
    where = draw(st.sampled_from([*at, at[-1] + 1]))  # before an entry, or after the last
    if op == "replay":
        extra = lines[draw(st.sampled_from(at))]
    else:  # a forged entry with a correct own hash, claiming a place
        log = LOGS[n]
        seq = draw(st.integers(0, n - 1))
        link = draw(st.sampled_from(["fits", "random"]))
        prev = log[seq].prev if link == "fits" else "ab" * 32
        real = log[seq]
        forged = Entry(
            log=real.log,
            seq=seq,
            prev=prev if seq else real.prev,
            id="forged",
            at=real.at,
            action="auth.login",
            outcome="success",
            actor_type="user",
        )
        extra = entry_line(forged)
    lines.insert(where, extra)
    same = {i + 1 for i in (where - 1, where + 1) if 0 <= i < len(lines) and lines[i] == extra}
    return lines, {where + 1} | same, {Kind.INSERTED}


@settings(
    max_examples=1200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(case=tampered())
def test_every_tampering_is_caught_at_the_tampered_line(
    case: tuple[list[bytes], set[int], set[Kind]],
) -> None:
    lines, at, kinds = case
    report = _verify(lines)
    if not kinds:  # nothing to tamper with in a one-entry log: it must verify
        assert report.ok
        return
    assert report.problem is not None, lines
    assert report.problem.line in at, (report.problem, at)
    assert report.problem.kind in kinds, (report.problem, kinds)


@settings(max_examples=60, deadline=None)
@given(n=st.sampled_from(sorted(LOGS)), every=st.integers(1, 40))
def test_valid_logs_always_verify(n: int, every: int) -> None:
    report = _verify(_export(n, every))
    assert report.ok, report.problem
    assert report.size == n
    assert report.log == "tenant:acme"


def test_a_large_log_verifies_on_both_paths_with_progress() -> None:
    log = entries(3000)
    lines = list(export_lines(entries=log, signer=SIGNER, checkpoint_every=700))
    seen: list[tuple[int, int]] = []
    report = verify_export(lines=lines, key=KEY, strict=False, progress=lambda *a: seen.append(a))
    assert report.ok
    assert report.entries == 3000
    assert seen[-1] == (len(lines), sum(map(len, lines)))
    tampered = list(lines)
    tampered[2500] = _mutate(tampered[2500], "action", 3)
    problem = verify_export(lines=tampered, key=KEY, strict=False).problem
    assert problem is not None
    assert (problem.kind, problem.line) == (Kind.MODIFIED, 2501)


def test_pruned_prefix_keeps_the_rest_verifiable() -> None:
    log = LOGS[34]
    lines = list(export_lines(entries=log, signer=SIGNER, checkpoint_every=5, pruned=12))
    report = _verify(lines)
    assert report.ok, report.problem
    assert report.entries == 34 - 12
    record = json.loads(lines[0])
    record["frontier"][0] = "00" * 32
    bad = [json.dumps(record).encode() + b"\n", *lines[1:]]
    assert _verify(bad).problem.kind is Kind.BAD_PRUNED  # type: ignore[union-attr]


def test_forged_checkpoints_and_wrong_keys_are_caught() -> None:
    lines = _export(8, 4)
    last = json.loads(lines[-1])["note"]
    # The body changed under the signature (another root): the signature fails.
    forged = last.replace(last.split("\n")[2], "A" * 43 + "=")
    problem = _verify([*lines[:-1], checkpoint_line(forged)]).problem
    assert problem is not None
    assert (problem.kind, problem.line) == (Kind.BAD_SIGNATURE, len(lines))
    # Signed by another key with the same name: not our key id, so not signed by the key.
    mallory = CheckpointSigner.generate(name=KEY.name)
    checkpoint = Checkpoint(
        origin=origin_for(key_name=KEY.name, log="tenant:acme"), size=8, root=bytes(32)
    )
    problem = _verify([*lines[:-1], checkpoint_line(mallory.sign(checkpoint))]).problem
    assert problem is not None
    assert problem.kind is Kind.BAD_SIGNATURE
    # Verified with the wrong key: no checkpoint is signed by it.
    report = verify_export(lines=lines, key=mallory.verifier_key)
    assert report.problem is not None
    assert report.problem.kind is Kind.BAD_SIGNATURE
    # A correct signature over a wrong root: entries rewritten and re-signed don't match.
    resigned = SIGNER.sign(checkpoint)
    problem = _verify([*lines[:-1], checkpoint_line(resigned)]).problem
    assert problem is not None
    assert problem.kind is Kind.ROOT_MISMATCH


def test_trusted_checkpoints_reveal_rewritten_history() -> None:
    lines = _export(13, 13)
    good = verify_export(lines=lines, key=KEY)
    earlier = Checkpoint(origin="audit.caas.test/tenant:acme", size=5, root=bytes(32))
    problem = _verify(lines, trusted=[earlier]).problem
    assert problem is not None
    assert problem.kind is Kind.INCONSISTENT
    later = Checkpoint(origin="audit.caas.test/tenant:acme", size=20, root=good.root)
    problem = _verify(lines, trusted=[later]).problem
    assert problem is not None
    assert problem.kind is Kind.DELETED
    same = Checkpoint(origin="audit.caas.test/tenant:acme", size=13, root=good.root)
    assert _verify(lines, trusted=[same]).ok


def test_an_unsigned_tail_and_another_log_are_refused() -> None:
    lines = _export(8, 4)
    problem = _verify(lines[:-1]).problem  # the last checkpoint dropped: the tail is unsigned
    assert problem is not None
    assert (problem.kind, problem.line) == (Kind.UNSIGNED_TAIL, 6)
    other = list(export_lines(entries=entries(3, log="tenant:other"), signer=SIGNER))
    problem = verify_export(lines=other, key=KEY, log="tenant:acme").problem
    assert problem is not None
    assert problem.kind is Kind.WRONG_LOG


@pytest.mark.parametrize("junk", [b"not json\n", b'{"type":"what"}\n', b"[1]\n"])
def test_junk_lines_are_malformed(junk: bytes) -> None:
    lines = _export(3, 3)
    problem = _verify([junk, *lines]).problem
    assert problem is not None
    assert (problem.kind, problem.line) == (Kind.MALFORMED, 1)


def test_the_strict_batch_check_accepts_what_the_core_writes_and_nothing_else() -> None:
    lines = [line for line in _export(34, 100) if _is_entry(line)]
    assert fastpath.well_formed(lines)
    bad = list(lines)
    bad[3] = bad[3].replace(b'"id":"evt-0003"', b'"id":7')
    assert not fastpath.well_formed(bad)
    bad[3] = lines[3].replace(b'"at":"2026-12-01T02:00:03', b'"at":"2026-13-01T02:00:03')
    assert not fastpath.well_formed(bad)
    bad[3] = re.sub(rb'"action":"[^"]*"', b'"action":""', lines[3])
    assert bad[3] != lines[3]
    assert not fastpath.well_formed(bad)
    bad[3] = lines[3].replace(b'"actor":{"type":"user","id"', b'"actor":{"id":"x","type"')
    assert not fastpath.well_formed(bad)
    bad[4] = re.sub(rb'"pd":"[0-9a-f]{64}"', b'"pd":"' + b"z" * 64 + b'"', lines[4])
    assert bad[4] != lines[4]
    assert not fastpath.well_formed(bad)
    bad = [*lines[:5], lines[5].replace(b'"outcome":', b'"outcome" :'), *lines[6:]]
    assert not fastpath.well_formed(bad)
