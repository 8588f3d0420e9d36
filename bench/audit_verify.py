"""Benchmark: audit export verification against raw hashlib over the same canonical encodings.

    .venv/bin/python bench/audit_verify.py            # BENCH_ENTRIES=200000 by default

In one run, interleaved rounds (best of BENCH_ROUNDS) over one in-memory export of N entries
(checkpoints every 1,000): records/s of

1. the baseline: `hashlib.sha256(encoding).digest()` over each entry's canonical encoding, in a
   plain loop (what a Python verifier that only hashed the entries would cost), and the same
   through `map` (C-level iteration: the floor of any Python code that hashes once per record);
2. `verify_export(strict=False)`: the fast path (own hash, prev link, seq and log of every entry,
   the Merkle tree and every checkpoint's signature and root), with the C accelerator
   (caas_core.auditlog.accel, built by hack/bootstrap.sh) and on the pure Python path (what a
   machine without a compiler gets);
3. `verify_export()` strict, the default: the fast path's checks plus a full parse of every entry,
   on both paths;
4. the stdlib-only script (hack/audit_verify_standalone.py), for auditors.

Verification must hash each entry once and add about one Merkle node hash per entry, so 0.5x of
the one-hash baseline is close to what any verifier of this tree can reach.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from caas_core.auditlog import accel, fastpath
from caas_core.auditlog.checkpoint import CheckpointSigner
from caas_core.auditlog.entry import chain, commit_personal_data
from caas_core.auditlog.export import export_lines
from caas_core.auditlog.verify import verify_export

N = int(os.environ.get("BENCH_ENTRIES", "200000"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
ROOT = Path(__file__).resolve().parents[1]


def _events(n: int) -> list[dict[str, object]]:
    start = datetime(2026, 12, 1, tzinfo=UTC)
    salt = bytes(32)
    return [
        {
            "id": f"{i:032x}",
            "at": start + timedelta(milliseconds=i),
            "action": ("auth.token.issued", "auth.login", "apikey.revoked")[i % 3],
            "outcome": "success" if i % 7 else "failure",
            "actor_type": "user",
            "actor_id": f"usr_{i % 1000:06d}",
            "target_type": "api_key",
            "target_id": f"key_{i % 5000:06d}",
            "pd": commit_personal_data(payload={"ip": f"10.0.{i % 256}.{i % 250}"}, salt=salt),
        }
        for i in range(n)
    ]


def _rate(run: Callable[[], object]) -> float:
    start = time.perf_counter()
    run()
    return N / (time.perf_counter() - start)


def main() -> None:
    load_before = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"building {N:,} entries …", file=sys.stderr)
    entries = chain(log="tenant:bench", events=_events(N))
    signer = CheckpointSigner.generate(name="audit.caas.bench")
    lines = list(export_lines(entries=entries, signer=signer, checkpoint_every=1000))
    encodings = [e.encode() for e in entries]
    key = signer.verifier_key
    spec = importlib.util.spec_from_file_location(
        "standalone", ROOT / "hack" / "audit_verify_standalone.py"
    )
    assert spec is not None
    assert spec.loader is not None
    standalone = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(standalone)
    with tempfile.NamedTemporaryFile(suffix=".ndjson") as export:
        export.write(b"".join(lines))
        export.flush()

        def loop() -> None:
            sha = hashlib.sha256
            for encoding in encodings:
                sha(encoding).digest()

        def mapped() -> None:
            for h in map(hashlib.sha256, encodings):
                h.digest()

        def verify(
            *, accelerated: bool, strict: bool, from_file: bool = False
        ) -> Callable[[], None]:
            def run() -> None:
                fastpath.accelerated = accelerated
                if from_file:
                    with open(export.name, "rb") as f:
                        assert verify_export(lines=f, key=key, strict=strict).ok
                else:
                    assert verify_export(lines=lines, key=key, strict=strict).ok

            return run

        def script() -> None:
            assert standalone.verify(export.name, key.encode()) is None

        runs = {
            "hashlib loop": loop,
            "hashlib map": mapped,
            "verify fast, C": verify(accelerated=True, strict=False),
            "verify fast, C (file)": verify(accelerated=True, strict=False, from_file=True),
            "verify fast, Python": verify(accelerated=False, strict=False),
            "verify strict, C": verify(accelerated=True, strict=True),
            "verify strict, Python": verify(accelerated=False, strict=True),
            "standalone": script,
        }
        if not accel.AVAILABLE:
            sys.exit("the accelerator is not built: run hack/bootstrap.sh")
        best: dict[str, float] = dict.fromkeys(runs, 0.0)
        for _ in range(ROUNDS):
            for name, run in runs.items():
                best[name] = max(best[name], _rate(run))
    mean = sum(map(len, encodings)) / N
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"{N:,} entries, {mean:.0f} bytes each, best of {ROUNDS} interleaved rounds")
    print(f"load average {load_before} before, {load} after ({os.cpu_count()} CPUs)")
    print(f"{'measure':<24} {'records/s':>12} {'x hashlib loop':>15} {'x hashlib map':>14}")
    for name, rate in best.items():
        loop_x, map_x = rate / best["hashlib loop"], rate / best["hashlib map"]
        print(f"{name:<24} {rate:>12,.0f} {loop_x:>15.2f} {map_x:>14.2f}")


if __name__ == "__main__":
    main()
