"""Signed checkpoints: C2SP tlog-checkpoint bodies in C2SP signed notes, Ed25519.

A checkpoint commits to one log at one size: the note text is three lines, the origin (which log),
the tree size in decimal and the base64 RFC 9162 root, each ending in a newline:

    audit.caas.example/tenant:acme
    1042
    0U4Vc2y8E5h0D0pO2r5GJb3o0vX9m+2ZQ6q3yYx7n1c=

then a blank line and the signature line `— <key name> base64(key id || Ed25519 signature)`,
where key id = SHA-256(key name || 0x0A || 0x01 || public key)[:4] (C2SP signed-note). The
standard formats mean any tlog tool (Go's sumdb/note, transparency-dev, sigsum) can check our
checkpoints, and the same key serves every log: one origin per log, `<key name>/<log>`.

The public key is published as a note verifier key, `<name>+<hex key id>+base64(0x01 || key)`,
the string `caasctl audit verify --key` takes (served beside the JWKS by the API). Rotation:
notes may carry several signature lines, and verifiers ignore keys they do not know.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass
from typing import Final

import nacl.exceptions
from nacl.signing import SigningKey, VerifyKey

from caas_core.auditlog.merkle import HASH_SIZE

ED25519: Final = 0x01  # signed-note signature type
SIGNATURE_DASH: Final = "\u2014 "  # em dash and space start every signature line
MAX_SIGNATURES: Final = 100
_DECIMAL = re.compile(r"0|[1-9][0-9]*")


class CheckpointError(ValueError):
    """A checkpoint that is malformed or not signed by the expected key."""


class BadSignatureError(CheckpointError):
    """The expected key's signature line is there but does not verify: the note was altered."""


def _b64decode(text: str) -> bytes:
    try:
        raw = base64.b64decode(text, validate=True)
    except binascii.Error as exc:
        raise CheckpointError(f"not base64: {text!r}") from exc
    if base64.b64encode(raw).decode() != text:
        raise CheckpointError(f"not canonical base64: {text!r}")
    return raw


def _check_name(name: str) -> None:
    if not name or any(c.isspace() or c == "+" for c in name):
        raise ValueError("key names are non-empty, without spaces or '+'")


def key_id(*, name: str, public_key: bytes) -> bytes:
    """C2SP signed-note key id for an Ed25519 key: SHA-256(name || 0x0A || 0x01 || key)[:4]."""
    return hashlib.sha256(name.encode() + b"\n" + bytes([ED25519]) + public_key).digest()[:4]


def origin_for(*, key_name: str, log: str) -> str:
    """The origin line of a log's checkpoints: the key's name, a slash and the log id."""
    return f"{key_name}/{log}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Checkpoint:
    """A tree head: which log, how many entries, and the RFC 9162 root over them."""

    origin: str
    size: int
    root: bytes

    def __post_init__(self) -> None:
        if not self.origin or "\n" in self.origin or self.size < 0 or len(self.root) != HASH_SIZE:
            raise ValueError("a checkpoint has a one-line origin, a size ≥ 0 and a 32-byte root")

    def body(self) -> str:
        """The note text (tlog-checkpoint), no extension lines."""
        root = base64.b64encode(self.root).decode()
        return f"{self.origin}\n{self.size}\n{root}\n"

    @classmethod
    def parse_body(cls, text: str) -> Checkpoint:
        """Read a tlog-checkpoint note text (extension lines are allowed and ignored)."""
        lines = text.split("\n")
        if len(lines) < 4 or lines[-1] != "" or not all(lines[:-1]):
            raise CheckpointError("a checkpoint is at least three non-empty lines")
        if not _DECIMAL.fullmatch(lines[1]):
            raise CheckpointError(f"tree size is not a decimal: {lines[1]!r}")
        root = _b64decode(lines[2])
        if len(root) != HASH_SIZE:
            raise CheckpointError("the root hash is not 32 bytes")
        return cls(origin=lines[0], size=int(lines[1]), root=root)


@dataclass(frozen=True, slots=True, kw_only=True)
class VerifierKey:
    """A published Ed25519 note verifier key: name, key id and the 32-byte public key."""

    name: str
    public_key: bytes

    def __post_init__(self) -> None:
        _check_name(self.name)
        if len(self.public_key) != 32:
            raise ValueError("an Ed25519 public key is 32 bytes")

    @property
    def key_id(self) -> bytes:
        """The 4-byte id signature lines carry."""
        return key_id(name=self.name, public_key=self.public_key)

    def encode(self) -> str:
        """`<name>+<hex key id>+base64(0x01 || public key)`, as the signed-note tools print it."""
        key = base64.b64encode(bytes([ED25519]) + self.public_key).decode()
        return f"{self.name}+{self.key_id.hex()}+{key}"

    @classmethod
    def parse(cls, text: str) -> VerifierKey:
        """Read a verifier key, checking its id against its name and key."""
        parts = text.strip().split("+", 2)  # base64 may hold "+", names and ids never do
        if len(parts) != 3 or not re.fullmatch(r"[0-9a-f]{8}", parts[1]):
            raise CheckpointError("a verifier key is name+hex(key id)+base64(0x01 || key)")
        raw = _b64decode(parts[2])
        if len(raw) != 33 or raw[0] != ED25519:
            raise CheckpointError("only Ed25519 verifier keys (type 0x01) are supported")
        try:
            key = cls(name=parts[0], public_key=raw[1:])
        except ValueError as exc:
            raise CheckpointError(str(exc)) from exc
        if key.key_id.hex() != parts[1]:
            raise CheckpointError("the verifier key's id does not match its name and key")
        return key


class CheckpointSigner:
    """Signs checkpoints with the platform's Ed25519 key (a 32-byte seed, kept secret)."""

    def __init__(self, *, name: str, seed: bytes) -> None:
        _check_name(name)
        self._name = name
        self._key = SigningKey(seed)
        self.verifier_key = VerifierKey(name=name, public_key=bytes(self._key.verify_key))

    @classmethod
    def generate(cls, *, name: str) -> CheckpointSigner:
        """A signer with a fresh random key (tests, tools; the platform loads its seed)."""
        return cls(name=name, seed=bytes(SigningKey.generate()))

    def sign(self, checkpoint: Checkpoint) -> str:
        """The signed note: body, blank line, one signature line."""
        body = checkpoint.body()
        signature = self._key.sign(body.encode()).signature
        blob = base64.b64encode(self.verifier_key.key_id + signature).decode()
        return f"{body}\n{SIGNATURE_DASH}{self._name} {blob}\n"


def split_note(note: str) -> tuple[str, list[tuple[str, bytes]]]:
    """A signed note's text and its (key name, signature blob) lines, per C2SP signed-note."""
    if not note.endswith("\n") or any(ord(c) < 0x20 and c != "\n" for c in note):
        raise CheckpointError("a note ends with a newline and has no control characters")
    cut = note.rfind("\n\n")
    if cut < 0:
        raise CheckpointError("a note has a blank line before its signatures")
    text, signature_lines = note[: cut + 1], note[cut + 2 : -1].split("\n")
    if len(signature_lines) > MAX_SIGNATURES:
        raise CheckpointError("too many signatures")
    signatures: list[tuple[str, bytes]] = []
    for line in signature_lines:
        name, _, blob = line.removeprefix(SIGNATURE_DASH).partition(" ")
        if not line.startswith(SIGNATURE_DASH) or not name or " " in blob:
            raise CheckpointError(f"malformed signature line: {line!r}")
        raw = _b64decode(blob)
        if len(raw) < 5:
            raise CheckpointError("a signature is a key id and at least one byte")
        signatures.append((name, raw))
    return text, signatures


def open_checkpoint(*, note: str, key: VerifierKey) -> Checkpoint:
    """The checkpoint of a note signed by `key`; raises CheckpointError (BadSignatureError when the
    key's own signature fails: the text or the signature was changed)."""
    text, signatures = split_note(note)
    ours = [raw for name, raw in signatures if name == key.name and raw[:4] == key.key_id]
    if not ours:
        raise CheckpointError(f"the note is not signed by {key.name} (key id {key.key_id.hex()})")
    verify_key = VerifyKey(key.public_key)
    for raw in ours:
        try:
            verify_key.verify(text.encode(), raw[4:])
        except (nacl.exceptions.BadSignatureError, ValueError) as exc:  # ValueError: not 64 bytes
            raise BadSignatureError(f"the signature of {key.name} does not verify") from exc
    return Checkpoint.parse_body(text)
