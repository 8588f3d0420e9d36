"""Imperative shell: the control plane's MongoDB, Redis and Kafka I/O, one class per concern.

Stores translate between documents and the pure types of `caas_control_plane.auth`; they decide
nothing. Collections live in the platform registry database `caas_platform` unless noted.
"""
