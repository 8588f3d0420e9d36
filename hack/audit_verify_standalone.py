#!/usr/bin/env python3
"""Verify a CAAS audit export with the Python standard library only (no CAAS code, no packages).

    python3 audit_verify_standalone.py EXPORT.ndjson VERIFIER_KEY

Exit 0 when every entry, link and checkpoint verifies; 1 with the first problem. An auditor can
read this one file end to end: the formats are in docs/audit-verify.md. It is slower than
`caasctl audit verify` (pure-Python Ed25519 and no fast path) and names problems less precisely,
but it trusts nothing the platform ships apart from the export and the published key.

Ed25519 is RFC 8032 §5.1.7 verification in pure Python, because the standard library has none;
it is only run once per checkpoint, so its speed (milliseconds) does not matter.
"""

# A linear read-through for auditors: one function per format, early returns for each problem.
# ruff: noqa: PLR0911, PLR0912

from __future__ import annotations

import base64
import hashlib
import json
import sys

# --- Ed25519 verification, RFC 8032 (edwards25519, SHA-512) ---------------------------------

P = 2**255 - 19
L = 2**252 + 27742317777372353535851937790883648493
D = -121665 * pow(121666, P - 2, P) % P
SQRT_M1 = pow(2, (P - 1) // 4, P)
G_Y = 4 * pow(5, P - 2, P) % P


def _recover_x(y: int, sign: int) -> int | None:
    if y >= P:
        return None
    x2 = (y * y - 1) * pow(D * y * y + 1, P - 2, P) % P
    if x2 == 0:
        return None if sign else 0
    x = pow(x2, (P + 3) // 8, P)
    if (x * x - x2) % P:
        x = x * SQRT_M1 % P
    if (x * x - x2) % P:
        return None
    if x & 1 != sign:
        x = P - x
    return x


G = (_recover_x(G_Y, 0) or 0, G_Y, 1, (_recover_x(G_Y, 0) or 0) * G_Y % P)


def _add(p: tuple[int, ...], q: tuple[int, ...]) -> tuple[int, ...]:
    a = (p[1] - p[0]) * (q[1] - q[0]) % P
    b = (p[1] + p[0]) * (q[1] + q[0]) % P
    c = 2 * p[3] * q[3] * D % P
    d = 2 * p[2] * q[2] % P
    e, f, g, h = b - a, d - c, d + c, b + a
    return (e * f % P, g * h % P, f * g % P, e * h % P)


def _mul(s: int, p: tuple[int, ...]) -> tuple[int, ...]:
    q: tuple[int, ...] = (0, 1, 1, 0)
    while s:
        if s & 1:
            q = _add(q, p)
        p = _add(p, p)
        s >>= 1
    return q


def _equal(p: tuple[int, ...], q: tuple[int, ...]) -> bool:
    return (p[0] * q[2] - q[0] * p[2]) % P == 0 and (p[1] * q[2] - q[1] * p[2]) % P == 0


def _decompress(s: bytes) -> tuple[int, ...] | None:
    y = int.from_bytes(s, "little")
    sign, y = y >> 255, y & ((1 << 255) - 1)
    x = _recover_x(y, sign)
    return None if x is None else (x, y, 1, x * y % P)


def ed25519_verify(public: bytes, message: bytes, signature: bytes) -> bool:
    """RFC 8032 §5.1.7: [S]B = R + [k]A with k = SHA-512(R || A || M)."""
    if len(public) != 32 or len(signature) != 64:
        return False
    a, r = _decompress(public), _decompress(signature[:32])
    s = int.from_bytes(signature[32:], "little")
    if a is None or r is None or s >= L:
        return False
    k = int.from_bytes(hashlib.sha512(signature[:32] + public + message).digest(), "little") % L
    return _equal(_mul(s, G), _add(r, _mul(k, a)))


# --- Merkle tree (RFC 9162) -----------------------------------------------------------------


def node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def frontier_root(frontier: list[bytes]) -> bytes:
    if not frontier:
        return hashlib.sha256(b"").digest()
    acc = frontier[-1]
    for h in reversed(frontier[:-1]):
        acc = node(h, acc)
    return acc


def frontier_append(frontier: list[bytes], size: int, leaf: bytes) -> None:
    while size & 1:
        leaf = node(frontier.pop(), leaf)
        size >>= 1
    frontier.append(leaf)


def inclusion_root(leaf: bytes, index: int, size: int, proof: list[bytes]) -> bytes | None:
    fn, sn, acc = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return None
        if fn & 1 or fn == sn:
            acc = node(p, acc)
            while fn and not fn & 1:
                fn, sn = fn >> 1, sn >> 1
        else:
            acc = node(acc, p)
        fn, sn = fn >> 1, sn >> 1
    return acc if sn == 0 else None


# --- Signed-note checkpoints (C2SP) ---------------------------------------------------------


def parse_key(text: str) -> tuple[str, bytes, bytes]:
    name, key_id, blob = text.strip().split("+", 2)
    raw = base64.b64decode(blob, validate=True)
    if len(raw) != 33 or raw[0] != 1:
        raise ValueError("not an Ed25519 verifier key")
    expected = hashlib.sha256(name.encode() + b"\n\x01" + raw[1:]).digest()[:4]
    if expected.hex() != key_id:
        raise ValueError("the key id does not match the key")
    return name, expected, raw[1:]


def open_note(note: str, key: tuple[str, bytes, bytes]) -> tuple[str, int, bytes]:
    """(origin, size, root) of a checkpoint note signed by key, or ValueError."""
    name, key_id, public = key
    cut = note.rfind("\n\n")
    text, signatures = note[: cut + 1], note[cut + 2 :].splitlines()
    ok = False
    for line in signatures:
        who, _, blob = line.removeprefix("\u2014 ").partition(" ")
        raw = base64.b64decode(blob, validate=True)
        if who == name and raw[:4] == key_id:
            if not ed25519_verify(public, text.encode(), raw[4:]):
                raise ValueError("bad checkpoint signature")
            ok = True
    if cut < 0 or not ok:
        raise ValueError("the checkpoint is not signed by the key")
    origin, size, root = text.split("\n")[:3]
    return origin, int(size), base64.b64decode(root, validate=True)


# --- The export -----------------------------------------------------------------------------

FIELDS = ["v", "prev", "seq", "log", "id", "at", "action", "outcome", "actor", "target", "pd"]


def verify(path: str, key_text: str) -> str | None:
    """None when the export verifies, else the first problem."""
    try:
        return _verify(path, parse_key(key_text))
    except (ValueError, KeyError, TypeError, IndexError, AttributeError) as exc:
        return f"unreadable export or key: {exc!r}"


def _verify(path: str, key: tuple[str, bytes, bytes]) -> str | None:
    frontier: list[bytes] = []
    size, signed, prev, log = 0, 0, "0" * 64, None
    with open(path, "rb") as lines:
        for number, line in enumerate(lines, 1):
            record = json.loads(line)
            if record["type"] == "entry":
                entry = record["entry"]
                if list(entry) != FIELDS or [list(entry["actor"]), list(entry["target"])] != [
                    ["type", "id"],
                    ["type", "id"],
                ]:
                    return f"line {number}: not a version 1 entry"
                body = json.dumps(entry, ensure_ascii=False, separators=(",", ":")).encode()
                leaf = hashlib.sha256(b"\x00" + body).digest()
                if leaf.hex() != record["hash"]:
                    return f"line {number}: entry modified (its hash does not match)"
                log = log or entry["log"]
                if entry["seq"] != size:
                    return (
                        f"line {number}: seq {entry['seq']} where {size} belongs"
                        " (a deleted, inserted or reordered entry)"
                    )
                if entry["prev"] != prev or entry["log"] != log:
                    return f"line {number}: broken link (prev or log) at seq {size}"
                frontier_append(frontier, size, leaf)
                size, prev = size + 1, record["hash"]
                continue
            note = record["note"] if record["type"] == "checkpoint" else record["checkpoint"]
            try:
                origin, cp_size, root = open_note(note, key)
            except ValueError as exc:
                return f"line {number}: {exc}"
            log = log or origin.removeprefix(key[0] + "/")
            if origin != f"{key[0]}/{log}":
                return f"line {number}: a checkpoint of another log ({origin})"
            if record["type"] == "pruned":
                frontier = [bytes.fromhex(h) for h in record["frontier"]]
                last = bytes.fromhex(record["last"])
                proof = [bytes.fromhex(h) for h in record["lastProof"]]
                if number != 1 or cp_size != record["size"] or frontier_root(frontier) != root:
                    return f"line {number}: the pruned record does not match its checkpoint"
                if inclusion_root(last, cp_size - 1, cp_size, proof) != root:
                    return f"line {number}: the pruned record's last hash is not in the tree"
                size, prev = cp_size, record["last"]
            elif cp_size != size or frontier_root(frontier) != root:
                return f"line {number}: checkpoint of size {cp_size} does not match the entries"
            signed = cp_size
    if size != signed:
        return f"entries {signed}..{size - 1} are not covered by a checkpoint"
    return None if size or signed else "nothing to verify"


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    problem = verify(sys.argv[1], sys.argv[2])
    print(f"INVALID: {problem}" if problem else "OK")
    sys.exit(1 if problem else 0)
