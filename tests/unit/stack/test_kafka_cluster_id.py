"""The local stack's KRaft cluster id never starts with '-' (the storage tool would refuse it)."""

import base64
from collections.abc import Iterator
from pathlib import Path

from caasctl.stack.components import kafka_cluster_id, new_kafka_cluster_id

DASH_FIRST = bytes([0xF8]) + bytes(15)  # 0b111110.. encodes as '-' in base64url
PLAIN = bytes(range(16))


def _source(*chunks: bytes) -> Iterator[bytes]:
    yield from chunks


def test_an_id_starting_with_a_dash_is_drawn_again() -> None:
    assert base64.urlsafe_b64encode(DASH_FIRST).decode().startswith("-")
    chunks = _source(DASH_FIRST, PLAIN)
    cluster_id = new_kafka_cluster_id(lambda n: next(chunks))
    assert cluster_id == base64.urlsafe_b64encode(PLAIN).decode().rstrip("=")
    assert len(cluster_id) == 22


def test_the_id_is_made_once_and_kept(tmp_path: Path) -> None:
    path = tmp_path / "cluster-id"
    first = kafka_cluster_id(path)
    assert not first.startswith("-")
    assert kafka_cluster_id(path) == first


def test_a_dash_id_left_by_a_failed_format_is_replaced(tmp_path: Path) -> None:
    path = tmp_path / "cluster-id"
    path.write_text("-KY3aJXZT7GS-nQ0R2ykPA")
    replaced = kafka_cluster_id(path)
    assert not replaced.startswith("-")
    assert path.read_text() == replaced
