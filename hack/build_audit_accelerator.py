"""Compile the audit verifier's C accelerator into the package, idempotently.

    .venv/bin/python hack/build_audit_accelerator.py [--force]

Builds `operator/caas_core/auditlog/accel.c` with cffi (API mode, linked to OpenSSL's libcrypto)
into `operator/caas_core/auditlog/_accel<EXT_SUFFIX>` (gitignored). hack/bootstrap.sh runs it, so
`make test` and `make run` build it on a fresh machine (C compiler, libssl-dev and Python's headers
from apt). Nothing is done when the module is there and was built from the same source, build
script, cffi and Python (the stamp next to it). The verifier works without it (pure Python path),
so an auditor's machine without a compiler can still verify exports.

setuptools' `cffi_modules` is not used: the project builds with hatchling, and an editable
install must not need a compiler to succeed.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import sys
import sysconfig
import tempfile
from pathlib import Path

import cffi

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "operator" / "caas_core" / "auditlog"
SOURCE = PACKAGE / "accel.c"
MODULE = "caas_core.auditlog._accel"
STAMP = PACKAGE / ".stamp-accel"

CDEF = """
size_t caas_entry_run(const unsigned char *buf, const int64_t *lens, size_t n);
int caas_check_entries(const unsigned char *buf, const int64_t *lens, size_t n, uint64_t seq,
                       const unsigned char *prev, size_t prev_len, const unsigned char *suffix,
                       size_t suffix_len, unsigned char *leaves);
int caas_frontier_extend(unsigned char *hashes, uint64_t *size, const unsigned char *leaves,
                         size_t n);
"""


def _target() -> Path:
    return PACKAGE / f"_accel{sysconfig.get_config_var('EXT_SUFFIX')}"


def _fingerprint() -> str:
    digest = hashlib.sha256()
    for part in (SOURCE.read_bytes(), Path(__file__).read_bytes(), cffi.__version__.encode()):
        digest.update(hashlib.sha256(part).digest())
    digest.update(sys.version.encode())
    return digest.hexdigest()


def build(*, force: bool = False) -> Path:
    """The compiled module's path, (re)built if missing or stale."""
    target, want = _target(), _fingerprint()
    if not force and target.exists() and STAMP.exists() and STAMP.read_text().strip() == want:
        return target
    ffi = cffi.FFI()
    ffi.cdef(CDEF)
    # The low-level SHA256_* calls (deprecated in OpenSSL 3, still shipped) skip EVP's
    # per-call dispatch: a node hash is two SHA-256 blocks, so that dispatch would show.
    ffi.set_source(
        MODULE,
        "#define OPENSSL_SUPPRESS_DEPRECATED\n" + SOURCE.read_text(),
        libraries=["crypto"],
        extra_compile_args=["-O2", "-Wall"],
    )
    with tempfile.TemporaryDirectory() as tmp:
        built = Path(ffi.compile(tmpdir=tmp))
        # Staged under a unique name, then renamed: concurrent bootstraps and a running
        # verifier (which keeps its mapped copy) never see a half-written module.
        fd, staged = tempfile.mkstemp(dir=PACKAGE, prefix=".accel-", suffix=".so")
        os.close(fd)
        try:
            shutil.copyfile(built, staged)
            os.chmod(staged, 0o644)  # mkstemp's 0600 would hide it from other users
            os.replace(staged, target)
        finally:
            Path(staged).unlink(missing_ok=True)
    STAMP.write_text(want + "\n")
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--force", action="store_true", help="rebuild even when up to date")
    args = parser.parse_args()
    print(build(force=args.force).relative_to(ROOT))


if __name__ == "__main__":
    main()
