"""A partition: an append-only, offset-addressed log made of segments in one directory.

Owns: appending (under `flock` on `append.lock` plus a thread lock), rolling segments,
recovering a damaged tail, reading from an offset, finding offsets by time.

Invariants:
- Offsets are dense and increase by one per record across every process: they are assigned
  under the append lock after the writer has caught up with the true end of the log (it
  reads forward from where it last wrote, validating what others wrote).
- One `append_batch` is one batch, written with one `pwritev` (`_fs.write_at`, which continues
  a short write): readers see all of it or none. A failed write is cut back; OS refusals leave
  as `StorageError` subclasses (`_fs.storage_errors`).
- Readers take no lock on the fast path and return only records of whole, CRC-valid batches
  whose base offset continues the sequence. Bytes past the valid data of the newest segment
  may be a write in progress: a reader cannot tell that from damage by looking, so (slow
  path only) it looks again under the append lock: a torn tail (no valid batch in the bytes)
  is "not yet written", valid data after invalid bytes is `CorruptLogError`. In a closed
  segment (a newer one exists, so every write to it is done) invalid bytes are
  `CorruptLogError` after one more read; a reader never skips to the next segment past them.
- `end_offset`, readers and a writer opening the newest segment trust its valid chain of
  batches from position 0 (verified once per handle, then incrementally), never an index
  entry alone: an entry past damage in the middle must not move the end past the damage.
- A writer that finds an invalid tail under the lock cuts it off quietly (crash recovery)
  when no valid batch follows it. When valid data follows (corruption) it resynchronises:
  the first CRC-valid batch after the damage whose base offset continues the sequence past
  it (`segment.resync_point`) ends the damage; only the damaged bytes go to a quarantine
  file, and are overwritten in place by a batch of no records covering the offsets they held
  (`segment.fill_gap`): an explicit gap, read across as across a compacted gap. The valid
  batches after it stay, readable; a warning names the partition, the offsets lost, the
  file. Valid batches that do not continue the sequence are moved aside whole (as before:
  an empty batch covers their offsets, so no offset that was ever readable is reused). Until
  a writer (or `verify --repair`) has done this, readers that reach the damage raise
  `CorruptLogError` and `end_offset` stops before it. It cuts index entries that point past
  the new end.
- A segment is rolled only after the writer's last write to it; a newer segment's base
  offset is exactly the old segment's end offset (until compaction leaves gaps). Readers and
  writers find the next segment by that name; a directory listing is only a fallback (for
  gaps), because readdir racing with file creation can return a newer file and miss an older
  one created during the listing.
- Segments are created only under the append lock, so a writer's listing is complete.
"""
import bisect
import contextlib
import logging
import os
import threading
from collections import OrderedDict
from itertools import islice, repeat

from eventlog.storage import codec as _codec
from eventlog.storage.codec import HEADER_SIZE, CorruptBatchError
from eventlog._os.fs import FileLock, check_usable, fork_generation, fsync_dir, read_json, atomic_write_json
from eventlog._os.fs import storage_errors, wrap_public_methods, write_at
from eventlog._os.fs import now_ms as _now_ms
from eventlog.storage.segment import (READ_CHUNK, Segment, _IDX, _TIDX, crosses_interval, fill_gap,
                                      index_entries, list_segment_bases, quarantine, remove_segment_files,
                                      resync_point, seg_name, valid_batches_in)
from eventlog.errors import (CorruptLogError, ForkedProcessError, InvalidArgumentError, InvalidTypeError,
                     LogClosedError, OffsetOutOfRangeError, RecordTooLargeError, UnknownTopicError)
from eventlog.record import Record, TopicPartition

_new = tuple.__new__
_HUGE = 1 << 62
_MAX_TS = (1 << 63) - 1
_MAX_READ_SEGS = 16
START_FILE = "log-start-offset.json"
log = logging.getLogger("eventlog")


def repair_command(log_dir, topic):
    """The command that moves damaged bytes of `topic` to quarantine files (for messages)."""
    return f"eventlog --dir {log_dir} verify --repair --yes {topic}"




class _Writer:
    """The appending process's view of the newest segment (valid only under the lock)."""

    __slots__ = ("seg", "fd", "pos", "next_offset", "max_ts", "first_ts", "idx_fd", "tidx_fd",
                 "entry_synced")

    def __init__(self, seg):
        self.seg = seg
        self.fd = self.idx_fd = self.tidx_fd = -1
        # has this process fsynced the directory since the segment file existed? Whoever
        # created it may have died before its own directory fsync (see Partition._write)
        self.entry_synced = False
        self.pos = 0
        self.next_offset = seg.base
        self.max_ts = None
        self.first_ts = None

    def check(self, exclusive=True):
        """Assert the writer's invariants: its position is within the file and, when no
        other writer can have appended since (`exclusive`), equal to the file size."""
        size = os.fstat(self.fd).st_size
        assert self.pos <= size and self.next_offset >= self.seg.base, (self.pos, size)
        if exclusive:
            assert self.pos == size, f"writer pos {self.pos} != size {size} of {self.seg.path}"

    def close(self):
        for name in ("fd", "idx_fd", "tidx_fd"):
            fd = getattr(self, name, -1)
            if fd is not None and fd >= 0:
                try:
                    os.close(fd)
                except OSError:
                    pass
                setattr(self, name, -1)
        self.seg.close()  # its read descriptor (a dup of fd)


def _ignore(_partition):
    pass


class FetchState:
    """A reader's place in a partition: the next offset to return and where it is on disk.
    `pending` holds records already decoded from a batch but not yet returned. `fetch` stops
    before a batch whose base offset is `limit` or more (read_committed readers set it to the
    last stable offset, which is always a batch's base offset). With `batches`
    a list, `fetch` decodes nothing: it appends the header (`BatchInfo`) of each valid batch
    it passes to the list and returns [] (the transactions layer's scan ahead for markers)."""

    __slots__ = ("offset", "seg", "pos", "expect", "pending", "pending_n", "ino", "batches", "limit")

    def __init__(self, offset):
        self.offset = offset
        self.seg = None
        self.pos = 0
        self.expect = 0
        self.pending = None
        self.ino = None  # inode `pos` refers to (None: pos is 0, valid in any version of the file)
        self.batches = None
        self.limit = _HUGE

    def reset(self, offset):
        self.offset = offset
        self.seg = None
        self.pending = None


@wrap_public_methods(exclude=("config", "prepare_batch", "append_prepared"))  # hot, no I/O / own wrapper
class Partition:
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
        self._segs = OrderedDict()  # base -> Segment (read side), least recently used first
        self._bases = []         # sorted bases from the last listing
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
        if end_next != base and os.path.exists(os.path.join(self.dir, seg_name(end_next) + ".log")):
            return end_next
        later = [b for b in self._list() if b > base]
        if not later:
            return None
        if later[0] != end_next and end_next != base and \
                os.path.exists(os.path.join(self.dir, seg_name(end_next) + ".log")):
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

    # -- appending -------------------------------------------------------------------------
    def append(self, value, key=None, headers=(), timestamp_ms=None):
        """Append one record; return its offset. Prefer `append_batch` for throughput."""
        if headers:
            headers = tuple(headers)
            hs = [headers]
        else:
            hs = None
        return self.append_batch([(key, value)], timestamp_ms=timestamp_ms, _headers=hs).start

    def append_batch(self, records, timestamp_ms=None, *, _headers=None, _producer=None):
        """Append records as one batch, all or nothing; return the `range` of their offsets.

        `records` is a sequence of `(key, value)`, `(key, value, headers)` or
        `(key, value, headers, timestamp_ms)` tuples; key and value are bytes or None, headers
        a sequence of `(str, bytes | None)`. Records without their own timestamp get
        `timestamp_ms` (default: now). The batch becomes visible to readers at once, whole.
        """
        self._check_usable()
        cfg = self._topic.config
        if not isinstance(records, (list, tuple)):
            records = list(records)
        if not records:
            end = self.end_offset
            return range(end, end)
        try:
            # strict: a record of another shape must not silently lose its headers/timestamp
            cols = list(zip(*records, strict=True))
        except TypeError:
            bad = next((i for i, r in enumerate(records) if not isinstance(r, (tuple, list))), 0)
            raise InvalidTypeError("append_batch takes a sequence of (key, value) tuples; record "
                                   f"{bad} is a {type(records[bad]).__name__}") from None
        except ValueError:
            n0 = len(records[0])
            bad = next((i for i, r in enumerate(records) if len(r) != n0), 0)
            raise InvalidArgumentError(
                f"record {bad} has {len(records[bad])} fields, record 0 has {n0}: all records of a "
                "batch must have the same shape, (key, value), (key, value, headers) or "
                "(key, value, headers, timestamp_ms)") from None
        ncol = len(cols)
        if ncol < 2 or ncol > 4:
            raise InvalidArgumentError(
                "each record must be (key, value), (key, value, headers) or "
                f"(key, value, headers, timestamp_ms); got {ncol} fields")
        keys, values = cols[0], cols[1]
        headers = _headers if _headers is not None else (cols[2] if ncol >= 3 else None)
        timestamps = cols[3] if ncol == 4 else None
        if timestamp_ms is None:
            timestamp_ms = _now_ms()
        elif type(timestamp_ms) is not int or not 0 <= timestamp_ms <= _MAX_TS:
            raise InvalidArgumentError(
                f"timestamp_ms must be an int in [0, 2**63) (ms since the epoch), got {timestamp_ms!r}")
        if timestamps is not None:
            timestamps = [timestamp_ms if t is None else t for t in timestamps]
            for i, t in enumerate(timestamps):
                if type(t) is not int or not 0 <= t <= _MAX_TS:
                    raise InvalidArgumentError(
                        f"record {i}: timestamp_ms must be an int in [0, 2**63), got {t!r}")
        prep = self.prepare_batch(keys, values, timestamp_ms, timestamps, headers, cfg)
        if _producer is not None:  # append_transactional
            prep.mark_transactional(*_producer)
        return self.append_prepared(prep)

    # -- the writer API (Producer): prepare outside the locks, then append ------------------
    def prepare_batch(self, keys, values, timestamp_ms, timestamps=None, headers=None, cfg=None):
        """Encode records into a batch ready for `append_prepared`, checking them against the
        topic's settings (`cfg`, default `self.config`): the slow part of an append, done
        without any lock. `keys` and `values` are sequences of bytes or None of one length;
        `timestamp_ms` (int ms) applies to every record unless `timestamps` (a sequence of
        ints) gives each its own; `headers`, when given, holds a sequence of
        `(str, bytes | None)` pairs per record. Raises InvalidTypeError / InvalidArgumentError
        (naming the record) for bad records, RecordTooLargeError over `max_record_bytes`, and
        InvalidArgumentError for a record without a key on a compacted topic."""
        if cfg is None:
            cfg = self._topic.config
        compacted_topic = "compact" in cfg.cleanup_policy
        try:
            prep = _codec.prepare(keys, values, timestamp_ms, timestamps=timestamps, headers=headers,
                                  codec=cfg.codec, zstd_level=cfg.compression_level)
        except (TypeError, ValueError, OverflowError) as e:
            self._explain_bad_records(keys, values, headers, e)
            raise
        if prep.attributes & (_codec.NO_KEYS | _codec.HAS_NULLS) and compacted_topic:
            if None in keys:
                raise InvalidArgumentError(
                    f"topic {self.topic!r} is compacted (cleanup_policy={cfg.cleanup_policy!r}): "
                    f"every record needs a key, record {list(keys).index(None)} has key None")
        if prep.max_record > cfg.max_record_bytes:
            # max_record is a bound (largest key + largest value + largest headers); the
            # exact per-record sizes are only worth computing when it is over the limit
            sizes = _codec.record_sizes(keys, values, headers)
            i = max(range(len(sizes)), key=sizes.__getitem__)
            if sizes[i] > cfg.max_record_bytes:
                raise RecordTooLargeError(
                    f"record {i} of the batch is {sizes[i]} bytes (key + value + headers), over "
                    f"max_record_bytes={cfg.max_record_bytes} of topic {self.topic!r}")
        return prep

    @staticmethod
    def _explain_bad_records(keys, values, headers, err):
        ok = (bytes, bytearray, memoryview, type(None))
        for what, col in (("key", keys), ("value", values)):
            for i, x in enumerate(col):
                if not isinstance(x, ok):
                    raise InvalidTypeError(
                        f"record {i}: {what} must be bytes or None, got {type(x).__name__} {x!r:.60}"
                        + (" (encode it, or give the producer a serializer)" if isinstance(x, str) else "")) from None
        if isinstance(err, TypeError):
            raise InvalidTypeError(str(err) if str(err).startswith("record ") else f"bad headers: {err}") from None
        raise InvalidArgumentError(str(err)) from None

    @storage_errors(lambda self: f"append to {self.topic}[{self.partition}]")
    def append_prepared(self, prep, fsync=None):
        """Append a batch made by `prepare_batch` (all or nothing, visible to readers whole);
        return the `range` of its offsets. `fsync` ("never" | "batch") overrides the topic's
        setting when given. A prepared batch is appended once: its offsets are assigned here."""
        cfg = self._topic.config
        sync = (fsync or cfg.fsync) == "batch"
        self._on_touch(self)
        with self._wlock:
            self._check_usable()
            try:
                self._flock.acquire()
            except FileNotFoundError:
                raise self._deleted() from None
            try:
                w = self._sync_writer(sync)
                length = prep.length
                if w.pos > 0 and (w.pos + length > cfg.segment_bytes or
                                  (cfg.segment_ms is not None and w.first_ts is not None and
                                   _now_ms() - w.first_ts >= cfg.segment_ms)):
                    w = self._roll(w, sync)
                return self._write(w, prep, sync)
            finally:
                self._flock.release()

    @staticmethod
    def _write(w, prep, sync):
        """Write a prepared batch at the writer's end (under the append lock): the batch with
        one pwritev, fdatasync if `sync`, then its index entries. Returns its offsets.

        With `sync`, the segment's directory entry is fsynced too, once per writer: the
        segment may have been created by another process that died (or was killed) between
        creating it and fsyncing the directory; fdatasync of the file alone does not make
        its directory entry durable, so a power cut could remove the whole segment with the
        acknowledged batch in it."""
        length = prep.length
        base = w.next_offset
        head = _codec.seal(prep, base)
        pos = w.pos
        if sync and not w.entry_synced:
            fsync_dir(w.seg.dir)
            w.entry_synced = True
        try:
            write_at(w.fd, (head, prep.payload), pos, length)
            if sync:
                os.fdatasync(w.fd)
        except BaseException:
            # nothing half-written stays behind: cut back to where the batch began
            try:
                os.ftruncate(w.fd, pos)
            except OSError:
                pass
            raise
        w.pos = pos + length
        w.next_offset = base + prep.last_delta + 1
        if w.first_ts is None:
            w.first_ts = prep.max_ts
        if w.max_ts is None or prep.max_ts > w.max_ts:
            w.max_ts = prep.max_ts
        if crosses_interval(pos, length):
            e, te = index_entries(w.seg.base, base, pos, w.max_ts)
            try:
                os.write(w.idx_fd, e)
                os.write(w.tidx_fd, te)
            except OSError:
                pass  # indexes are hints: a missing entry costs a longer scan, not a wrong answer
        return range(base, w.next_offset)

    def _deleted(self):
        return UnknownTopicError(
            f"topic {self.topic!r} was deleted (partition directory {self.dir} is gone); "
            "look it up again with log.topic(...) if it has been re-created")

    def _open_writer(self, base):
        w = _Writer(Segment(self.dir, base))
        try:
            w.fd = os.open(w.seg.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
            flags = os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC
            w.idx_fd = os.open(w.seg.index_path, flags, 0o644)
            w.tidx_fd = os.open(w.seg.timeindex_path, flags, 0o644)
            w.seg.fd = os.dup(w.fd)
        except FileNotFoundError:
            w.close()
            raise self._deleted() from None
        except BaseException:
            w.close()
            raise
        return w

    def _recover_into(self, w, start_pos, start_offset):
        """Catch `w` up with the segment from a known-good (pos, offset): validate every batch
        written since, cut an invalid tail (we hold the append lock) and any index entries
        past the new end. Returns [(pos, info)] of the batches it validated."""
        seg = w.seg
        pos, nxt, mx, batches = seg.scan(start_pos, start_offset)
        size = os.fstat(w.fd).st_size
        resume = None
        resynced = False
        while size > pos:
            data = os.pread(w.fd, size - pos, pos)
            found = valid_batches_in(data)
            if not found:
                break  # a torn tail (an interrupted write): cut quietly below
            at = resync_point(data, nxt)
            if at is None:  # valid batches, but none continuing the log: move them all aside
                resume = self._quarantine(w, pos, nxt, size, found)
                break
            # corruption with valid data after it: quarantine only the damaged bytes, make the
            # offsets they held an explicit gap, keep every valid batch after them in place
            self._resync(w, pos, at, nxt, mx)
            resynced = True
            pos, nxt, mx2, more = seg.scan(pos, nxt)
            batches.extend(more)
            if mx2 is not None and (mx is None or mx2 > mx):
                mx = mx2
        if size > pos:
            os.ftruncate(w.fd, pos)
            self._cut_indexes(w, pos)
        if resynced:  # entries of the damaged batches point inside the gap now
            seg.rebuild_indexes(w.idx_fd, w.tidx_fd)
        w.pos = pos
        w.next_offset = nxt
        if mx is not None and (w.max_ts is None or mx > w.max_ts):
            w.max_ts = mx
        if w.first_ts is None and pos > 0:
            head = seg.header_at(0)
            w.first_ts = head.max_timestamp if head is not None else None
        if resume is not None and resume > nxt:
            # the quarantined offsets were readable once: cover them with an empty batch so
            # that they are never given to other records
            self._write(w, _codec.prepare_empty(resume - nxt - 1, w.max_ts or _now_ms()), True)
            batches.append((w.pos - HEADER_SIZE, _codec.peek(
                w.seg.pread(HEADER_SIZE, w.pos - HEADER_SIZE))))
        return batches

    def _resync(self, w, pos, at, nxt, max_ts):
        """Fill the damaged bytes [pos, pos + at[0]) of w's segment with a gap covering the
        offsets from `nxt` to the base of the valid batch `at` = (distance, info) that follows
        them (`_segment.fill_gap`: the bytes go to a quarantine file first), and warn."""
        dist, info = at
        ts = max_ts if max_ts is not None else info.max_timestamp
        path = fill_gap(self.dir, w.seg.base, w.fd, pos, dist, nxt, info.base_offset, ts)
        log.warning("%s[%d]: corrupt data in %s at position %d: offsets %d..%d were in %d damaged "
                    "bytes, now moved to the quarantine file %s and skipped (an explicit gap); the "
                    "valid batches after them, from offset %d, are kept",
                    self.topic, self.partition, w.seg.path, pos, nxt, info.base_offset - 1, dist, path,
                    info.base_offset)

    def _quarantine(self, w, pos, nxt, size, found):
        """Move the bytes of w's segment from `pos` to its end to a quarantine file (the
        caller cuts them) and warn. Returns the offset after the last offset they held."""
        resume = max(info.next_offset for _p, info in found)
        path = quarantine(self.dir, w.seg.base, w.fd, pos)
        what = (f"offsets {nxt}..{resume - 1}" if resume > nxt else
                f"batches of offsets {min(i.base_offset for _p, i in found)}.."
                f"{max(i.next_offset for _p, i in found) - 1} that do not continue the log at {nxt}")
        log.warning("%s[%d]: corrupt data in %s at position %d (an invalid batch followed by %d valid "
                    "ones): %s (%d bytes) moved to the quarantine file %s and cut from the log",
                    self.topic, self.partition, w.seg.path, pos, len(found), what, size - pos, path)
        return resume

    def _cut_indexes(self, w, end):
        """Drop index entries at or past position `end` (and any torn or disordered rest),
        through the writer's descriptors: the files other writers append to."""
        for fd, size, positions_of in ((w.idx_fd, _IDX.size, lambda d: Segment.parse_index(d)[1]),
                                       (w.tidx_fd, _TIDX.size,
                                        lambda d: [e[2] for e in Segment.parse_timeindex(d)])):
            n = os.fstat(fd).st_size
            keep = bisect.bisect_left(positions_of(os.pread(fd, n, 0)), end)
            if keep * size != n:
                os.ftruncate(fd, keep * size)
        w.seg.drop_index_cache()

    def _check_lock_file(self):
        """The lock we hold must be on the partition's lock file as it is now: a deleted (and
        perhaps re-created) topic would leave us holding a lock that nobody else takes."""
        try:
            cur = os.stat(self._flock.path)
        except FileNotFoundError:
            raise self._deleted() from None
        held = os.fstat(self._flock.fd)
        if (cur.st_ino, cur.st_dev) != (held.st_ino, held.st_dev):
            raise self._deleted()

    def _fresh_writer(self, sync=False):
        """A writer for the newest segment, found from the directory and checked from its
        last index entry on (so reopening costs time proportional to the damaged tail)."""
        self._check_lock_file()
        bases = self._list_bases()  # complete: segments are only created under the lock we hold
        if not bases:  # (with `sync`, _write fsyncs the new segment's directory entry)
            return self._open_writer(self._persisted_start())
        w = self._open_writer(bases[-1])
        try:
            seg = w.seg
            if not seg.index_usable(os.fstat(w.fd).st_size):
                seg.rebuild_indexes(w.idx_fd, w.tidx_fd)  # missing, torn or garbled: from the log
            # from position 0, never from the last index entry: an entry may lie past damage
            # in the middle of the segment (this costs one scan of the newest segment per
            # writer opened)
            batches = self._recover_into(w, 0, seg.base)
            # entries left pointing at or past the end (skipped above) would put every later
            # entry out of order: cut them now
            _rel, ipos = seg._load_index()
            _tss, tents = seg._load_timeindex()
            if (len(ipos) and ipos[-1] >= w.pos) or (tents and tents[-1][2] >= w.pos):
                self._cut_indexes(w, w.pos)
                _rel, ipos = seg._load_index()
                _tss, tents = seg._load_timeindex()
            # a writer killed between a batch and its index entry leaves an entry missing
            want = sum(1 for p, info in batches if crosses_interval(p, info.length))
            if len(ipos) != want or len(tents) != want:
                seg.rebuild_indexes(w.idx_fd, w.tidx_fd)
        except BaseException:
            w.close()
            raise
        return w

    def _sync_writer(self, sync=False):
        """Bring the writer state up to the true end of the log (others may have appended,
        rolled, or crashed mid-write since we last held the lock)."""
        w = self._w
        if w is not None:
            st = os.fstat(w.fd)
            if st.st_nlink == 0 or st.st_size < w.pos:
                # our segment was removed or replaced, or cut below what we had validated
                # (damage from outside): start over from the directory
                w.close()
                self._w = w = None
            elif st.st_size != w.pos:
                self._recover_into(w, w.pos, w.next_offset)
        if w is None:
            w = self._w = self._fresh_writer(sync)
        # has another writer rolled to a newer segment? (it names it by our end offset)
        while w.next_offset != w.seg.base:
            if not os.path.exists(os.path.join(self.dir, seg_name(w.next_offset) + ".log")):
                break
            w.close()
            self._w = None
            w = self._w = self._open_writer(w.next_offset)
            self._recover_into(w, 0, w.seg.base)
        return w

    def _roll(self, w, sync):
        """Start a new segment named by w's end. With `sync`, the old segment is fdatasynced
        first: its end may be a batch that a writer which then died wrote but never synced,
        and the new segment's name counts that batch's offsets (a power cut dropping it would
        leave a hole before the acknowledged batches of the new segment). The new segment's
        directory entry is fsynced by `_write` before its first batch is acknowledged."""
        if sync:
            os.fdatasync(w.fd)
        w.close()
        self._w = None
        nw = self._w = self._open_writer(w.next_offset)
        self._on_roll(self)
        return nw

    # -- reading ---------------------------------------------------------------------------
    def read(self, offset, max_records=500):
        """Records from `offset` on (at most `max_records`); [] at the end of the log.

        Raises OffsetOutOfRangeError if `offset` is below the start offset or past the end.
        """
        self._check_usable()
        if type(offset) is not int or offset < 0:
            raise InvalidArgumentError(f"offset must be an int >= 0, got {offset!r}")
        if type(max_records) is not int or max_records < 1:
            raise InvalidArgumentError(f"max_records must be an int >= 1, got {max_records!r}")
        st = FetchState(offset)
        recs = self.fetch(st, max_records)
        if not recs and st.seg is None:
            raise OffsetOutOfRangeError(
                f"offset {offset} is out of range for {self.topic}[{self.partition}]: "
                f"valid offsets are {self.start_offset}..{self.end_offset}")
        return recs

    def _locate(self, st):
        """Point `st` at the batch holding st.offset (or the first batch after it, across gaps).
        Leaves st.seg None if the offset is out of range."""
        bases = self._list()
        start = max(bases[0] if bases else 0, self._persisted_start())
        off = st.offset
        if off < start:
            return False
        if not bases:
            if off != start:
                return False
            # nothing written yet: wait at the start for the first segment to appear
            st.seg, st.pos, st.expect = Segment(self.dir, start), 0, start
            st.ino = None
            return True
        i = bisect.bisect_right(bases, off) - 1
        if i < 0:
            return False
        base = bases[i]
        newest = bases[-1]
        while True:
            seg = self._seg(base)
            try:
                pos, fbase = seg.floor_position(off)
                if base >= newest:
                    # the newest segment: trust only its verified chain, never an index entry
                    # alone (it may lie past damage that end_offset stops at)
                    vpos, vnext = seg.verified_point()
                    if pos > vpos:
                        pos, fbase = vpos, vnext
                found, found_base, end_pos, end_next = self._walk_to(seg, pos, fbase, off)
                nxt = None
                if found is None:
                    nxt = self._successor(base, end_next)
                    if end_pos < seg.size():
                        # bytes past the valid data: a write in flight when we walked, or damage
                        if nxt is None and off > end_next and self._settle(seg, end_pos, end_next):
                            continue  # a write completed: walk again
                        if nxt is not None:
                            # a newer segment exists only after the last write to this one:
                            # one more walk settles it; never skip to the successor past
                            # bytes that are still invalid (that would be a silent gap)
                            found, found_base, end_pos, end_next = self._walk_to(seg, end_pos, end_next, off)
                            if found is None and end_pos < seg.size():
                                raise self._corrupt(seg, end_pos, end_next, "an invalid batch in a closed segment")
                            if found is None:
                                nxt = self._successor(base, end_next)
            except FileNotFoundError:  # removed by retention meanwhile
                return self._locate(st) if self._list() else False
            if found is not None:
                if base >= newest and pos == seg.verified_point()[0]:
                    seg.note_verified(found, found_base)
                st.seg, st.pos, st.expect = seg, found, found_base
                st.ino = seg.ino if found else None
                return True
            if nxt is not None:  # past this segment's data: on to the next one
                base = nxt
                continue
            if base >= newest:
                seg.note_verified(end_pos, end_next)
            if off == end_next:  # at the end of the newest segment: wait there
                st.seg, st.pos, st.expect = seg, end_pos, end_next
                st.ino = seg.ino if end_pos else None
                return True
            return False

    def _corrupt(self, seg, pos, offset, what):
        """The CorruptLogError for damage at `pos` of `seg` where offset `offset` should be."""
        return CorruptLogError(
            f"{self.topic}[{self.partition}]: {what} at position {pos} of {seg.path}, where offset "
            f"{offset} should start: the log cannot be read past it. Run "
            f"`{repair_command(self._log_dir, self.topic)}` to move the damaged bytes to a "
            "quarantine file beside the segment (a later append does it too, for the newest "
            "segment); the offsets they held are then skipped")

    def _settle(self, seg, pos, expect):
        """Slow path of a reader at `pos` of the newest segment with bytes past it that are
        not a valid batch: a write in progress looks the same as damage, so look again under
        the append lock (no write is in progress then). True if a valid batch is there now;
        False if the bytes are a torn tail (nothing valid in them: the next writer cuts them);
        CorruptLogError if valid data follows invalid bytes, or the segment was closed."""
        lk = FileLock(os.path.join(self.dir, "append.lock"))
        try:
            try:
                lk.acquire()
            except FileNotFoundError:  # the topic was deleted
                return False
            try:
                for _bpos, _info, _buf, _o in seg.batches(pos, expect):
                    return True
                size = seg.size()
                if size <= pos:
                    return False  # cut by a writer meanwhile
                if self._successor(seg.base, expect) is not None:
                    raise self._corrupt(seg, pos, expect, "an invalid batch in a closed segment")
                if valid_batches_in(seg.pread(size - pos, pos)):
                    raise self._corrupt(seg, pos, expect, "an invalid batch followed by valid data")
                return False
            finally:
                lk.release()
        finally:
            lk.close()

    def _walk_to(self, seg, pos, base, off):
        """From a batch start, find the valid batch whose range includes `off` (or the first
        valid batch starting after `off`). Returns (pos, expected base, None, None), or
        (None, None, end_pos, next_offset) if `off` is past the segment's valid data. Batches
        are CRC-checked on the way: a position past a torn batch is never returned."""
        for bpos, info, _buf, _o in seg.batches(pos, base):
            if info.next_offset > off:
                return bpos, info.base_offset, None, None
            pos, base = bpos + info.length, info.next_offset
        return None, None, pos, base

    def fetch(self, st, max_records, max_bytes=1 << 62):
        """Return up to `max_records` records from `st.offset` on and advance `st` past them.

        Returns [] when nothing is there yet. `st.seg` is None afterwards if st.offset is out
        of range (below the start offset or past the end).
        """
        if self._closed or self._fork != fork_generation():
            self._check_usable()
        pend = st.pending
        if pend is not None:  # the rest of a batch decoded by the previous call (an iterator)
            k = st.pending_n
            if k <= max_records:
                out = list(pend)
                st.pending = None
            else:
                out = list(islice(pend, max_records))
                st.pending_n = k - max_records
            st.offset = out[-1].offset + 1
            return out
        self._on_touch(self)
        with self._rlock:
            if st.seg is None and not self._locate(st):
                st.seg = None
                return []
            out = []
            need = max_records
            topic, part = self.topic, self.partition
            got_bytes = 0
            retried_at = settled_at = None
            while need > 0 and got_bytes < max_bytes:
                seg = st.seg
                if seg.ino != st.ino or seg.fd < 0:
                    # st.pos is a position in one version of the file: if the segment was
                    # replaced by compaction (and the handle reopened), find the offset again
                    if not self._reattach(st):
                        break
                    seg = st.seg
                try:
                    buf = seg.pread(READ_CHUNK, st.pos)
                except FileNotFoundError:
                    # removed by retention, or not created yet (an empty partition)
                    st.seg = None
                    if not self._locate(st) or not os.path.exists(st.seg.path):
                        break
                    continue
                n = len(buf)
                p = 0
                while need > 0 and got_bytes < max_bytes and n - p >= HEADER_SIZE:
                    try:
                        info = _codec.peek(buf, p)
                    except CorruptBatchError:
                        break
                    if p + info.length > n:
                        if p:
                            break  # read on from this batch's start
                        if st.pos + info.length > seg.size():
                            break  # not all there (yet)
                        buf = seg.pread(info.length, st.pos)
                        n = len(buf)
                        if info.length > n:
                            break
                    b = info.base_offset
                    if b >= st.limit:
                        need = 0
                        break
                    if not _codec.continues(info, st.expect) \
                            or not _codec.check(buf, p, info):
                        break
                    if st.batches is not None:  # headers only: no decoding
                        st.batches.append(info)
                        p += info.length
                        st.pos += info.length
                        st.offset = st.expect = info.next_offset
                        got_bytes += info.length
                        continue
                    try:
                        offs, tss, keys, vals, hdrs = _codec.decode_columns(buf, p, info)
                    except CorruptBatchError as e:
                        raise self._corrupt(seg, st.pos, b, f"a CRC-valid batch whose records do not "
                                            f"decode ({e})") from None
                    p += info.length
                    st.pos += info.length
                    st.expect = info.next_offset
                    got_bytes += info.section_len
                    skip = 0
                    if b < st.offset:
                        if info.attributes & _codec.OFFSET_DELTAS:
                            skip = sum(1 for o in offs if o < st.offset)
                        else:
                            skip = st.offset - b
                    take = info.count - skip
                    if take <= 0:
                        continue
                    recs = map(_new, repeat(Record), zip(repeat(topic), repeat(part), offs, tss, keys, vals, hdrs))
                    if skip:
                        recs = islice(recs, skip, None)
                    if take <= need:
                        out.extend(recs)
                        need -= take
                    else:  # keep the rest of the batch as a lazy iterator: no copies
                        out.extend(islice(recs, need))
                        st.pending = recs
                        st.pending_n = take - need
                        need = 0
                    st.offset = out[-1].offset + 1
                if need <= 0 or got_bytes >= max_bytes:
                    break
                if p:
                    continue  # progress: read on from the new position
                # no whole valid batch at st.pos: the end of this segment's data, for now
                moved = self._advance_segment(st)
                if moved == "moved":
                    continue
                if moved == "retry" and retried_at != (seg.base, st.pos):
                    # a writer may have finished the batch meanwhile: a newer segment exists only
                    # after the last write to this one, so one more read settles it (per place:
                    # this can happen at position 0 of several segments in one call)
                    retried_at = (seg.base, st.pos)
                    continue
                if moved == "retry":
                    if out:
                        break  # return these first: the next call raises
                    raise self._corrupt(seg, st.pos, st.expect, "an invalid batch in a closed segment")
                if moved == "end" and not out and st.seg is seg and settled_at != st.pos and st.pos < seg.size():
                    # bytes past the valid data of the newest segment (slow path): a write in
                    # progress, a torn tail or damage; _settle tells them apart under the lock
                    settled_at = st.pos
                    if self._settle(seg, st.pos, st.expect):
                        continue
                break
            return out

    def _advance_segment(self, st):
        """At the end of valid data in st.seg: "moved" to the next segment if one exists and
        this one is whole, "retry" if this one is closed but has bytes past st.pos (a batch
        completing, or damage), "end" if this is the newest segment."""
        seg = st.seg
        nxt_base = self._successor(seg.base, st.expect)
        if nxt_base is None:
            return "end"
        if seg.fd < 0 or (seg.ino != st.ino and st.ino is not None):
            return "moved" if self._reattach(st) else "end"
        if st.pos < seg.size():
            return "retry"
        seg.close()
        st.seg = self._seg(nxt_base)
        st.pos = 0
        st.expect = nxt_base
        st.ino = None
        return "moved"

    def _reattach(self, st):
        """(Re)open st.seg and check that st.pos still refers to the file it is open on; if
        compaction replaced the file meanwhile, locate st.offset again (the rewritten file
        holds a subset of the same records with the same offsets). False if out of range."""
        seg = st.seg
        try:
            seg.open()
        except FileNotFoundError:
            seg = None
        if seg is not None and (st.ino is None or st.pos == 0):
            st.ino = seg.ino
            return True
        if seg is not None and seg.ino == st.ino:
            return True
        st.seg = None
        st.pending = None
        return self._locate(st) and st.seg is not None

    # -- time ------------------------------------------------------------------------------
    def offset_for_time(self, timestamp_ms):
        """The first offset whose record timestamp is >= `timestamp_ms`, or None."""
        self._check_usable()
        if type(timestamp_ms) is not int:
            raise InvalidArgumentError(f"timestamp_ms must be an int (ms since the epoch), got {timestamp_ms!r}")
        with self._rlock:
            bases = self._list()
            start = self._persisted_start()
            base = bases[0] if bases else None
            while base is not None:
                seg = self._seg(base)
                try:
                    pos, b = seg.time_floor_position(timestamp_ms)
                    if base >= bases[-1]:  # the newest segment: from its verified chain only
                        vpos, vnext = seg.verified_point()
                        if pos > vpos:
                            pos, b = vpos, vnext
                    for attempt in (0, 1):
                        for bpos, info, buf, off in seg.batches(pos, b):
                            pos, b = bpos + info.length, info.next_offset
                            if info.max_timestamp < timestamp_ms or info.next_offset <= start:
                                continue
                            try:
                                offs, tss, *_ = _codec.decode_columns(buf, off, info)
                            except CorruptBatchError as e:
                                raise self._corrupt(seg, bpos, info.base_offset, f"a CRC-valid batch "
                                                    f"whose records do not decode ({e})") from None
                            for o, t in zip(offs, tss):
                                if t >= timestamp_ms and o >= start:
                                    return o
                        nxt = self._successor(base, b)
                        if nxt is None or pos >= seg.size():
                            break
                        # a newer segment exists, so every write to this one is done: look
                        # once more, then invalid bytes are damage, never skipped silently
                        if attempt:
                            raise self._corrupt(seg, pos, b, "an invalid batch in a closed segment")
                except FileNotFoundError:  # removed by retention meanwhile
                    later = [x for x in self._list() if x > base]
                    base = later[0] if later else None
                    continue
                base = nxt
            return None

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

    # -- transactions (driven by eventlog.transactions; docs/transactions.md) ----------------
    def append_transactional(self, records, producer_id, producer_epoch, timestamp_ms=None):
        """`append_batch` for a transaction: the batch carries the TRANSACTIONAL flag and the
        producer's id and epoch, so read_committed readers show it only once a commit marker
        for that producer follows it. Refused on compacted topics (the cleaner rewrites
        batches and would drop the flag and the markers)."""
        self._check_usable()
        if "compact" in self._topic.config.cleanup_policy:
            raise InvalidArgumentError(
                f"topic {self.topic!r} is compacted (cleanup_policy={self._topic.config.cleanup_policy!r}): "
                "transactions are supported on cleanup_policy='delete' topics only")
        return self.append_batch(records, timestamp_ms, _producer=(producer_id, producer_epoch))

    def append_control(self, commit, producer_id, producer_epoch):
        """Append a transaction marker (a record-less batch taking one offset) ending the
        transaction of `producer_id` in this partition, fsynced whatever the topic's fsync
        setting (the coordinator records COMPLETE only after every marker is durable).
        Returns the marker's offset."""
        self._check_usable()
        prep = _codec.prepare_control(bool(commit), producer_id, producer_epoch, _now_ms())
        return self.append_prepared(prep, fsync="batch").start
