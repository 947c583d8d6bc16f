"""`check_committed_offsets`: the invariant check of the committed offsets of a log."""
from __future__ import annotations

from collections.abc import Iterable

import attrs

from eventlog.storage.topic import NO_TOPIC_ID
from eventlog.record import TopicPartition
from eventlog.offsets.model import check_group


# ---------------------------------------------------------------------------------------------
# The invariant check


@attrs.frozen
class OffsetProblem:
    """One committed offset that breaks an invariant (see `check_committed_offsets`)."""

    group: str
    tp: TopicPartition
    offset: int
    #: "other-incarnation" | "unknown-partition" | "before-start" | "past-end"
    kind: str
    message: str


def check_committed_offsets(log, groups: Iterable[str] | None = None) -> list[OffsetProblem]:
    """Check every committed offset in `log`'s file offset store (of `groups`, default all
    groups with committed offsets) and return what is wrong, as `OffsetProblem`s (an empty
    list when all is well). Reads only; repairs nothing.

    For each stored offset of partition `p` of topic `t`:
    - "other-incarnation": it was committed against an id that is not `t`'s live
      `topic_id` (left over from a deleted topic, or from a topic of that name deleted and
      created again). Such offsets are never read, so this is garbage rather than a wrong
      answer, but deleting a topic removes its offsets, so none should be left.
    - "unknown-partition": `t` exists with the offset's id but has no partition `p`.
    - "past-end": the offset is greater than `p.end_offset`: the group claims to have read
      records the log does not have (acknowledged records lost, or a bad manual commit).
    - "before-start": the offset is less than `p.start_offset`: records the group has not
      read are gone (retention or delete_records ran first; Kafka allows this, and a
      consumer then resumes from `auto_offset_reset`). Reported so that a test can assert
      that it does not happen where retention cannot explain it.

    `log` is an open `eventlog.Log` (only `log.offset_store` and `log.topic(name)` are used). Run
    it while no process commits or deletes topics, or a commit racing with it may be
    reported (for example one that lands between reading an offset and the end offset).
    Used by `Log.verify()` and after every multi-process test.
    """
    from eventlog.errors import UnknownPartitionError, UnknownTopicError

    store = log.offset_store
    names = store.groups() if groups is None else [check_group(g) for g in groups]
    problems = []
    topics = {}
    for group in names:
        for tp, entry in store.stored_entries(group).items():
            def problem(kind, text, tp=tp, entry=entry, group=group):
                problems.append(OffsetProblem(
                    group, tp, entry.offset, kind,
                    f"group {group!r}: committed offset {entry.offset} of {tp.topic}[{tp.partition}] "
                    f"{text}"))
            if tp.topic not in topics:
                try:
                    topics[tp.topic] = log.topic(tp.topic)
                except UnknownTopicError:
                    topics[tp.topic] = None
            topic = topics[tp.topic]
            live = NO_TOPIC_ID if topic is None else topic.topic_id
            if entry.topic_id != live:
                problem("other-incarnation",
                        f"was committed against topic id {entry.topic_id}, but the topic "
                        + ("no longer exists" if topic is None else f"now has id {live}")
                        + " (it is ignored; deleting the topic should have removed it)")
                continue
            if topic is None:
                continue       # a commit for a topic never created: nothing to compare with
            try:
                part = topic.partition(tp.partition)
            except UnknownPartitionError:
                problem("unknown-partition",
                        f"is for a partition the topic does not have "
                        f"({topic.partition_count} partitions)")
                continue
            start, end = part.start_offset, part.end_offset
            if entry.offset > end:
                problem("past-end", f"is past the partition's end offset {end}")
            elif entry.offset < start:
                problem("before-start", f"is below the partition's start offset {start}")
    return problems
