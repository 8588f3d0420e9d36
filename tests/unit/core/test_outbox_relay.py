"""The relay's bookkeeping: a message is forgotten only once journaled *and* acknowledged; Kafka's
answers never hold up the journals; a failure keeps the message for a later scan."""

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime

import pytest

from caas_core.adapters.outbox import OutboxMessage, OutboxRelay

NOW = datetime(2026, 11, 24, tzinfo=UTC)


class FakeStore:
    """The outbox store's relay-facing side, in memory; `record` may be told to fail."""

    def __init__(self, *, journal_fails: bool = False) -> None:
        self.journal_fails = journal_fails
        self.journaled: list[str] = []
        self.delivered_ids: list[str] = []
        self.retried: list[str] = []
        self.due: list[OutboxMessage] = []

    def subscribe(self, listener: object) -> None:
        pass

    async def record(self, messages: Sequence[OutboxMessage]) -> None:
        await asyncio.sleep(0)
        if self.journal_fails:
            raise ConnectionError("mongo down")
        self.journaled += [m.id for m in messages if m.journal]

    async def delivered(self, ids: Sequence[str]) -> None:
        self.delivered_ids += ids

    async def retry_later(self, messages: Sequence[OutboxMessage]) -> None:
        self.retried += [m.id for m in messages]

    async def waiting_before(self, messages: Sequence[OutboxMessage]) -> dict[str, datetime]:
        return {}

    async def hold(self, held: dict[str, datetime]) -> None:
        pass

    async def claim_due(self, *, limit: int) -> list[OutboxMessage]:
        claimed, self.due = self.due[:limit], self.due[limit:]
        return claimed


class FakePublisher:
    """Hands out one pending future per batch; the test answers for Kafka."""

    def __init__(self) -> None:
        self.batches: list[tuple[list[str], asyncio.Future[list[str | None]]]] = []

    def produce(self, messages: Sequence[OutboxMessage]) -> "asyncio.Future[list[str | None]]":
        future: asyncio.Future[list[str | None]] = asyncio.get_running_loop().create_future()
        self.batches.append(([m.id for m in messages], future))
        return future


def message(id: str, *, journal: str | None = "log") -> OutboxMessage:
    return OutboxMessage.new(topic="t", payload={"n": id}, id=id, now=NOW, journal=journal)


async def _until(condition: object) -> None:
    for _ in range(100):
        if condition():  # type: ignore[operator]
            return
        await asyncio.sleep(0)
    raise AssertionError("condition never held")


@pytest.fixture
def parts() -> tuple[FakeStore, FakePublisher, OutboxRelay]:
    store, publisher = FakeStore(), FakePublisher()
    relay = OutboxRelay(store, publisher, scan_interval=3600, in_flight=2)  # type: ignore[arg-type]
    return store, publisher, relay


async def test_journals_do_not_wait_for_kafka_and_deletes_wait_for_both(
    parts: tuple[FakeStore, FakePublisher, OutboxRelay],
) -> None:
    store, publisher, relay = parts
    running = asyncio.create_task(relay.run())
    try:
        await asyncio.sleep(0)  # the first pass: a scan of nothing
        relay.notify([message("a"), message("b", journal=None)])
        await _until(lambda: store.journaled == ["a"])
        assert publisher.batches
        assert store.delivered_ids == []
        publisher.batches[0][1].set_result([None, "broker down"])
        await _until(lambda: store.delivered_ids == ["a"])
        assert store.retried == ["b"]
        assert (relay.published, relay.failed) == (1, 1)
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)


async def test_a_failed_journal_keeps_every_message_of_the_batch(
    parts: tuple[FakeStore, FakePublisher, OutboxRelay],
) -> None:
    store, publisher, relay = parts
    store.journal_fails = True
    store.due = [message("a"), message("b")]
    with pytest.raises(ConnectionError):
        await asyncio.gather(relay.scan_once(), _answer(publisher, [None, None]))
    # Acknowledged by Kafka, but not journaled: nothing forgotten, the lease brings them back.
    assert store.delivered_ids == []
    assert store.retried == []


async def _answer(publisher: FakePublisher, outcomes: list[str | None]) -> None:
    await _until(lambda: bool(publisher.batches))
    publisher.batches[0][1].set_result(outcomes)


async def test_unanswered_batches_are_bounded(
    parts: tuple[FakeStore, FakePublisher, OutboxRelay],
) -> None:
    store, publisher, relay = parts
    running = asyncio.create_task(relay.run())
    try:
        await asyncio.sleep(0)
        for name in ("a", "b", "c"):
            relay.notify([message(name)])
            await asyncio.sleep(0.01)
        await _until(lambda: len(publisher.batches) == 2)
        await asyncio.sleep(0.05)
        assert len(publisher.batches) == 2, "a third batch must wait for a free slot"
        publisher.batches[0][1].set_result([None])
        await _until(lambda: len(publisher.batches) == 3)
        await _until(lambda: store.journaled == ["a", "b", "c"])
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
