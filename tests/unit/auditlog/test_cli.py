"""`caasctl audit verify`: exit 0 on a valid export, 1 with the first problem on a tampered one."""

from __future__ import annotations

from pathlib import Path

import pytest

from caas_core.auditlog.export import export_lines
from caasctl.__main__ import main

from .conftest import SIGNER, entries


def _write(path: Path, lines: list[bytes]) -> Path:
    path.write_bytes(b"".join(lines))
    return path


def test_valid_and_tampered_exports(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lines = list(export_lines(entries=entries(50), signer=SIGNER, checkpoint_every=20))
    key = SIGNER.verifier_key.encode()
    good = _write(tmp_path / "good.ndjson", lines)
    assert main(["audit", "verify", str(good), "--key", key]) == 0
    assert capsys.readouterr().out.startswith("OK tenant:acme: 50 entries")
    assert main(["audit", "verify", str(good), "--key", key, "--fast"]) == 0
    capsys.readouterr()
    at = next(i for i in range(25, len(lines)) if b'"action":"auth.login"' in lines[i])
    lines[at] = lines[at].replace(b"auth.login", b"auth.logon")
    bad = _write(tmp_path / "bad.ndjson", lines)
    assert main(["audit", "verify", str(bad), "--key", key]) == 1
    out = capsys.readouterr().out
    assert "INVALID" in out
    assert f"modified at line {at + 1}" in out
    assert main(["audit", "verify", str(good), "--key", "nonsense"]) == 2
