"""The tamper-evident audit log's pure core: entries, the Merkle tree, checkpoints, verification.

Nothing here does I/O (an import-linter contract keeps it so): the outbox relay appends entries and
stores them, the API serves proofs and exports, and an outside auditor verifies an export with the
published key only — all three on the same functions.
"""
