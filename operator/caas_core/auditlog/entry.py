"""One audit log entry, its canonical bytes, its leaf hash and its link to the previous entry.

Each log (the platform's, or one tenant's) numbers its entries 0, 1, 2, … and every entry carries
`prev`, the leaf hash of the entry before it (`GENESIS` for entry 0), so the entries form a plain
hash chain as well as the leaves of the Merkle tree: the chain lets a reader check order entry by
entry; the tree gives short proofs and the root that checkpoints sign.

Personal data (IP address, user agent, free-form details) is not in the entry. The entry holds
`pd`, a commitment SHA-256(salt || canonical(payload)) with a fresh 32-byte random salt, and the
payload and the salt are stored beside the log. Why salted: a plain hash of an IP address can be
reversed by trying all 2**32 addresses, so it would still be personal data; with a secret
256-bit salt it cannot be. A GDPR erasure deletes the payload and its salt: what remains in the
entry is an unlinkable random-looking value, and every hash, link and checkpoint still verifies
because they commit to the commitment, not to the payload. While the payload exists, a reader
given payload and salt can check it is the one logged (`personal_data_matches`). Actor and target
ids stay in the entry: they are opaque pseudonymous ids whose mapping to a person lives in the
user store, where erasure removes it.

Canonical encoding (the bytes the leaf hash covers): compact JSON, UTF-8, with the fields in the
fixed order of format version 1 (the order of `FIELDS`), every field always present (null
when absent), strings escaped as RFC 8785 (JCS) does (only `"`, `\\` and control characters;
lowercase `\\u00xx`), integers only, and time as `YYYY-MM-DDTHH:MM:SS.ffffffZ` in UTC. Why not
JCS's sorted keys: the schema is fixed and versioned, so its own order is just as deterministic,
and it puts `prev` and `seq` at fixed offsets so a verifier can check the chain without parsing
JSON per entry (see verify.py). JCS's hard part, number formatting, cannot arise (no floats), so
no library is needed for the entry; the payload uses the JCS subset in `canonical_json`.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from caas_core.auditlog.merkle import leaf_hash

FORMAT_VERSION: Final = 1
GENESIS: Final = "0" * 64  # prev of entry 0
SALT_SIZE: Final = 32
MAX_INT: Final = 2**53 - 1  # I-JSON: every JSON reader represents these exactly

HEX64_PATTERN = re.compile(r"[0-9a-f]{64}")
TIME_PATTERN = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z")
# JCS string escaping for str values: the C function JSONEncoder(ensure_ascii=False).encode
# calls for a str, without that method's per-call overhead (the writer encodes ~12 per entry).
_dumps_str = json.encoder.encode_basestring
FIELDS: Final = (
    "v",
    "prev",
    "seq",
    "log",
    "id",
    "at",
    "action",
    "outcome",
    "actor",
    "target",
    "pd",
)


class EntryFormatError(ValueError):
    """Bytes that are not an entry in canonical form."""


def format_time(at: datetime) -> str:
    """The canonical time: UTC, microseconds, 'Z' (naive datetimes are refused)."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("audit times must be timezone-aware")
    u = at.astimezone(UTC)
    return (
        f"{u.year:04d}-{u.month:02d}-{u.day:02d}T{u.hour:02d}:{u.minute:02d}:{u.second:02d}"
        f".{u.microsecond:06d}Z"
    )


def parse_time(text: str) -> datetime:
    """The inverse of `format_time` (only the canonical form is accepted)."""
    if not TIME_PATTERN.fullmatch(text):
        raise ValueError(f"not a canonical audit time: {text!r}")
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def _json_str(value: str | None) -> str:
    return "null" if value is None else _dumps_str(value)


def canonical_json(value: object) -> bytes:
    """RFC 8785 (JCS) for JSON without floats: sorted keys (UTF-16 order), compact, UTF-8.

    Floats are refused (give them as strings): JCS formats numbers as ECMAScript does, which
    Python's repr does not match, and a commitment must be recomputable in any language.
    """
    if _plain(value):
        # The C encoder writes exactly JCS for such values (see _plain): ~3x faster.
        return _plain_dumps(value).encode("utf-8")  # lone surrogates fail here too
    return _canonical(value).encode("utf-8")  # lone surrogates fail here


_plain_dumps = json.JSONEncoder(
    ensure_ascii=False, separators=(",", ":"), sort_keys=True, allow_nan=False
).encode


def _plain(value: object) -> bool:
    """Whether json's sorted compact encoding of `value` is its JCS form: dicts with ASCII keys
    (their UTF-16 order is code-point order, which Python's sort uses), lists, strings (json
    escapes exactly what JCS escapes, lowercase \\u00xx), None, booleans and integers within
    2**53. Anything else (floats, non-ASCII keys, tuples) takes the general path."""
    if value is None or isinstance(value, str | bool):
        return True
    if isinstance(value, int):
        return -MAX_INT <= value <= MAX_INT
    if isinstance(value, dict):
        return type(value) is dict and all(
            type(k) is str and k.isascii() and _plain(v) for k, v in value.items()
        )
    if isinstance(value, list):
        return type(value) is list and all(_plain(v) for v in value)
    return False


def _canonical(value: object) -> str:
    if value is None or isinstance(value, bool):
        return {None: "null", True: "true", False: "false"}[value]
    if isinstance(value, int):
        if abs(value) > MAX_INT:
            raise ValueError(f"integer {value} is beyond 2**53-1")
        return str(value)
    if isinstance(value, str):
        return str(_dumps_str(value))
    if isinstance(value, Mapping):
        if not all(isinstance(k, str) for k in value):
            raise ValueError("object keys must be strings")
        keys = sorted(value, key=lambda k: k.encode("utf-16-be", "surrogatepass"))
        items = ",".join(f"{_dumps_str(k)}:{_canonical(value[k])}" for k in keys)
        return "{" + items + "}"
    if isinstance(value, Sequence) and not isinstance(value, bytes | bytearray):
        return "[" + ",".join(_canonical(v) for v in value) + "]"
    raise ValueError(f"not canonical JSON: {type(value).__name__} (floats go as strings)")


def new_salt() -> bytes:
    """A fresh random salt for one entry's personal-data commitment."""
    return secrets.token_bytes(SALT_SIZE)


def commit_personal_data(*, payload: Mapping[str, Any], salt: bytes) -> str:
    """The entry's `pd`: hex SHA-256(salt || canonical_json(payload))."""
    if len(salt) != SALT_SIZE:
        raise ValueError(f"the salt is {SALT_SIZE} bytes")
    return hashlib.sha256(salt + canonical_json(payload)).hexdigest()


@dataclass(frozen=True, slots=True, kw_only=True)
class Entry:
    """One entry of one log, as hashed: no personal data, only its commitment `pd`."""

    log: str  # "platform" or "tenant:<name>"
    seq: int
    prev: str  # hex leaf hash of entry seq-1; GENESIS for seq 0
    id: str  # the audit event's id (idempotency: one event, one entry)
    at: datetime
    action: str
    outcome: str
    actor_type: str
    actor_id: str | None = None
    target_type: str | None = None
    target_id: str | None = None
    pd: str | None = None  # commit_personal_data(...), or None when the event has no payload

    def __post_init__(self) -> None:
        if not 0 <= self.seq <= MAX_INT:
            raise ValueError(f"seq {self.seq} is out of range")
        if not HEX64_PATTERN.fullmatch(self.prev) or (self.seq == 0) != (self.prev == GENESIS):
            raise ValueError("prev is the previous entry's hex leaf hash (GENESIS for seq 0)")
        if self.pd is not None and not HEX64_PATTERN.fullmatch(self.pd):
            raise ValueError("pd is a hex SHA-256")
        if not self.log or not self.id or not self.action or not self.outcome:
            raise ValueError("log, id, action and outcome are required")
        self.encode()  # a naive time or a lone surrogate has no canonical bytes: refuse it now

    @classmethod
    def derived(
        cls,
        *,
        log: str,
        seq: int,
        prev: str,
        id: str,
        at: datetime,
        action: str,
        outcome: str,
        actor_type: str,
        actor_id: str | None,
        target_type: str | None,
        target_id: str | None,
        pd: str | None,
    ) -> tuple[Entry, bytes]:
        """An entry and its canonical bytes, for writers whose `prev` and `pd` are hashes they
        computed themselves: the checks that can fail on event data (required fields, seq
        range, a naive time, a lone surrogate) run; the hex patterns of prev/pd and a second
        encoding are skipped (the writer's hot path: ~3x cheaper than the constructor)."""
        if not log or not id or not action or not outcome:
            raise ValueError("log, id, action and outcome are required")
        if not 0 <= seq <= MAX_INT:
            raise ValueError(f"seq {seq} is out of range")
        entry = object.__new__(cls)
        for name, value in (
            ("log", log), ("seq", seq), ("prev", prev), ("id", id), ("at", at),
            ("action", action), ("outcome", outcome), ("actor_type", actor_type),
            ("actor_id", actor_id), ("target_type", target_type), ("target_id", target_id),
            ("pd", pd),
        ):  # fmt: skip
            object.__setattr__(entry, name, value)
        return entry, entry.encode()

    def encode(self) -> bytes:
        """The canonical bytes (format version 1): what the leaf hash and the export carry."""
        return (
            f'{{"v":{FORMAT_VERSION},"prev":"{self.prev}","seq":{self.seq}'
            f',"log":{_dumps_str(self.log)},"id":{_dumps_str(self.id)}'
            f',"at":"{format_time(self.at)}","action":{_dumps_str(self.action)}'
            f',"outcome":{_dumps_str(self.outcome)}'
            f',"actor":{{"type":{_dumps_str(self.actor_type)},"id":{_json_str(self.actor_id)}}}'
            f',"target":{{"type":{_json_str(self.target_type)},"id":{_json_str(self.target_id)}}}'
            f',"pd":{_json_str(self.pd)}}}'
        ).encode()

    def leaf_hash(self) -> bytes:
        """RFC 9162 leaf hash of the canonical bytes: the tree's leaf and the next entry's prev."""
        return leaf_hash(self.encode())

    def hash_hex(self) -> str:
        """The leaf hash in hex, as `prev` and exports carry it."""
        return self.leaf_hash().hex()

    def next_prev(self) -> str:
        """What the following entry's `prev` must be."""
        return self.hash_hex()

    @classmethod
    def decode(cls, data: bytes) -> Entry:
        """Parse canonical bytes; anything not byte-for-byte canonical is refused, so one entry
        has exactly one encoding (no two byte strings with the same meaning and other hashes)."""
        try:
            entry = cls._from_json(json.loads(data))
        except (ValueError, TypeError, KeyError) as exc:
            raise EntryFormatError(f"not an audit entry: {exc}") from exc
        if entry.encode() != data:
            raise EntryFormatError("the entry is not in canonical form")
        return entry

    @classmethod
    def _from_json(cls, raw: Any) -> Entry:
        if not isinstance(raw, dict) or tuple(raw) != FIELDS:
            raise ValueError(f"fields must be {', '.join(FIELDS)} in that order")
        if raw["v"] != FORMAT_VERSION or isinstance(raw["v"], bool):
            raise ValueError(f"unknown format version {raw['v']!r}")
        actor, target = raw["actor"], raw["target"]
        if not isinstance(actor, dict) or tuple(actor) != ("type", "id"):
            raise ValueError("actor is {type, id}")
        if not isinstance(target, dict) or tuple(target) != ("type", "id"):
            raise ValueError("target is {type, id}")
        strings = (raw["log"], raw["id"], raw["action"], raw["outcome"], actor["type"])
        optional = (actor["id"], target["type"], target["id"], raw["pd"])
        if not all(isinstance(s, str) for s in (*strings, raw["prev"], raw["at"])):
            raise ValueError("log, id, action, outcome, actor.type, prev and at are strings")
        if not all(s is None or isinstance(s, str) for s in optional):
            raise ValueError("actor.id, target and pd are strings or null")
        if not isinstance(raw["seq"], int) or isinstance(raw["seq"], bool):
            raise TypeError("seq is an integer")
        return cls(
            log=raw["log"],
            seq=raw["seq"],
            prev=raw["prev"],
            id=raw["id"],
            at=parse_time(raw["at"]),
            action=raw["action"],
            outcome=raw["outcome"],
            actor_type=actor["type"],
            actor_id=actor["id"],
            target_type=target["type"],
            target_id=target["id"],
            pd=raw["pd"],
        )


def personal_data_matches(*, entry: Entry, payload: Mapping[str, Any], salt: bytes) -> bool:
    """Whether a stored payload and salt are the ones the entry committed to."""
    return entry.pd is not None and commit_personal_data(payload=payload, salt=salt) == entry.pd


def chain(
    *,
    log: str,
    events: Sequence[Mapping[str, Any]],
    start_seq: int = 0,
    prev: str = GENESIS,
) -> list[Entry]:
    """Entries for events in order, linked from `prev` (for tests, tools and batched appends).

    Each event mapping holds Entry's fields other than log, seq and prev.
    """
    entries: list[Entry] = []
    for offset, event in enumerate(events):
        entry = Entry(log=log, seq=start_seq + offset, prev=prev, **event)
        entries.append(entry)
        prev = entry.hash_hex()
    return entries
