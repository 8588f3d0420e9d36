"""The stdlib-only verifier (hack/audit_verify_standalone.py) accepts the core's exports and
refuses tampered ones; its pure-Python Ed25519 agrees with RFC 8032 and with PyNaCl."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

from nacl.signing import SigningKey

from caas_core.auditlog.export import export_lines

from .conftest import SIGNER, entries

SCRIPT = Path(__file__).parents[3] / "hack" / "audit_verify_standalone.py"


def _module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("audit_verify_standalone", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_ed25519_matches_rfc_8032_and_pynacl() -> None:
    verify = _module().ed25519_verify
    # RFC 8032 §7.1, TEST 1 (empty message).
    public = bytes.fromhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
    signature = bytes.fromhex(
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065"
        "224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
    )
    assert verify(public, b"", signature)
    assert not verify(public, b"x", signature)
    assert not verify(public, b"", signature[:-1] + bytes([signature[-1] ^ 1]))
    for i in range(5):
        key = SigningKey(bytes([i]) * 32)
        message = f"checkpoint {i}\n".encode()
        signed = key.sign(message).signature
        assert verify(bytes(key.verify_key), message, signed)
        assert not verify(bytes(key.verify_key), message + b"!", signed)


def _run(path: Path) -> subprocess.CompletedProcess[str]:
    key = SIGNER.verifier_key.encode()
    return subprocess.run(
        [sys.executable, "-I", str(SCRIPT), str(path), key],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def test_the_script_verifies_core_exports_and_refuses_tampered_ones(tmp_path: Path) -> None:
    log = entries(40)
    lines = list(export_lines(entries=log, signer=SIGNER, checkpoint_every=16))
    good = tmp_path / "good.ndjson"
    good.write_bytes(b"".join(lines))
    result = _run(good)
    assert (result.returncode, result.stdout.strip()) == (0, "OK"), result.stderr
    pruned = tmp_path / "pruned.ndjson"
    pruned.write_bytes(b"".join(export_lines(entries=log, signer=SIGNER, pruned=25)))
    assert _run(pruned).returncode == 0
    cases = {
        "modified": [*lines[:5], lines[5].replace(b"evt-0005", b"evt-0050"), *lines[6:]],
        "deleted": [*lines[:5], *lines[6:]],
        "swapped": [*lines[:5], lines[6], lines[5], *lines[7:]],
        "unsigned tail": lines[:-1],
        "forged checkpoint": [*lines[:-1], lines[-1].replace(b"\\n40\\n", b"\\n39\\n")],
    }
    for name, tampered in cases.items():
        path = tmp_path / f"{name}.ndjson"
        path.write_bytes(b"".join(tampered))
        result = _run(path)
        assert result.returncode == 1, name
        assert result.stdout.startswith("INVALID"), (name, result.stdout)
