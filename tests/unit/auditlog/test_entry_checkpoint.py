"""Entries' canonical bytes and commitments; checkpoints as C2SP signed notes."""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from caas_core.auditlog.checkpoint import (
    BadSignatureError,
    Checkpoint,
    CheckpointError,
    CheckpointSigner,
    VerifierKey,
    key_id,
    open_checkpoint,
    split_note,
)
from caas_core.auditlog.entry import (
    GENESIS,
    Entry,
    EntryFormatError,
    canonical_json,
    commit_personal_data,
    new_salt,
    personal_data_matches,
)

from .conftest import SIGNER, entries

AT = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)


def _entry(**changes: object) -> Entry:
    fields: dict[str, object] = {
        "log": "platform",
        "seq": 0,
        "prev": GENESIS,
        "id": "e1",
        "at": AT,
        "action": "auth.login",
        "outcome": "success",
        "actor_type": "user",
    }
    fields.update(changes)
    return Entry(**fields)  # type: ignore[arg-type]


def test_the_canonical_bytes_are_fixed() -> None:
    entry = _entry(actor_id='u "1" é\n', at=AT + timedelta(microseconds=5))
    assert (
        entry.encode()
        == (
            '{"v":1,"prev":"' + GENESIS + '","seq":0,"log":"platform","id":"e1",'
            '"at":"2026-12-01T02:00:00.000005Z","action":"auth.login","outcome":"success",'
            '"actor":{"type":"user","id":"u \\"1\\" é\\n"},"target":{"type":null,"id":null},'
            '"pd":null}'
        ).encode()
    )
    assert entry.leaf_hash() == hashlib.sha256(b"\x00" + entry.encode()).digest()
    # Another time zone, the same instant: the same bytes.
    plus_two = timezone(timedelta(hours=2))
    assert _entry(at=AT.astimezone(plus_two)).encode() == _entry().encode()


@settings(max_examples=200, deadline=None)
@given(
    actor_id=st.none() | st.text(),
    target_id=st.none() | st.text(),
    action=st.text(min_size=1),
    seconds=st.integers(0, 10**9),
)
def test_decode_is_the_inverse_of_encode(
    actor_id: str | None, target_id: str | None, action: str, seconds: int
) -> None:
    try:
        entry = _entry(
            actor_id=actor_id,
            target_id=target_id,
            target_type="t",
            action=action,
            at=AT + timedelta(seconds=seconds),
        )
    except UnicodeEncodeError:  # lone surrogates have no UTF-8 bytes: refused at creation
        return
    assert Entry.decode(entry.encode()) == entry


def test_only_canonical_bytes_decode() -> None:
    good = _entry().encode()
    for bad in (
        good.replace(b'"seq":0', b'"seq":0.0'),
        good.replace(b",", b", ", 1),
        good.replace(b'"id":"e1"', b'"id":"\\u0065\\u0031"'),
        good.replace(b'{"v":1,', b'{"v":1,"v":1,'),
        good.replace(b".000000Z", b"Z"),
        good.replace(b'"v":1', b'"v":2'),
    ):
        with pytest.raises(EntryFormatError):
            Entry.decode(bad)


def test_entries_refuse_what_has_no_canonical_form() -> None:
    with pytest.raises(ValueError, match="timezone"):
        _entry(at=datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="prev"):
        _entry(seq=1)  # seq 1 cannot follow GENESIS
    with pytest.raises(ValueError, match="prev"):
        _entry(prev="ab" * 32)  # seq 0 follows GENESIS only
    with pytest.raises(UnicodeEncodeError):
        _entry(actor_id="\ud800")


def test_personal_data_commitments_are_salted_jcs() -> None:
    payload = {"ip": "10.0.0.1", "ua": "curl/8", "n": 3, "tags": ["a", None, True]}
    salt = new_salt()
    pd = commit_personal_data(payload=payload, salt=salt)
    assert pd == hashlib.sha256(salt + canonical_json(payload)).hexdigest()
    assert (
        canonical_json(payload) == b'{"ip":"10.0.0.1","n":3,"tags":["a",null,true],"ua":"curl/8"}'
    )
    entry = _entry(pd=pd)
    assert personal_data_matches(entry=entry, payload=payload, salt=salt)
    assert not personal_data_matches(entry=entry, payload={**payload, "ip": "10.0.0.2"}, salt=salt)
    assert not personal_data_matches(entry=entry, payload=payload, salt=new_salt())
    # The same IP under two salts: unlinkable commitments.
    assert commit_personal_data(payload=payload, salt=new_salt()) != pd
    # JCS orders keys by UTF-16 code units: U+E000 sorts after U+1F600 (a surrogate pair).
    assert canonical_json({"\ue000": 1, "\U0001f600": 2}) == '{"😀":2,"\ue000":1}'.encode()
    with pytest.raises(ValueError, match="floats"):
        canonical_json({"x": 1.5})


def test_verifier_keys_follow_the_signed_note_spec() -> None:
    key = SIGNER.verifier_key
    text = key.encode()
    name, hex_id, blob = text.split("+", 2)
    raw = base64.b64decode(blob)
    assert (name, raw[0], raw[1:]) == ("audit.caas.test", 1, key.public_key)
    assert bytes.fromhex(hex_id) == hashlib.sha256(b"audit.caas.test\n\x01" + raw[1:]).digest()[:4]
    assert bytes.fromhex(hex_id) == key_id(name=name, public_key=key.public_key)
    assert VerifierKey.parse(text) == key
    with pytest.raises(CheckpointError, match="id"):
        VerifierKey.parse(f"{name}+00000000+{blob}")
    with pytest.raises(CheckpointError):
        VerifierKey.parse("just-a-name")


def test_checkpoints_are_signed_notes() -> None:
    log = entries(3)
    checkpoint = Checkpoint(origin="audit.caas.test/tenant:acme", size=3, root=log[-1].leaf_hash())
    note = SIGNER.sign(checkpoint)
    body, signatures = split_note(note)
    assert body == checkpoint.body()
    assert body.split("\n")[:3] == [
        "audit.caas.test/tenant:acme",
        "3",
        base64.b64encode(checkpoint.root).decode(),
    ]
    assert note.endswith("\n")
    assert "\n\n\u2014 audit.caas.test " in note
    assert signatures[0][0] == "audit.caas.test"
    assert signatures[0][1][:4] == SIGNER.verifier_key.key_id
    assert len(signatures[0][1]) == 4 + 64
    assert open_checkpoint(note=note, key=SIGNER.verifier_key) == checkpoint
    # Unknown signers are ignored (a co-signer's line), a known one that fails rejects the note.
    other = CheckpointSigner.generate(name="witness.example")
    cosigned = note + other.sign(checkpoint).split("\n\n")[1]
    assert open_checkpoint(note=cosigned, key=SIGNER.verifier_key) == checkpoint
    assert open_checkpoint(note=cosigned, key=other.verifier_key) == checkpoint
    with pytest.raises(BadSignatureError):
        open_checkpoint(note=note.replace("\n3\n", "\n4\n"), key=SIGNER.verifier_key)
    with pytest.raises(CheckpointError, match="not signed"):
        open_checkpoint(note=note, key=other.verifier_key)
    for broken in (note[:-1], note.replace("\n\n", "\n"), note.replace("\u2014", "-")):
        with pytest.raises(CheckpointError):
            open_checkpoint(note=broken, key=SIGNER.verifier_key)
