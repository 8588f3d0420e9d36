"""The audit verifier's pure core: valid batches advance; every corruption stops at its seq."""

from __future__ import annotations

import base64
import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from caas_control_plane.audit_verifier.core import (
    Inconsistency,
    LogState,
    Problem,
    RawEntry,
    advance,
    check_head,
    check_prefix,
    settle,
)
from caas_control_plane.audit_verifier.service import integrity_event
from caas_control_plane.audit_verifier.witness import check_witness
from caas_core.auditlog.append import Head, plan_append
from caas_core.auditlog.checkpoint import Checkpoint, CheckpointSigner, origin_for
from caas_core.auditlog.entry import Entry, chain
from caas_core.auditlog.merkle import Frontier

LOG = "tenant:acme"
SIGNER = CheckpointSigner(name="audit.caas.test", seed=bytes(range(32)))
KEY = SIGNER.verifier_key
START = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)


def _entries(n: int, *, log: str = LOG) -> list[Entry]:
    return chain(
        log=log,
        events=[
            {
                "id": f"evt-{i}",
                "at": START + timedelta(seconds=i),
                "action": "auth.token.issued",
                "outcome": "success",
                "actor_type": "user",
                "actor_id": f"u-{i}",
                "target_type": "session",
                "target_id": f"s-{i}",
            }
            for i in range(n)
        ],
    )


def _stored(entries: list[Entry]) -> list[RawEntry]:
    return [RawEntry(seq=e.seq, raw=e.encode(), hash=e.hash_hex()) for e in entries]


def _root(entries: list[Entry]) -> bytes:
    frontier = Frontier()
    for entry in entries:
        frontier.append(entry.leaf_hash())
    return frontier.root()


def _note(size: int, root: bytes, *, log: str = LOG, signer: CheckpointSigner = SIGNER) -> str:
    origin = origin_for(key_name=signer.verifier_key.name, log=log)
    return signer.sign(Checkpoint(origin=origin, size=size, root=root))


def test_valid_batches_advance_to_the_same_state_as_one_batch() -> None:
    entries = _entries(40)
    stored = _stored(entries)
    whole, problem = advance(LogState(log=LOG), stored)
    assert problem is None
    state = LogState(log=LOG)
    for start in range(0, 40, 7):
        state, problem = advance(state, stored[start : start + 7])
        assert problem is None
    assert state == whole
    assert state.size == 40
    assert state.last == entries[-1].hash_hex()
    assert state.root() == _root(entries)


def test_an_empty_batch_changes_nothing() -> None:
    state, _ = advance(LogState(log=LOG), _stored(_entries(3)))
    assert advance(state, []) == (state, None)


def _tamper_raw(stored: RawEntry, **changes: object) -> RawEntry:
    entry = dataclasses.replace(Entry.decode(stored.raw), **changes)  # type: ignore[arg-type]
    return dataclasses.replace(stored, raw=entry.encode())


@pytest.mark.parametrize(
    ("corrupt", "kind", "seq"),
    [
        # Content changed, stored hash kept.
        (lambda s: s.__setitem__(5, _tamper_raw(s[5], action="x")), Inconsistency.MODIFIED, 5),
        # Content changed and its hash recomputed: the next entry's link breaks.
        (
            lambda s: s.__setitem__(
                5,
                RawEntry(
                    seq=5,
                    raw=(r := _tamper_raw(s[5], outcome="failure").raw),
                    hash=Entry.decode(r).hash_hex(),
                ),
            ),
            Inconsistency.BROKEN_LINK,
            6,
        ),
        (lambda s: s.pop(5), Inconsistency.DELETED, 5),
        (
            lambda s: s.__setitem__(5, dataclasses.replace(s[5], raw=b"{}")),
            Inconsistency.MALFORMED,
            5,
        ),
        # An entry moved to another position (stored seq and content disagree).
        (lambda s: s.__setitem__(5, dataclasses.replace(s[6], seq=5)), Inconsistency.REORDERED, 5),
        (lambda s: s.insert(5, s[4]), Inconsistency.REORDERED, 4),
    ],
    ids=["modified", "rehashed", "deleted", "malformed", "moved", "duplicated"],
)
def test_each_corruption_is_found_at_its_seq(
    corrupt: object, kind: Inconsistency, seq: int
) -> None:
    stored = _stored(_entries(10))
    corrupt(stored)  # type: ignore[operator]
    state, problem = advance(LogState(log=LOG), stored)
    assert problem is not None
    assert (problem.kind, problem.seq) == (kind, seq)
    assert problem.log == LOG
    # The state is the verified prefix: the next pass starts again at the first bad entry
    # (entry 5 rehashed is intact by itself; a copy of 4 read after 4 was verified).
    assert state.size == (6 if kind == Inconsistency.BROKEN_LINK else 5)


def test_an_entry_of_another_log_is_wrong_log() -> None:
    other = _stored(_entries(3, log="tenant:other"))
    _, problem = advance(LogState(log=LOG), other)
    assert problem is not None
    assert (problem.kind, problem.seq) == (Inconsistency.WRONG_LOG, 0)


def test_a_rewritten_predecessor_breaks_the_link_of_the_next_batch() -> None:
    stored = _stored(_entries(10))
    state, _ = advance(LogState(log=LOG), stored[:5])
    forged = _entries(10)
    forged[4] = dataclasses.replace(forged[4], action="forged")
    rest = chain(
        log=LOG,
        events=[
            {k: getattr(e, k) for k in ("id", "at", "action", "outcome", "actor_type")}
            for e in forged[5:]
        ],
        start_seq=5,
        prev=forged[4].hash_hex(),
    )
    _, problem = advance(state, _stored(rest))
    assert problem is not None
    assert (problem.kind, problem.seq) == (Inconsistency.BROKEN_LINK, 5)


def test_checkpoints_are_checked_when_their_size_is_reached() -> None:
    entries = _entries(12)
    good = {4: _note(4, _root(entries[:4])), 12: _note(12, _root(entries))}
    state, problem = advance(LogState(log=LOG), _stored(entries), checkpoints=good, key=KEY)
    assert problem is None
    assert state.size == 12
    # Signed over other entries.
    bad_root = {8: _note(8, _root(entries[:7]))}
    state, problem = advance(LogState(log=LOG), _stored(entries), checkpoints=bad_root, key=KEY)
    assert problem is not None
    assert (problem.kind, problem.seq) == (Inconsistency.ROOT_MISMATCH, 7)
    assert state.size == 12  # the entries themselves still verify
    # Altered, forged (our key's line, another key's signature), of another log, filed under
    # another size, not a note at all.
    stranger = CheckpointSigner(name="audit.caas.test", seed=bytes(32))
    genuine = _note(4, _root(entries[:4]))
    altered = genuine.replace("\n4\n", "\n5\n", 1)
    ours_line = genuine.rsplit("\n\n", 1)[1]
    theirs = _note(4, _root(entries[:3]), signer=stranger)
    forged_blob = theirs.rsplit(" ", 1)[1]
    forged = theirs.rsplit("\n\n", 1)[0] + "\n\n" + ours_line.rsplit(" ", 1)[0] + " "
    forged += base64.b64encode(KEY.key_id + base64.b64decode(forged_blob)[4:]).decode() + "\n"
    for notes, kind in (
        ({4: altered}, Inconsistency.BAD_SIGNATURE),
        ({4: forged}, Inconsistency.BAD_SIGNATURE),
        ({4: "not a note"}, Inconsistency.BAD_CHECKPOINT),
        ({4: _note(4, _root(entries[:4]), log="platform")}, Inconsistency.BAD_CHECKPOINT),
        ({5: _note(4, _root(entries[:4]))}, Inconsistency.BAD_CHECKPOINT),
    ):
        _, problem = advance(LogState(log=LOG), _stored(entries), checkpoints=notes, key=KEY)
        assert problem is not None
        assert problem.kind == kind
    # Signed only by a key the verifier does not know (before a rotation): not its to judge.
    unknown = {4: _note(4, _root(entries[:3]), signer=stranger)}
    _, problem = advance(LogState(log=LOG), _stored(entries), checkpoints=unknown, key=KEY)
    assert problem is None


def test_a_checkpoint_at_the_verified_size_is_checked_before_new_entries() -> None:
    entries = _entries(6)
    state, _ = advance(LogState(log=LOG), _stored(entries[:3]))
    notes = {3: _note(3, _root(entries[:2]))}
    _, problem = advance(state, [], checkpoints=notes, key=KEY)
    assert problem is not None
    assert problem.kind == Inconsistency.ROOT_MISMATCH


def test_the_stored_head_must_end_where_the_entries_end() -> None:
    appended = plan_append(Head(log=LOG), [_event(i) for i in range(5)])
    stored = [
        RawEntry(seq=r.entry.seq, raw=r.entry.encode(), hash=r.hash) for r in appended.entries
    ]
    state, problem = advance(LogState(log=LOG), stored)
    assert problem is None
    assert check_head(state, appended.head) is None
    rewritten = dataclasses.replace(appended.head, last=stored[2].hash)
    found = check_head(state, rewritten)
    assert found is not None
    assert (found.kind, found.seq) == (Inconsistency.HEAD_MISMATCH, 4)
    # A head that moved on is compared once the entries up to it are verified.
    partial, _ = advance(LogState(log=LOG), stored[:3])
    assert check_head(partial, appended.head) is None


def _event(i: int) -> dict[str, object]:
    return {
        "id": f"e-{i}",
        "at": (START + timedelta(seconds=i)).isoformat(),
        "action": "apikey.created",
        "outcome": "success",
        "actor": {"type": "api_key", "id": "k1"},
        "tenant": "acme",
        "target": {"type": "api_key", "id": f"k-{i}"},
        "ip": "10.0.0.1",
        "details": {},
    }


def test_a_prefix_verified_again_must_be_the_one_verified_before() -> None:
    entries = _entries(6)
    verified, _ = advance(LogState(log=LOG), _stored(entries))
    again, _ = advance(LogState(log=LOG), _stored(entries))
    assert check_prefix(verified, again) is None
    other = _entries(6)
    other[5] = dataclasses.replace(other[5], action="rewritten")
    rewritten, problem = advance(LogState(log=LOG), _stored(other))
    assert problem is None  # consistent by itself...
    found = check_prefix(verified, rewritten)
    assert found is not None  # ...but not the log verified before
    assert found.kind == Inconsistency.REWRITTEN


def test_a_problem_is_raised_once_and_forgotten_when_the_log_verifies_again() -> None:
    state = LogState(log=LOG)
    first = Problem(log=LOG, seq=3, kind=Inconsistency.MODIFIED, detail="x")
    state, raised = settle(state, first)
    assert raised == first
    assert not state.consistent
    state, raised = settle(state, dataclasses.replace(first, detail="again"))
    assert raised is None  # the same seq and kind: not raised every pass
    other = Problem(log=LOG, seq=3, kind=Inconsistency.BROKEN_LINK, detail="y")
    state, raised = settle(state, other)
    assert raised == other
    state, raised = settle(state, None)  # repaired
    assert raised is None
    assert state.consistent


def test_evidence_that_cannot_recur_stays_flagged() -> None:
    witness = Problem(log=LOG, seq=2, kind=Inconsistency.WITNESS_MISMATCH, detail="w")
    state, raised = settle(LogState(log=LOG), witness)
    assert raised == witness
    state, raised = settle(state, None)
    assert raised is None
    assert state.flagged == witness
    assert not state.consistent  # no checkpoint is signed over it
    entry_problem = Problem(log=LOG, seq=4, kind=Inconsistency.DELETED, detail="d")
    state, raised = settle(state, entry_problem)
    assert raised == entry_problem
    assert (state.problem, state.flagged) == (entry_problem, witness)


def test_kafka_messages_witness_the_logged_fields() -> None:
    message = {**_event(0), "id": "e-0"}
    (recorded,) = plan_append(Head(log=LOG), [message]).entries
    entry = recorded.entry
    assert check_witness(message, entry) is None
    for field, value in (
        ("action", "apikey.revoked"),
        ("outcome", "failure"),
        ("actor", {"type": "user", "id": "k1"}),
        ("target", {"type": "api_key", "id": "k-9"}),
        ("at", (START + timedelta(microseconds=1)).isoformat()),
        ("tenant", "other"),
    ):
        problem = check_witness({**message, field: value}, entry)
        assert problem is not None, field
        assert problem.kind == Inconsistency.WITNESS_MISMATCH
        assert problem.seq == 0
        assert ("log" if field == "tenant" else field) in problem.detail
    broken = check_witness({**message, "at": "yesterday"}, entry)
    assert broken is not None
    assert "not an audit event" in broken.detail
    # Personal data is committed to, not compared: a message's IP may differ from nothing.
    assert check_witness({**message, "ip": None}, entry) is None


def test_the_state_refuses_an_impossible_frontier() -> None:
    with pytest.raises(ValueError, match="frontier"):
        LogState(log=LOG, size=3, frontier=(bytes(32),), last="a" * 64)


def test_the_integrity_event_is_one_per_log_seq_and_kind() -> None:
    problem = Problem(log=LOG, seq=7, kind=Inconsistency.MODIFIED, detail="changed")
    event = integrity_event(problem, at=START)
    again = integrity_event(dataclasses.replace(problem, detail="other words"), at=START)
    assert event.id == again.id  # two verifiers, or a restart, log it once
    assert event.id != integrity_event(dataclasses.replace(problem, seq=8), at=START).id
    assert event.action == "security.audit.integrity"
    assert event.tenant is None  # the platform's log
    assert (event.target_type, event.target_id) == ("audit_log", LOG)
    assert dict(event.details) == {"log": LOG, "seq": 7, "kind": "modified", "detail": "changed"}
