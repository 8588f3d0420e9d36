"""The export's anchors: signed checkpoints and pruned prefixes, checked against the key."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from caas_core.auditlog.checkpoint import (
    BadSignatureError,
    Checkpoint,
    CheckpointError,
    VerifierKey,
    open_checkpoint,
    origin_for,
)
from caas_core.auditlog.merkle import Frontier, verify_inclusion
from caas_core.auditlog.problems import FailedError, Kind


def open_signed(
    *, note: Any, key: VerifierKey, log: str | None, lineno: int
) -> tuple[Checkpoint, str]:
    """The checkpoint a note signed by `key` holds, and its log (which must be `log` if given)."""
    if not isinstance(note, str):
        raise FailedError(Kind.MALFORMED, lineno, None, "a checkpoint's note is a string")
    try:
        checkpoint = open_checkpoint(note=note, key=key)
    except BadSignatureError as exc:
        raise FailedError(Kind.BAD_SIGNATURE, lineno, None, str(exc)) from exc
    except CheckpointError as exc:
        raise FailedError(Kind.BAD_SIGNATURE, lineno, None, f"unverifiable: {exc}") from exc
    prefix = key.name + "/"
    if log is None and checkpoint.origin.startswith(prefix):
        log = checkpoint.origin.removeprefix(prefix)
    if log is None or checkpoint.origin != origin_for(key_name=key.name, log=log):
        raise FailedError(Kind.WRONG_LOG, lineno, None, f"checkpoint of {checkpoint.origin!r}")
    return checkpoint, log


@dataclass(frozen=True, slots=True, kw_only=True)
class Pruned:
    """Where verification resumes after a pruned prefix."""

    log: str
    frontier: Frontier
    last: str  # hex leaf hash of the last pruned entry: the first kept entry's prev


def open_pruned(
    *, record: dict[str, Any], key: VerifierKey, log: str | None, lineno: int
) -> Pruned:
    """Check a pruned record: its checkpoint's signature, its frontier against the signed root,
    and the last pruned entry's hash by its inclusion proof."""
    if lineno != 1:
        raise FailedError(Kind.BAD_PRUNED, lineno, None, "a pruned record is the first line only")
    checkpoint, log = open_signed(note=record.get("checkpoint"), key=key, log=log, lineno=lineno)
    size = record.get("size")
    if not isinstance(size, int) or isinstance(size, bool) or size < 1:
        raise FailedError(Kind.BAD_PRUNED, lineno, None, "size is a positive integer")
    try:
        last = bytes.fromhex(record["last"])
        frontier = Frontier(size=size, hashes=[bytes.fromhex(h) for h in record["frontier"]])
        proof = [bytes.fromhex(h) for h in record["lastProof"]]
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise FailedError(Kind.BAD_PRUNED, lineno, None, f"unreadable: {exc}") from exc
    root = checkpoint.root
    if (
        checkpoint.size != size
        or frontier.root() != root
        or not verify_inclusion(leaf=last, index=size - 1, size=size, proof=proof, root=root)
    ):
        raise FailedError(Kind.BAD_PRUNED, lineno, None, "does not match its signed checkpoint")
    return Pruned(log=log, frontier=frontier, last=last.hex())
