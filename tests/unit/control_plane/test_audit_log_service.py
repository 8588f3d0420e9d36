"""The audit log service's rules over an in-memory log (a fake of the AuditLogs port): cursors,
filters re-checked on the entry itself, ranges, the stale-checkpoint rule, proofs that verify
and verification that names a changed entry. The store itself is tested on the stack."""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from caas_control_plane.auth.jwks import ed25519_thumbprint
from caas_control_plane.services.audit_log import (
    AuditCursorError,
    AuditEntryNotFoundError,
    AuditFilter,
    AuditLogService,
    AuditRangeError,
    check_range,
    decode_cursor,
    encode_cursor,
    key_document,
)
from caas_core.auditlog.append import Head
from caas_core.auditlog.checkpoint import (
    Checkpoint,
    CheckpointSigner,
    open_checkpoint,
    origin_for,
)
from caas_core.auditlog.entry import GENESIS, Entry, chain, commit_personal_data
from caas_core.auditlog.export import export_lines
from caas_core.auditlog.merkle import (
    Frontier,
    MemoryTree,
    NodeReader,
    verify_consistency,
    verify_inclusion,
)

pytestmark = pytest.mark.unit

T = TypeVar("T")
SIGNER = CheckpointSigner(name="audit.caas.test", seed=bytes(range(32)))
START = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)
LOG = "tenant:acme"
SALT = bytes(32)


@dataclass(frozen=True)
class Record:
    raw: bytes
    entry: Entry
    hash: str
    payload: Mapping[str, Any] | None
    salt: bytes | None
    copy_action: str  # the query copy beside the entry (may be changed to lie)


def _events(count: int) -> list[dict[str, Any]]:
    return [
        {
            "id": f"evt-{i}",
            "at": START + timedelta(seconds=i),
            "action": "auth.token.issued" if i % 3 else "auth.api_key.scope_denied",
            "outcome": "success" if i % 3 else "failure",
            "actor_type": "api_key",
            "actor_id": f"key-{i % 2}",
            "target_type": "session" if i % 3 else None,
            "target_id": f"ses-{i}" if i % 3 else None,
            "pd": commit_personal_data(payload={"ip": f"203.0.113.{i}"}, salt=SALT),
        }
        for i in range(count)
    ]


class MemoryLogs:
    """One log in memory, with the AuditLogs port's behaviour (checkpoints stored per size)."""

    def __init__(self, count: int) -> None:
        self.records = [
            Record(
                raw=e.encode(),
                entry=e,
                hash=e.hash_hex(),
                payload={"ip": f"203.0.113.{e.seq}"},
                salt=SALT,
                copy_action=e.action,
            )
            for e in chain(log=LOG, events=_events(count))
        ]
        self.notes: dict[int, str] = {}

    def _tree(self) -> MemoryTree:
        return MemoryTree.from_leaves([bytes.fromhex(r.hash) for r in self.records])

    async def head(self, log: str) -> Head:
        frontier = Frontier()
        for record in self.records:
            frontier.append(bytes.fromhex(record.hash))
        last = self.records[-1].hash if self.records else GENESIS
        return Head(log=log, size=frontier.size, frontier=tuple(frontier.hashes), last=last)

    async def entries(self, log: str, *, start: int, end: int) -> Sequence[Record]:
        for record in self.records[start:end]:
            Entry.decode(record.raw)  # as the store: bytes that are no entry cannot be read
        return self.records[start:end]

    async def entry_by_id(self, log: str, event_id: str) -> Record | None:
        return next((r for r in self.records if r.entry.id == event_id), None)

    async def search(
        self, log: str, *, before: int | None, limit: int, **wanted: Any
    ) -> list[Record]:
        # Selects on the query copy of `action` (as the store does), the rest on the entry.
        found = [
            r
            for r in reversed(self.records)
            if (before is None or r.entry.seq < before)
            and (wanted.get("action") in (None, r.copy_action))
            and AuditFilter(**{**wanted, "action": None}).matches(r.entry)
        ]
        return found[:limit]

    async def prove(self, log: str, proof: Callable[[NodeReader], T]) -> T:
        return proof(self._tree())

    async def checkpoint(self, log: str, *, signer: CheckpointSigner) -> tuple[Checkpoint, str]:
        size = len(self.records)
        note = await self.sign_at(log, size, signer=signer)
        return Checkpoint(
            origin=origin_for(key_name=signer.verifier_key.name, log=log),
            size=size,
            root=self._tree().root(size=size),
        ), note

    async def sign_at(self, log: str, size: int, *, signer: CheckpointSigner) -> str:
        origin = origin_for(key_name=signer.verifier_key.name, log=log)
        root = self._tree().root(size=size)
        return self.notes.setdefault(
            size, signer.sign(Checkpoint(origin=origin, size=size, root=root))
        )

    async def latest_checkpoint(self, log: str) -> tuple[int, str] | None:
        return max(self.notes.items()) if self.notes else None

    def export(self, log: str, *, start: int, end: int | None) -> AsyncIterator[bytes]:
        stop = len(self.records) if end is None else end
        entries = [r.entry for r in self.records[:stop]]
        lines = list(export_lines(entries=entries, signer=SIGNER, pruned=start))
        # Entry lines carry the stored bytes, as the store's export does.
        by_seq = {r.entry.seq: r for r in self.records}
        stored = [_stored_line(line, by_seq) for line in lines]

        async def produce() -> AsyncIterator[bytes]:
            await self.entries(log, start=start, end=stop)  # reads (and decodes) as the store's
            for line in stored:
                yield line

        return produce()


def _stored_line(line: bytes, by_seq: Mapping[int, Record]) -> bytes:
    record = json.loads(line)
    if record["type"] != "entry":
        return line
    stored = by_seq[record["entry"]["seq"]]
    return b'{"type":"entry","hash":"' + stored.hash.encode() + b'","entry":' + stored.raw + b"}\n"


def service(logs: MemoryLogs, *, now: datetime = START + timedelta(hours=1)) -> AuditLogService:
    return AuditLogService(
        store=logs,
        export=logs.export,
        signer=SIGNER,
        checkpoint_period=timedelta(seconds=60),
        clock=lambda: now,
    )


def test_cursors_round_trip_and_only_issued_ones_are_taken() -> None:
    for seq in (1, 2, 255, 2**40, 2**53 - 1):
        assert decode_cursor(encode_cursor(seq)) == seq
    issued = encode_cursor(7)
    for forged in ("", "AAAA", issued + "A", issued[:-1], issued + "=", encode_cursor(0), "!!"):
        with pytest.raises(AuditCursorError) as refused:
            decode_cursor(forged)
        assert refused.value.field == "cursor"


def test_ranges_are_half_open_and_refusals_name_the_field() -> None:
    assert check_range(start=None, end=None, size=5, location="query") == (0, 5)
    assert check_range(start=2, end=None, size=5, location="query") == (2, 5)
    assert check_range(start=None, end=None, size=0, location="query") == (0, 0)
    for start, end, field in ((5, None, "from"), (3, 2, "from"), (None, 6, "to"), (None, 0, "to")):
        with pytest.raises(AuditRangeError) as refused:
            check_range(start=start, end=end, size=5, location="body")
        assert (refused.value.field, refused.value.location) == (field, "body")


def test_the_published_key_is_the_note_key_and_its_jwk() -> None:
    document = key_document(SIGNER)
    assert document["verifierKey"] == SIGNER.verifier_key.encode()
    public = Ed25519PublicKey.from_public_bytes(SIGNER.verifier_key.public_key)
    assert document["jwk"]["kid"] == ed25519_thumbprint(public)


async def test_pages_follow_the_cursor_and_filters_are_rechecked_on_the_entry() -> None:
    logs = MemoryLogs(10)
    audit = service(logs)
    seen: list[int] = []
    cursor = None
    while True:
        page = await audit.search("acme", AuditFilter(), cursor=cursor, limit=3)
        seen += [item.entry.seq for item in page.items]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert seen == list(range(9, -1, -1))
    failures = await audit.search("acme", AuditFilter(outcome="failure"), cursor=None, limit=50)
    assert [i.entry.seq for i in failures.items] == [9, 6, 3, 0]
    # A query copy changed in storage selects an entry; the entry itself does not match: hidden.
    logs.records[4] = replace(logs.records[4], copy_action="auth.api_key.scope_denied")
    denied = await audit.search(
        "acme", AuditFilter(action="auth.api_key.scope_denied"), cursor=None, limit=50
    )
    assert [i.entry.seq for i in denied.items] == [9, 6, 3, 0]
    item = denied.items[0]
    assert item.personal_data == {"ip": "203.0.113.9"}
    assert item.personal_data_matches is True


async def test_latest_checkpoint_is_signed_again_only_when_an_entry_waited_too_long() -> None:
    logs = MemoryLogs(4)
    first = await service(logs).latest_checkpoint("acme")
    assert first.size == 4
    logs.records += MemoryLogs(5).records[4:]  # entry 4, logged at START + 4 s
    just_after = START + timedelta(seconds=30)
    assert (await service(logs, now=just_after).latest_checkpoint("acme")).size == 4
    assert (await service(logs).latest_checkpoint("acme")).size == 5


async def test_proofs_verify_against_the_signed_checkpoints() -> None:
    logs = MemoryLogs(7)
    audit = service(logs)
    old = await audit.sign_checkpoint("acme")
    for record in logs.records:
        found = await audit.inclusion("acme", record.entry.id, size=None)
        opened = open_checkpoint(note=found.checkpoint.note, key=SIGNER.verifier_key)
        assert verify_inclusion(
            leaf=found.leaf_hash,
            index=record.entry.seq,
            size=opened.size,
            proof=found.proof,
            root=opened.root,
        )
    logs.records += MemoryLogs(11).records[7:]
    proof = await audit.consistency("acme", old=old.size, new=None)
    assert proof.new.size == 11
    assert verify_consistency(
        old_size=7, new_size=11, old_root=old.root, new_root=proof.new.root, proof=proof.proof
    )
    with pytest.raises(AuditRangeError) as refused:
        await audit.inclusion("acme", "evt-5", size=5)
    assert refused.value.field == "size"
    with pytest.raises(AuditEntryNotFoundError):
        await audit.inclusion("acme", "evt-99", size=None)


async def test_verify_names_a_changed_entry_and_ranges_before_it_still_verify() -> None:
    logs = MemoryLogs(6)
    audit = service(logs)
    assert (await audit.verify("acme", start=None, end=None)).report.ok
    changed = logs.records[3]
    forged = changed.raw.replace(b"auth.api_key.scope_denied", b"auth.api_key.scope_allowed")
    logs.records[3] = replace(changed, raw=forged, entry=Entry.decode(forged))
    broken = (await audit.verify("acme", start=None, end=None)).report
    assert broken.problem is not None
    assert (broken.problem.kind.value, broken.problem.seq) == ("modified", 3)
    assert (await audit.verify("acme", start=1, end=3)).report.ok
    assert hashlib.sha256(b"\x00" + forged).hexdigest() != changed.hash


async def test_an_entry_that_cannot_be_decoded_is_named_after_any_earlier_problem() -> None:
    logs = MemoryLogs(6)
    audit = service(logs)
    # Format version 2: bytes the store cannot decode into an entry.
    logs.records[4] = replace(logs.records[4], raw=logs.records[4].raw.replace(b'"v":1', b'"v":2'))
    broken = (await audit.verify("acme", start=None, end=None)).report
    assert broken.problem is not None
    assert (broken.problem.kind.value, broken.problem.seq, broken.size) == ("malformed", 4, 4)
    changed = logs.records[1]
    forged = changed.raw.replace(b"auth.token.issued", b"auth.token.revoked")
    logs.records[1] = replace(changed, raw=forged, entry=Entry.decode(forged))
    earlier = (await audit.verify("acme", start=None, end=None)).report
    assert earlier.problem is not None
    assert (earlier.problem.kind.value, earlier.problem.seq) == ("modified", 1)
