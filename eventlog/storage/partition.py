"""A partition: an append-only, offset-addressed log made of segments in one directory.

`Partition` is the facade that ties the two halves of a partition, each in its own module:
`storage.writer` (`PartitionWriter`: append, roll, recovery of a damaged tail) and
`storage.reader` (`PartitionReader`: fetch from an offset, locate, offset_for_time). This
module owns what both share: the handle's state and locks, the segment listing and read
handles (`_list`, `_seg`, `_successor`), the start and end offsets, `delete_records`, and
the public calls maintenance uses. The halves are mixins of this one class (no indirection on
the hot paths); they use only the attributes `Partition.__init__` sets.

Invariants (the writer's and the reader's own are in their modules' docstrings):
- The log start offset is the larger of the first segment's base and the persisted
  `log-start-offset.json`; it only moves forward (`delete_records`, retention), persisted
  before any segment below it is unlinked, under the append lock.
- `end_offset` trusts the newest segment's valid chain of batches from position 0 (verified
  once per handle, then incrementally), never an index entry alone: an entry past damage in
  the middle must not move the end past the damage.
- A newer segment's base offset is exactly the old segment's end offset (until compaction
  leaves gaps). Readers and writers find the next segment by that name (`_successor`); a
  directory listing is only a fallback (for gaps), because readdir racing with file
  creation can return a newer file and miss an older one created during the listing.
- At most `_MAX_READ_SEGS` read handles are kept open per partition; every descriptor
  reopens lazily after `close()`/`release_idle()`, except after `close(final=True)`.
"""
import contextlib
import os
import threading
from collections import OrderedDict

from eventlog._os.fs import FileLock, check_usable, fork_generation, read_json, atomic_write_json
from eventlog._os.fs import wrap_public_methods
from eventlog.storage.segment import READ_CHUNK, Segment, list_segment_bases, remove_segment_files, segment_exists
from eventlog.storage.reader import PartitionReader
from eventlog.storage.writer import PartitionWriter
from eventlog.errors import ForkedProcessError, InvalidArgumentError, LogClosedError, OffsetOutOfRangeError
from eventlog.record import TopicPartition

_MAX_READ_SEGS = 16
START_FILE = "log-start-offset.json"


def _ignore(_partition):
    pass


@wrap_public_methods(exclude=("config",))  # hot, no I/O
class Partition(PartitionWriter, PartitionReader):
    """One partition of a topic. Obtain it from `Topic.partition(n)`.

    Attributes `topic` (name) and `partition` (number) are as in `TopicPartition`.
    """

    def __init__(self, topic, number, *, on_touch=None, on_roll=None):
        self._topic = topic
        # injected by the layer that builds topics (the Log): storage calls nothing above it
        self._on_touch = on_touch if on_touch is not None else _ignore  # (partition) on each append/fetch
        self._on_roll = on_roll if on_roll is not None else _ignore     # (partition) after a roll, append lock held
        self.topic = topic.name
        self.partition = number
        self.tp = TopicPartition(topic.name, number)
        self.dir = os.path.join(topic.dir, str(number))
        self._wlock = threading.Lock()
        self._rlock = threading.RLock()
        self._flock = FileLock(os.path.join(self.dir, "append.lock"))
        self._w = None
        self._one = None         # the topic settings the single-record append uses (writer)
        self._segs = OrderedDict()  # base -> Segment (read side), least recently used first
        self._bases = []         # sorted bases from the last listing
        self._read_chunk = READ_CHUNK  # how much readers ask for at once (reader.read_size)
        self._fork = fork_generation()
        self._closed = False
        self._log_dir = os.path.dirname(os.path.dirname(topic.dir))

    def __repr__(self):
        return f"<Partition {self.topic}[{self.partition}]>"

    @property
    def config(self):
        """The topic's settings (`TopicConfig`) as this process last read them."""
        return self._topic.config

    # -- housekeeping ----------------------------------------------------------------------
    def _check_usable(self):
        check_usable(self._closed, self._fork, self._closed_error, self._forked_error)

    def _closed_error(self):
        return LogClosedError(f"partition {self.topic}[{self.partition}] belongs to a closed Log")

    def _forked_error(self):
        return ForkedProcessError(
            f"partition {self.topic}[{self.partition}] was opened before fork(); "
            "open the log again in the child process (eventlog.open)")

    def _check(self, exclusive=True):
        """Assert the storage invariants of this handle (tests call it after every step):
        the writer's position (if a writer is open) is the size of its segment file
        (`exclusive`: no other process appends to this partition)."""
        with self._wlock:
            if self._w is not None and self._w.fd >= 0:
                self._w.check(exclusive)

    def close(self, *, final=False):
        """Close every descriptor this partition holds (it reopens them lazily if used again,
        unless the whole Log was closed: `final=True`, after which it refuses use)."""
        if final:
            self._closed = True
        with self._wlock:
            if self._w is not None:
                self._w.close()
                self._w = None
            self._flock.close()
        with self._rlock:
            for s in self._segs.values():
                s.close()

    def release_idle(self):
        """Close descriptors if nobody is using them right now (the Log's descriptor budget
        calls it for partitions not used recently); they reopen lazily."""
        if self._wlock.acquire(blocking=False):
            try:
                if self._w is not None:
                    self._w.close()
                    self._w = None
                self._flock.close()
            finally:
                self._wlock.release()
        if self._rlock.acquire(blocking=False):
            try:
                for s in self._segs.values():
                    s.close()
            finally:
                self._rlock.release()

    # -- segments --------------------------------------------------------------------------
    def _list_bases(self):
        """The sorted bases of the segment files in the directory now."""
        return list_segment_bases(self.dir)

    def _list(self):
        """Refresh the sorted list of segment bases from the directory (reader side: callers
        hold the read lock) and forget read handles of segments that are gone."""
        bases = self._list_bases()
        self._bases = bases
        segs = self._segs
        alive = set(bases)
        for b in [b for b in segs if b not in alive]:
            segs.pop(b).close()
        return bases

    def _seg(self, base):
        """The read handle of segment `base` (callers hold the read lock). At most
        _MAX_READ_SEGS are kept, so random reads over a long log hold few descriptors."""
        segs = self._segs
        s = segs.get(base)
        if s is None:
            s = segs[base] = Segment(self.dir, base)
            while len(segs) > _MAX_READ_SEGS:
                segs.popitem(last=False)[1].close()  # whoever still holds it reopens lazily
        else:
            segs.move_to_end(base)
        return s

    def _successor(self, base, end_next):
        """Base of the segment that follows segment `base`, whose valid data ends at offset
        `end_next`; None if it is the newest. The successor is named by `end_next` (a roll
        names the new segment by the old one's end), unless compaction left a gap. A
        directory listing alone is not enough: readdir racing with file creation may return a
        segment created during the listing yet miss an older one also created meanwhile, so
        the exact name is looked up again after listing."""
        if end_next != base and segment_exists(self.dir, end_next):
            return end_next
        later = [b for b in self._list() if b > base]
        if not later:
            return None
        if later[0] != end_next and end_next != base and \
                segment_exists(self.dir, end_next):
            return end_next  # created while we listed
        return later[0]

    def _persisted_start(self):
        try:
            return int(read_json(os.path.join(self.dir, START_FILE))["log_start_offset"])
        except (FileNotFoundError, ValueError, KeyError, TypeError):
            return 0

    @property
    def start_offset(self):
        """The log start offset: the first offset that can still be read."""
        self._check_usable()
        with self._rlock:
            bases = self._list()
            first = bases[0] if bases else 0
            return max(first, self._persisted_start())

    @property
    def end_offset(self):
        """The next offset to be written (the log end offset), as seen on disk now."""
        self._check_usable()
        with self._rlock:
            bases = self._list()
            if not bases:
                return self._persisted_start()
            seg = self._seg(bases[-1])
            try:
                _pos, nxt = seg.valid_end()
            except FileNotFoundError:  # removed meanwhile (topic deleted, segment replaced)
                return self._persisted_start() if not self._list() else self.end_offset
            return nxt

    def check(self, deep=False, *, _progress=None, _wait=None):
        """Check this partition's files against the storage invariants and return a
        `PartitionReport` (it does not raise for damage: damage is what it reports).

        The report has `.ok` (no error), `.problems` (a list of `Problem`, each naming the
        topic, partition, file, position, offsets, what is wrong and its severity), and counts:
        `segments`, `batches`, `records`, `bytes`, `start_offset`, `end_offset`,
        `quarantine_files`, `quarantined_bytes` and `quarantined_offsets`. Checked: offsets
        dense from the first segment to `end_offset`, every batch CRC-valid and continuing
        the sequence, indexes agreeing with the log, `end_offset` equal to the end of the
        valid data. `deep=True` also decodes every batch's records. Safe while others read
        and write (bytes past the newest segment's valid data are looked at again under the
        append lock)."""
        self._check_usable()
        from eventlog.storage import check as _check
        return _check.check(self, "compact" in self._topic.config.cleanup_policy, deep, _progress, _wait)

    def delete_records(self, before_offset):
        """Move the log start offset to `before_offset` (Kafka's DeleteRecords): records below
        it are no longer returned to reads that start there, and segments entirely below it
        are deleted. Persisted; returns the new start offset. OffsetOutOfRangeError if
        `before_offset` is past the end offset."""
        self._check_usable()
        if type(before_offset) is not int or before_offset < 0:
            raise InvalidArgumentError(f"before_offset must be an int >= 0, got {before_offset!r}")
        with self.append_lock():
            end = self.end_offset
            if before_offset > end:
                raise OffsetOutOfRangeError(
                    f"delete_records({before_offset}) on {self.topic}[{self.partition}]: past the end "
                    f"offset {end}")
            start = self.start_offset
            if before_offset <= start:
                return start
            self.persist_start_offset(before_offset)
            bases = self._list_bases()
            for i in range(len(bases) - 1):
                if bases[i + 1] > before_offset:
                    break
                remove_segment_files(self.dir, bases[i])
        return before_offset

    # -- for maintenance (retention, compaction): segment files under the append lock --------
    def segment_bases(self):
        """The sorted base offsets of the segment files in the partition directory now (the
        last is the active segment). Complete while the caller holds `append_lock()`."""
        return self._list_bases()

    def stored_start_offset(self):
        """The log start offset persisted by `persist_start_offset` (0 if none)."""
        return self._persisted_start()

    def persist_start_offset(self, offset):
        """Persist `offset` as the log start offset (atomically; fsynced for fsync="batch").
        Callers hold `append_lock()` and persist it before unlinking the segments below it."""
        self._write_start(offset)

    @contextlib.contextmanager
    def append_lock(self, held=False):
        """Hold the writers' append lock (flock on `append.lock`, through a descriptor of its
        own, so it excludes this process's writers too) for the `with` block. `held=True`: the
        caller already holds it (the on_roll callback runs under the writer's lock)."""
        if held:
            yield self
            return
        lk = FileLock(os.path.join(self.dir, "append.lock"))
        try:
            lk.acquire()
            try:
                yield self
            finally:
                lk.release()
        finally:
            lk.close()

    def _write_start(self, offset):
        atomic_write_json(os.path.join(self.dir, START_FILE), {"log_start_offset": offset},
                          fsync=self._topic.config.fsync == "batch")
