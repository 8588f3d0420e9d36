"""Backend clients (MongoDB, Kafka, Redis): idempotent provisioners and health probes."""
