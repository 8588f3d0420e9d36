"""Which offsets may be committed: per partition, the end of the handled prefix.

Messages of a partition are handled concurrently and finish in any order; Kafka keeps one
position per partition, so the committed position is the first offset not yet durable. A crash
re-reads from there: everything after it that was already handled is delivered again (same
`webhook-id`), nothing before it is lost.
"""

from dataclasses import dataclass, field

TopicPartition = tuple[str, int]


@dataclass(slots=True)
class _Partition:
    epoch: int
    pending: set[int] = field(default_factory=set)
    highest: int = -1  # highest offset seen
    committed: int = -1  # last position handed out for commit


class OffsetTracker:
    """Tracks started and finished offsets; `committable` yields positions that advanced."""

    def __init__(self) -> None:
        self._partitions: dict[TopicPartition, _Partition] = {}
        self._epochs = 0

    def started(self, tp: TopicPartition, offset: int) -> int:
        """A message was read and is being handled; returns the partition's epoch, which
        `finished` must present (a partition revoked and assigned again starts a new epoch, so
        a late finish from before cannot move the new owner's position)."""
        part = self._partitions.get(tp)
        if part is None:
            self._epochs += 1
            part = self._partitions[tp] = _Partition(epoch=self._epochs)
        part.pending.add(offset)
        part.highest = max(part.highest, offset)
        return part.epoch

    def finished(self, tp: TopicPartition, offset: int, epoch: int) -> None:
        """A message's outcome is durable."""
        part = self._partitions.get(tp)
        if part is not None and part.epoch == epoch:
            part.pending.discard(offset)

    def pending_in(self, tps: list[TopicPartition]) -> int:
        """Unfinished messages of these partitions."""
        return sum(len(self._partitions[tp].pending) for tp in tps if tp in self._partitions)

    def position(self, tp: TopicPartition) -> int | None:
        """The offset to commit for `tp` (the next one to read after a restart)."""
        part = self._partitions.get(tp)
        if part is None or part.highest < 0:
            return None
        return min(part.pending) if part.pending else part.highest + 1

    def committable(self, tps: list[TopicPartition] | None = None) -> dict[TopicPartition, int]:
        """Positions that moved past the last committed one (of `tps`, or of all)."""
        moved: dict[TopicPartition, int] = {}
        for tp, part in self._partitions.items():
            if tps is not None and tp not in tps:
                continue
            position = self.position(tp)
            if position is not None and position > part.committed:
                moved[tp] = position
        return moved

    def committed(self, positions: dict[TopicPartition, int]) -> None:
        """Kafka stored these positions."""
        for tp, position in positions.items():
            part = self._partitions.get(tp)
            if part is not None:
                part.committed = max(part.committed, position)

    def in_flight(self, topic: str | None = None) -> int:
        """Messages read and not yet durable (of one topic, or of all)."""
        return sum(
            len(p.pending)
            for (name, _), p in self._partitions.items()
            if topic is None or name == topic
        )

    def revoke(self, tps: list[TopicPartition]) -> None:
        """Forget partitions the group took away (their unfinished messages are re-read by the
        new owner; late finishes here are ignored)."""
        for tp in tps:
            self._partitions.pop(tp, None)
