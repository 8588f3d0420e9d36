"""The real local stack: obtains, starts, probes and stops etcd, Kubernetes, Kafka, FerretDB, Redis."""
