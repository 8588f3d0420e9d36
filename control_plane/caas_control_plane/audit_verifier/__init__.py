"""The audit verifier: a process that checks every audit log continuously as entries arrive.

- core, witness: pure incremental verification (per log: verified size, Merkle frontier, last
  hash) and the Kafka message check; no I/O (an import-linter contract keeps them so).
- reader, states: the MongoDB reads the verifier makes and its persisted progress.
- service: the imperative shell (verify a log up to a seq, raise an integrity problem once,
  sign checkpoints over verified prefixes only); consumer: the `platform.audit` consumer;
  http: `/metrics` and `/healthz`; runner and __main__: the `caas-audit-verifier` process.
"""
