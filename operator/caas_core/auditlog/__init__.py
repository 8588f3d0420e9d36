"""The tamper-evident audit log's pure core: entries, the Merkle tree, checkpoints, verification.

Nothing here does I/O (an import-linter contract keeps it so): the outbox relay appends entries and
stores them, the API serves proofs and exports, and an outside auditor verifies an export with the
published key only — all three on the same functions.

- entry: `Entry` (canonical bytes, leaf hash, the prev-hash link), personal-data commitments.
- merkle: RFC 9162 tree hash, `Frontier` (O(log n) state per log), proofs and their checks.
- checkpoint: C2SP tlog-checkpoint bodies in Ed25519 signed notes; the published verifier key.
- export: the NDJSON export's lines (entries, checkpoints, pruned prefixes).
- verify: `verify_export` (strict by default), built on fastpath, reader, anchors and problems.
"""
