"""A tenant's view of the tamper-evident audit log: query, checkpoints, proofs, checks, export.

(Just over 500 lines: the six operations share one confinement rule and one reading of stored
entries, stated once below; each is short.)

Every call is confined to one log, `tenant:<name>` of the caller's key (`log_of`): the tenant is
never a parameter a caller can choose, so no filter, cursor, id or range reaches another log.

What is shown comes from the stored canonical bytes `e` (the entry as hashed), never from the
query copies beside it: the copies only select. Ranges are half-open, `from` ≤ seq < `to`, so a
`to` is a tree size and lines up with checkpoints; proofs are RFC 9162 over the stored tree.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import json
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, ClassVar, Final, TypeVar

from caas_control_plane.ports import AuditExport, AuditLogs, AuditRecord
from caas_control_plane.services.errors import ServiceError
from caas_core.auditlog.append import log_of
from caas_core.auditlog.checkpoint import Checkpoint, CheckpointSigner, split_note
from caas_core.auditlog.entry import MAX_INT, Entry, EntryFormatError, personal_data_matches
from caas_core.auditlog.merkle import EMPTY_ROOT, consistency_proof, inclusion_proof
from caas_core.auditlog.problems import Kind, Problem, Report
from caas_core.auditlog.verify import verify_export
from caas_core.domain.base64url import b64url_encode

R = TypeVar("R")
MAX_PAGE: Final = 200
_CURSOR_VERSION: Final = 1
_VERIFY_BATCH: Final = 1024  # export lines handed to the verifier's thread at a time


class AuditRequestError(ServiceError):
    """A refused audit request, naming the parameter at fault (`location`, `field`)."""

    def __init__(self, detail: str, *, location: str, field: str) -> None:
        super().__init__(detail)
        self.location = location
        self.field = field


class AuditRangeError(AuditRequestError):
    """A range or tree size the log cannot answer (empty, reversed, or beyond its size)."""

    status: ClassVar[int] = 400
    code: ClassVar[str] = "invalid-audit-range"
    title: ClassVar[str] = "Invalid audit log range"


class AuditCursorError(AuditRequestError):
    """A cursor this API did not issue."""

    status: ClassVar[int] = 400
    code: ClassVar[str] = "invalid-cursor"
    title: ClassVar[str] = "Invalid cursor"


class AuditEntryNotFoundError(AuditRequestError):
    """No entry with this id in the caller's log (another tenant's looks the same)."""

    status: ClassVar[int] = 404
    code: ClassVar[str] = "not-found"
    title: ClassVar[str] = "Not found"


class AuditLogCorruptError(ServiceError):
    """A stored entry that is not a canonical entry at all: the log was altered in storage."""

    status: ClassVar[int] = 500
    code: ClassVar[str] = "audit-log-corrupt"
    title: ClassVar[str] = "Audit log corrupt"


# -- pure parts: cursors, filters, the published key ---------------------------------------------


def encode_cursor(before: int) -> str:
    """An opaque cursor continuing a listing below seq `before`."""
    return b64url_encode(bytes([_CURSOR_VERSION]) + before.to_bytes(8, "big"))


def decode_cursor(cursor: str) -> int:
    """The seq a cursor continues below (AuditCursorError: not one `encode_cursor` made)."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    except (binascii.Error, ValueError):
        raw = b""
    before = int.from_bytes(raw[1:], "big") if len(raw) == 9 else -1
    # Only the one spelling encode_cursor gives (base64 decoding forgives more than that).
    if not 0 < before <= MAX_INT or encode_cursor(before) != cursor:
        raise AuditCursorError(
            "the cursor is not one this API issued", location="query", field="cursor"
        )
    return before


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditFilter:
    """What a listing selects: every given field must match (`since` ≤ at < `until`)."""

    action: str | None = None
    outcome: str | None = None
    actor_id: str | None = None
    target_type: str | None = None
    target_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    def matches(self, entry: Entry) -> bool:
        """Whether the entry itself (not its query copies) is selected."""
        pairs = (
            (self.action, entry.action),
            (self.outcome, entry.outcome),
            (self.actor_id, entry.actor_id),
            (self.target_type, entry.target_type),
            (self.target_id, entry.target_id),
        )
        return (
            all(wanted is None or wanted == value for wanted, value in pairs)
            and (self.since is None or entry.at >= self.since)
            and (self.until is None or entry.at < self.until)
        )


def key_document(signer: CheckpointSigner) -> dict[str, Any]:
    """The published checkpoint key: its note verifier key and the same key as a JWK (RFC 8037,
    `kid` its RFC 7638 thumbprint) for tools that read JWKs."""
    key = signer.verifier_key
    x = b64url_encode(key.public_key)
    members = json.dumps({"crv": "Ed25519", "kty": "OKP", "x": x}, separators=(",", ":"))
    kid = b64url_encode(hashlib.sha256(members.encode()).digest())
    return {
        "name": key.name,
        "verifierKey": key.encode(),
        "jwk": {"kty": "OKP", "crv": "Ed25519", "x": x, "kid": kid, "alg": "EdDSA"},
    }


# -- what the service answers ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditItem:
    """One entry as hashed, its leaf hash, and its personal data while kept."""

    entry: Entry
    hash: str
    personal_data: Mapping[str, Any] | None
    personal_data_matches: bool | None  # the payload is the one committed to (None: erased)


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditPage:
    """A page of a listing, newest first, and the cursor of the next one (None: the last)."""

    items: list[AuditItem]
    next_cursor: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class SignedHead:
    """A signed checkpoint: the log's size and root then, and the C2SP signed note."""

    log: str
    size: int
    root: bytes
    note: str


@dataclass(frozen=True, slots=True, kw_only=True)
class InclusionProof:
    """An entry's RFC 9162 inclusion proof against a signed checkpoint."""

    item: AuditItem
    leaf_hash: bytes
    proof: list[bytes]
    checkpoint: SignedHead


@dataclass(frozen=True, slots=True, kw_only=True)
class ConsistencyProof:
    """An RFC 9162 consistency proof between two signed checkpoints of one log."""

    proof: list[bytes]
    old: SignedHead
    new: SignedHead


@dataclass(frozen=True, slots=True, kw_only=True)
class Verification:
    """What verifying a range of the stored log found (the first problem, if any)."""

    log: str
    start: int
    end: int
    report: Report


def _item(record: AuditRecord) -> AuditItem:
    payload, salt = record.payload, record.salt
    matches = (
        None
        if payload is None or salt is None
        else personal_data_matches(entry=record.entry, payload=payload, salt=salt)
    )
    return AuditItem(
        entry=record.entry,
        hash=record.hash,
        personal_data=payload,
        personal_data_matches=matches,
    )


def _signed(log: str, note: str) -> SignedHead:
    checkpoint = Checkpoint.parse_body(split_note(note)[0])
    return SignedHead(log=log, size=checkpoint.size, root=checkpoint.root, note=note)


def _range_error(detail: str, field: str, location: str) -> AuditRangeError:
    return AuditRangeError(detail, location=location, field=field)


def check_range(*, start: int | None, end: int | None, size: int, location: str) -> tuple[int, int]:
    """The half-open range [start, end) of a log of `size` entries (defaults: all of it; an
    empty log's whole range is the one empty range allowed)."""
    first = 0 if start is None else start
    stop = size if end is None else end
    if stop > size:
        raise _range_error(f"to is {stop}, beyond the log's size {size}", "to", location)
    if first >= stop and not (start is None and end is None):
        field = "to" if start is None else "from"
        raise _range_error(f"from ({first}) must be below to ({stop})", field, location)
    return first, stop


# -- the service ----------------------------------------------------------------------------------


class AuditLogService:
    """The audit log of one tenant at a time, as an API key with `audit:read` sees it."""

    def __init__(
        self,
        *,
        store: AuditLogs,
        export: AuditExport,
        signer: CheckpointSigner,
        checkpoint_period: timedelta,
        clock: Callable[[], datetime],
    ) -> None:
        self._store = store
        self._export = export
        self._signer = signer
        self._period = checkpoint_period
        self._clock = clock

    def published_keys(self) -> list[dict[str, Any]]:
        """The keys that verify checkpoints (one today; a rotation would list both)."""
        return [key_document(self._signer)]

    async def search(
        self, tenant: str, selected: AuditFilter, *, cursor: str | None, limit: int
    ) -> AuditPage:
        """Entries newest first, `limit` at most, below the cursor's position."""
        before = None if cursor is None else decode_cursor(cursor)
        log = log_of(tenant)
        limit = min(limit, MAX_PAGE)
        # The query copy of `at` is a BSON date, truncated to the millisecond: an entry a few
        # microseconds before `until` may carry the same copy as `until` itself. The store is
        # asked one millisecond wider and the entry's own time decides (`matches`).
        until = None if selected.until is None else selected.until + timedelta(milliseconds=1)
        # One more than asked says whether another page exists, without counting.
        found = await self._corrupt_guard(
            self._store.search(
                log,
                before=before,
                limit=limit + 1,
                action=selected.action,
                outcome=selected.outcome,
                actor_id=selected.actor_id,
                target_type=selected.target_type,
                target_id=selected.target_id,
                since=selected.since,
                until=until,
            )
        )
        page, more = found[:limit], len(found) > limit
        items = [_item(record) for record in page if selected.matches(record.entry)]
        last = page[-1].entry.seq if page else None
        return AuditPage(
            items=items,
            next_cursor=encode_cursor(last) if more and last is not None else None,
        )

    async def entry(self, tenant: str, event_id: str) -> AuditItem:
        """One entry of the tenant's log by its event id."""
        return _item(await self._record(log_of(tenant), event_id))

    async def latest_checkpoint(self, tenant: str) -> SignedHead:
        """The newest stored checkpoint, or a new one of the current head when there is none or
        an entry has waited unsigned for longer than the checkpoint period (the periodic signer
        would have covered it by then)."""
        log = log_of(tenant)
        latest = await self._store.latest_checkpoint(log)
        if latest is not None:
            size, note = latest
            waiting = await self._corrupt_guard(self._store.entries(log, start=size, end=size + 1))
            if not waiting or waiting[0].entry.at + self._period > self._clock():
                return _signed(log, note)
        return await self.sign_checkpoint(tenant)

    async def sign_checkpoint(self, tenant: str) -> SignedHead:
        """Sign the log's current head now (stored; the same note when it is signed already)."""
        log = log_of(tenant)
        checkpoint, note = await self._store.checkpoint(log, signer=self._signer)
        return SignedHead(log=log, size=checkpoint.size, root=checkpoint.root, note=note)

    async def inclusion(self, tenant: str, event_id: str, *, size: int | None) -> InclusionProof:
        """The entry and its inclusion proof against the checkpoint of `size` (default: the
        latest stored checkpoint, or the current head signed now if that does not cover it)."""
        log = log_of(tenant)
        record = await self._record(log, event_id)
        seq = record.entry.seq
        if size is None:
            latest = await self._store.latest_checkpoint(log)
            head = (
                _signed(log, latest[1])
                if latest is not None and latest[0] > seq
                else await self.sign_checkpoint(tenant)
            )
        else:
            current = (await self._store.head(log)).size
            if not seq < size <= current:
                raise _range_error(
                    f"the entry is seq {seq}: size must be above it and at most {current}",
                    "size",
                    "query",
                )
            head = _signed(log, await self._store.sign_at(log, size, signer=self._signer))
        proof = await self._store.prove(
            log, lambda nodes: inclusion_proof(nodes=nodes, index=seq, size=head.size)
        )
        return InclusionProof(
            item=_item(record),
            leaf_hash=bytes.fromhex(record.hash),
            proof=proof,
            checkpoint=head,
        )

    async def consistency(self, tenant: str, *, old: int, new: int | None) -> ConsistencyProof:
        """Proof that the log at `new` (default: its current head, signed) extends it at `old`."""
        log = log_of(tenant)
        current = (await self._store.head(log)).size
        if new is not None and new > current:
            raise _range_error(f"to is {new}, beyond the log's size {current}", "to", "query")
        if old > (current if new is None else new):
            raise _range_error(
                f"from is {old}; it must be at most to ({current if new is None else new})",
                "from",
                "query",
            )
        newer = (
            await self.sign_checkpoint(tenant)
            if new is None
            else _signed(log, await self._store.sign_at(log, new, signer=self._signer))
        )
        older = _signed(log, await self._store.sign_at(log, old, signer=self._signer))
        proof = await self._store.prove(
            log,
            lambda nodes: consistency_proof(nodes=nodes, old_size=older.size, new_size=newer.size),
        )
        return ConsistencyProof(proof=proof, old=older, new=newer)

    async def export(
        self, tenant: str, *, start: int | None, end: int | None
    ) -> AsyncIterator[bytes]:
        """The NDJSON export of [start, end) (checked before the first line is produced, so a
        bad range is a refusal rather than a cut stream)."""
        log = log_of(tenant)
        size = (await self._store.head(log)).size
        first, stop = check_range(start=start, end=end, size=size, location="query")
        return self._export(log, start=first, end=stop)

    async def verify(self, tenant: str, *, start: int | None, end: int | None) -> Verification:
        """Verify the store's own export of [start, end) with the published key only."""
        log = log_of(tenant)
        size = (await self._store.head(log)).size
        first, stop = check_range(start=start, end=end, size=size, location="body")
        if first == stop:  # an empty log: nothing to check, nothing wrong
            report = Report(
                problem=None, log=log, size=0, root=EMPTY_ROOT, entries=0, checkpoints=0
            )
            return Verification(log=log, start=first, end=stop, report=report)
        try:
            report = await self._verify_range(log, first, stop)
        except EntryFormatError as error:
            report = await self._unreadable_report(log, first, stop, error)
        return Verification(log=log, start=first, end=stop, report=report)

    async def _verify_range(self, log: str, start: int, end: int) -> Report:
        """verify_export over the store's export of [start, end), in a thread, streamed."""
        loop = asyncio.get_running_loop()
        batches = _batched(self._export(log, start=start, end=end))
        key = self._signer.verifier_key

        def lines() -> Iterator[bytes]:
            # The verifier is CPU-bound and synchronous: it runs in a thread and pulls the
            # export from the event loop a batch at a time, so memory stays one batch.
            while True:
                batch = asyncio.run_coroutine_threadsafe(_next(batches), loop).result()
                if batch is None:
                    return
                yield from batch

        try:
            return await asyncio.to_thread(lambda: verify_export(lines=lines(), key=key, log=log))
        finally:
            await batches.aclose()  # the verifier may stop at the first problem

    async def _unreadable_report(
        self, log: str, start: int, end: int, error: EntryFormatError
    ) -> Report:
        """The store cannot decode an entry (its bytes are not even a canonical entry): the
        first problem is in the readable part before it, or it is that entry."""
        bad = await self._first_unreadable(log, start, end)
        size, root = 0, b""
        if bad is not None and bad > start:
            prefix = await self._verify_range(log, start, bad)
            if not prefix.ok:
                return prefix
            size, root = prefix.size, prefix.root
        detail = f"the stored entry is not a canonical entry: {error}"
        return Report(
            problem=Problem(kind=Kind.MALFORMED, line=0, seq=bad, detail=detail),
            log=log,
            size=size,
            root=root,
            entries=0 if bad is None else bad - start,
            checkpoints=0,
        )

    # -- helpers ----------------------------------------------------------------------------------

    async def _record(self, log: str, event_id: str) -> AuditRecord:
        record = await self._corrupt_guard(self._store.entry_by_id(log, event_id))
        if record is None:
            raise AuditEntryNotFoundError(
                "no entry with this id in the tenant's audit log", location="path", field="id"
            )
        return record

    async def _corrupt_guard(self, pending: Awaitable[R]) -> R:
        try:
            return await pending
        except EntryFormatError as error:
            raise AuditLogCorruptError(
                f"a stored entry is not canonical ({error}); POST /v1/security/audit/verify "
                "names it"
            ) from error

    async def _first_unreadable(self, log: str, start: int, end: int) -> int | None:
        """Bisect [start, end) for the first entry the store cannot decode (failure path only)."""
        low, high = start, end
        while high - low > 1:
            middle = (low + high) // 2
            try:
                await self._store.entries(log, start=low, end=middle)
            except EntryFormatError:
                high = middle
            else:
                low = middle
        try:
            await self._store.entries(log, start=low, end=high)
        except EntryFormatError:
            return low
        return None  # readable now (changed meanwhile): the seq is not known


async def _batched(lines: AsyncIterator[bytes]) -> AsyncGenerator[list[bytes]]:
    batch: list[bytes] = []
    async for line in lines:
        batch.append(line)
        if len(batch) == _VERIFY_BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


async def _next(batches: AsyncIterator[list[bytes]]) -> list[bytes] | None:
    return await anext(batches, None)


__all__ = [
    "MAX_PAGE",
    "AuditCursorError",
    "AuditEntryNotFoundError",
    "AuditFilter",
    "AuditItem",
    "AuditLogCorruptError",
    "AuditLogService",
    "AuditPage",
    "AuditRangeError",
    "AuditRequestError",
    "ConsistencyProof",
    "InclusionProof",
    "SignedHead",
    "Verification",
]
