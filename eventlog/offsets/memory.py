"""`MemoryOffsetStore`: the in-process `OffsetStore` (tests, ephemeral consumers); it keeps
the validation and topic-id rules of the package docstring (`eventlog.offsets`)."""
from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Mapping
from typing import Callable


from eventlog.storage.topic import NO_TOPIC_ID
from eventlog.errors import LogClosedError
from eventlog.record import TopicPartition
from eventlog.offsets.model import (
    Committer,
    OffsetAndMetadata,
    check_committer,
    check_group,
    check_metadata,
    check_offset,
    check_topic_ids,
    check_tp,
    check_tps,
    normalize_commit,
    now_ms,
)


# ---------------------------------------------------------------------------------------------
# In memory


class MemoryOffsetStore:
    """An `OffsetStore` in a dict: thread-safe, one process only, gone on exit. For tests."""

    def __init__(self, clock: Callable[[], float] = time.time):
        self._clock = clock
        self._lock = threading.Lock()
        self._groups: dict[str, dict[TopicPartition, OffsetAndMetadata]] = {}
        self._closed = False

    def __repr__(self):
        return f"MemoryOffsetStore(groups={len(self._groups)})"

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _check_open(self):
        if self._closed:
            raise LogClosedError("this MemoryOffsetStore was closed; create a new one")

    def commit(self, group: str, offsets: Mapping[TopicPartition, int],
               metadata: Mapping[TopicPartition, str] | None = None, *,
               topic_ids: Mapping[str, str] | None = None) -> None:
        self._check_open()
        group = check_group(group)
        entries = normalize_commit(offsets, metadata)
        ids = check_topic_ids(topic_ids)
        if not entries:
            return
        now = now_ms(self._clock)
        with self._lock:
            stored = self._groups.setdefault(group, {})
            for tp, offset, text in entries:
                stored[tp] = OffsetAndMetadata(offset, text, now, ids.get(tp.topic, NO_TOPIC_ID))

    def commit_partition(self, group: str, tp: TopicPartition, offset: int,
                         metadata: str | None = "", *, topic_id: str | None = None,
                         committer: Committer | None = None) -> None:
        """Commit one partition (the building block a group layer fences); `committer`
        records the fencing member beside the application's metadata."""
        self._check_open()
        group = check_group(group)
        tp = check_tp(tp)
        ids = check_topic_ids(None if topic_id is None else {tp.topic: topic_id})
        entry = OffsetAndMetadata(check_offset(offset, tp), check_metadata(metadata, tp),
                                  now_ms(self._clock), ids.get(tp.topic, NO_TOPIC_ID),
                                  check_committer(committer))
        with self._lock:
            self._groups.setdefault(group, {})[tp] = entry

    def committed_metadata(self, group: str, tps: Iterable[TopicPartition], *,
                           topic_ids: Mapping[str, str] | None = None
                           ) -> dict[TopicPartition, OffsetAndMetadata | None]:
        """Like `committed`, with each partition's metadata string, commit time and topic id.
        This store knows no topics: only the incarnations named in `topic_ids` are checked."""
        self._check_open()
        group = check_group(group)
        tps = check_tps(tps)
        ids = check_topic_ids(topic_ids)
        with self._lock:
            stored = self._groups.get(group, {})
            out = {}
            for tp in tps:
                entry = stored.get(tp)
                if entry is not None and entry.topic_id != ids.get(tp.topic, entry.topic_id):
                    entry = None
                out[tp] = entry
            return out

    def committed(self, group: str, tps: Iterable[TopicPartition], *,
                  topic_ids: Mapping[str, str] | None = None) -> dict[TopicPartition, int | None]:
        return {tp: None if entry is None else entry.offset
                for tp, entry in self.committed_metadata(group, tps, topic_ids=topic_ids).items()}

    def all_committed(self, group: str) -> dict[TopicPartition, int]:
        self._check_open()
        group = check_group(group)
        with self._lock:
            stored = self._groups.get(group, {})
            return {tp: stored[tp].offset for tp in sorted(stored)}

    def groups(self) -> list[str]:
        self._check_open()
        with self._lock:
            return sorted(group for group, stored in self._groups.items() if stored)

    def delete_offsets(self, group: str, tps: Iterable[TopicPartition]) -> None:
        self._check_open()
        group = check_group(group)
        tps = check_tps(tps)
        with self._lock:
            stored = self._groups.get(group, {})
            for tp in tps:
                stored.pop(tp, None)

    def delete_group(self, group: str) -> None:
        self._check_open()
        group = check_group(group)
        with self._lock:
            self._groups.pop(group, None)

    def close(self) -> None:
        self._closed = True
