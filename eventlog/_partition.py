"""A partition: an append-only, offset-addressed log made of segments in one directory.

Owns: appending (under `flock` on `append.lock` plus a thread lock), rolling segments,
recovering a damaged tail, reading from an offset, finding offsets by time.

Invariants:
- Offsets are dense and increase by one per record across every process: they are assigned
  under the append lock after the writer has caught up with the true end of the log (it
  reads forward from where it last wrote, validating what others wrote).
- One `append_batch` is one batch, written with one `pwritev`: readers see all of it or none.
- Readers take no lock and return only records of whole, CRC-valid batches whose base offset
  continues the sequence; an invalid tail of the newest segment is "not yet written", an
  invalid batch inside a closed segment is `CorruptLogError`.
- A writer that finds an invalid tail under the lock cuts it off (crash recovery), and cuts
  index entries that point past the new end.
- A segment is rolled only after the writer's last write to it; a newer segment's base
  offset is exactly the old segment's end offset (until compaction leaves gaps).
"""
import bisect
import os
import threading
import time
from itertools import islice, repeat

from . import _codec
from ._codec import HEADER_SIZE, CorruptBatchError
from ._fs import FileLock, fork_generation, fsync_dir, read_json, atomic_write_json
from ._segment import (INDEX_INTERVAL, READ_CHUNK, Segment, _IDX, _TIDX, crosses_interval, seg_name)
from .errors import (CorruptLogError, ForkedProcessError, InvalidArgumentError, InvalidTypeError,
                     LogClosedError, OffsetOutOfRangeError, RecordTooLargeError)
from .record import Record, TopicPartition

_new = tuple.__new__
_HUGE = 1 << 62
START_FILE = "log-start-offset.json"


def _now_ms():
    return time.time_ns() // 1_000_000


class _Writer:
    """The appending process's view of the newest segment (valid only under the lock)."""

    __slots__ = ("seg", "fd", "pos", "next_offset", "max_ts", "first_ts", "idx_fd", "tidx_fd")

    def close(self):
        for name in ("fd", "idx_fd", "tidx_fd"):
            fd = getattr(self, name, -1)
            if fd is not None and fd >= 0:
                try:
                    os.close(fd)
                except OSError:
                    pass
                setattr(self, name, -1)


class FetchState:
    """A reader's place in a partition: the next offset to return and where it is on disk.
    `pending` holds records already decoded from a batch but not yet returned."""

    __slots__ = ("offset", "seg", "pos", "expect", "pending")

    def __init__(self, offset):
        self.offset = offset
        self.seg = None
        self.pos = 0
        self.expect = 0
        self.pending = None

    def reset(self, offset):
        self.offset = offset
        self.seg = None
        self.pending = None


class Partition:
    """One partition of a topic. Obtain it from `Topic.partition(n)`.

    Attributes `topic` (name) and `partition` (number) are as in `TopicPartition`.
    """

    def __init__(self, topic, number):
        self._topic = topic
        self.topic = topic.name
        self.partition = number
        self.tp = TopicPartition(topic.name, number)
        self.dir = os.path.join(topic.dir, str(number))
        self._wlock = threading.Lock()
        self._rlock = threading.RLock()
        self._flock = FileLock(os.path.join(self.dir, "append.lock"))
        self._w = None
        self._segs = {}          # base -> Segment (read side)
        self._bases = []         # sorted bases from the last listing
        self._fork = fork_generation()
        self._closed = False

    def __repr__(self):
        return f"<Partition {self.topic}[{self.partition}]>"

    # -- housekeeping ----------------------------------------------------------------------
    def _check_usable(self):
        if self._closed:
            raise LogClosedError(f"partition {self.topic}[{self.partition}] belongs to a closed Log")
        if self._fork != fork_generation():
            raise ForkedProcessError(
                f"partition {self.topic}[{self.partition}] was opened before fork(); "
                "open the log again in the child process (eventlog.open)")

    def close(self):
        """Close every descriptor this partition holds (it reopens them lazily if used again,
        unless the whole Log was closed)."""
        with self._wlock:
            if self._w is not None:
                self._w.close()
                self._w = None
            self._flock.close()
        with self._rlock:
            for s in self._segs.values():
                s.close()

    def _release_idle(self):
        """Close descriptors if nobody is using them right now (called by the Log's LRU)."""
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
    def _list(self):
        """Refresh the sorted list of segment bases from the directory."""
        try:
            names = os.listdir(self.dir)
        except FileNotFoundError:
            names = []
        bases = sorted(int(n[:20]) for n in names if len(n) == 24 and n.endswith(".log") and n[:20].isdigit())
        self._bases = bases
        segs = self._segs
        alive = set(bases)
        for b in list(segs):
            if b not in alive:
                segs.pop(b).close()
        return bases

    def _seg(self, base):
        s = self._segs.get(base)
        if s is None:
            s = self._segs[base] = Segment(self.dir, base)
        return s

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
            pos, base = seg.floor_position(_HUGE)
            _pos, nxt, _mx, _b = seg.scan(pos, base)
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

    def append_batch(self, records, timestamp_ms=None, *, _headers=None):
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
            return range(self.end_offset, self.end_offset)
        try:
            cols = list(zip(*records))
        except TypeError:
            raise InvalidTypeError("append_batch takes a sequence of (key, value) tuples; "
                                   f"got an element of type {type(next(r for r in records if not isinstance(r, (tuple, list)))).__name__}") from None
        ncol = len(cols)
        if ncol < 2 or ncol > 4 or any(len(r) != ncol for r in records[:1]) or len(cols[0]) != len(records):
            raise InvalidArgumentError(
                "each record must be (key, value), (key, value, headers) or "
                "(key, value, headers, timestamp_ms), all of the same shape")
        keys, values = cols[0], cols[1]
        headers = _headers if _headers is not None else (cols[2] if ncol >= 3 else None)
        timestamps = cols[3] if ncol == 4 else None
        if timestamp_ms is None:
            timestamp_ms = _now_ms()
        elif type(timestamp_ms) is not int or timestamp_ms < 0:
            raise InvalidArgumentError(f"timestamp_ms must be an int >= 0 (ms since the epoch), got {timestamp_ms!r}")
        if timestamps is not None:
            timestamps = [timestamp_ms if t is None else t for t in timestamps]
            for t in timestamps:
                if type(t) is not int or t < 0:
                    raise InvalidArgumentError(f"timestamp_ms must be an int >= 0, got {t!r}")
        prep = self._prepare(keys, values, timestamp_ms, timestamps, headers, cfg)
        return self._append_prepared(prep)

    def _prepare(self, keys, values, timestamp_ms, timestamps, headers, cfg):
        compacted_topic = "compact" in cfg.cleanup_policy
        try:
            prep = _codec.prepare(keys, values, timestamp_ms, timestamps=timestamps, headers=headers,
                                  codec=cfg.codec, zstd_level=cfg.compression_level)
        except (TypeError, ValueError) as e:
            self._explain_bad_records(keys, values, headers, e)
            raise
        if prep.attributes & (_codec.NO_KEYS | _codec.HAS_NULLS) and compacted_topic:
            if None in keys:
                raise InvalidArgumentError(
                    f"topic {self.topic!r} is compacted (cleanup_policy={cfg.cleanup_policy!r}): "
                    f"every record needs a key, record {list(keys).index(None)} has key None")
        if prep.max_record > cfg.max_record_bytes:
            sizes = [(len(k) if k else 0) + (len(v) if v else 0) for k, v in zip(keys, values)]
            i = max(range(len(sizes)), key=sizes.__getitem__)
            raise RecordTooLargeError(
                f"record {i} of the batch is {prep.max_record} bytes, over the topic's "
                f"max_record_bytes={cfg.max_record_bytes} for topic {self.topic!r}")
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
            raise InvalidTypeError(f"bad headers: {err}") from None
        raise InvalidArgumentError(str(err)) from None

    def _append_prepared(self, prep):
        """Write a prepared batch under the locks; return the range of its offsets."""
        cfg = self._topic.config
        self._topic._log._touch(self)
        with self._wlock:
            self._check_usable()
            self._flock.acquire()
            try:
                w = self._sync_writer()
                length = prep.length
                if w.pos > 0 and (w.pos + length > cfg.segment_bytes or
                                  (cfg.segment_ms is not None and w.first_ts is not None and
                                   _now_ms() - w.first_ts >= cfg.segment_ms)):
                    w = self._roll(w, cfg)
                base = w.next_offset
                head = _codec.seal(prep, base)
                pos = w.pos
                try:
                    n = os.pwritev(w.fd, (head, prep.payload), pos)
                    if n != length:
                        raise OSError(f"short write of {n} of {length} bytes")
                    if cfg.fsync == "batch":
                        os.fdatasync(w.fd)
                except BaseException:
                    # nothing half-written stays behind: cut back to where the batch began
                    try:
                        os.ftruncate(w.fd, pos)
                    except OSError:
                        pass
                    raise
                if w.first_ts is None:
                    w.first_ts = prep.max_ts
                if w.max_ts is None or prep.max_ts > w.max_ts:
                    w.max_ts = prep.max_ts
                if crosses_interval(pos, length):
                    rel = base - w.seg.base
                    os.write(w.idx_fd, _IDX.pack(rel, pos))
                    os.write(w.tidx_fd, _TIDX.pack(w.max_ts, rel, pos))
                w.pos = pos + length
                w.next_offset = base + prep.last_delta + 1
                return range(base, w.next_offset)
            finally:
                self._flock.release()

    def _open_writer(self, base):
        w = _Writer()
        seg = Segment(self.dir, base)
        w.seg = seg
        w.fd = os.open(seg.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC
        w.idx_fd = os.open(seg.index_path, flags, 0o644)
        w.tidx_fd = os.open(seg.timeindex_path, flags, 0o644)
        seg.fd = os.dup(w.fd)
        w.pos = 0
        w.next_offset = base
        w.max_ts = None
        w.first_ts = None
        return w

    def _recover_into(self, w, start_pos, start_offset):
        """Catch `w` up with the segment from a known-good (pos, offset): validate every batch
        written since, cut an invalid tail (we hold the append lock) and any index entries
        past the new end."""
        seg = w.seg
        pos, nxt, mx, batches = seg.scan(start_pos, start_offset)
        if batches and w.first_ts is None and batches[0][0] == 0:
            w.first_ts = batches[0][1].max_timestamp
        size = os.fstat(w.fd).st_size
        if size > pos:
            os.ftruncate(w.fd, pos)
            self._cut_indexes(w, pos)
        w.pos = pos
        w.next_offset = nxt
        if mx is not None and (w.max_ts is None or mx > w.max_ts):
            w.max_ts = mx
        return w

    def _cut_indexes(self, w, end):
        seg = w.seg
        seg.drop_index_cache()
        rel, posa = seg._load_index()
        keep = sum(1 for p in posa if p < end)
        if keep != len(posa) or os.path.getsize(seg.index_path) != keep * _IDX.size:
            os.ftruncate(w.idx_fd, keep * _IDX.size)
        t = seg._load_timeindex()
        tkeep = sum(1 for e in t if e[2] < end)
        if tkeep != len(t) or os.path.getsize(seg.timeindex_path) != tkeep * _TIDX.size:
            os.ftruncate(w.tidx_fd, tkeep * _TIDX.size)
        seg.drop_index_cache()

    def _sync_writer(self):
        """Bring the writer state up to the true end of the log (others may have appended,
        rolled, or crashed mid-write since we last held the lock)."""
        w = self._w
        if w is None:
            os.makedirs(self.dir, exist_ok=True)
            bases = self._list()
            if not bases:
                start = self._persisted_start()
                w = self._open_writer(start)
                fsync_dir(self.dir) if self._topic.config.fsync == "batch" else None
                self._w = w
                return w
            w = self._open_writer(bases[-1])
            seg = w.seg
            if not seg.index_valid():
                self._cut_indexes(w, 0)
                seg.rebuild_indexes()
            pos, base = seg.floor_position(_HUGE)
            mx = seg.max_timestamp_hint()
            w.max_ts = mx
            if pos == 0 or mx is None:
                first = seg.scan(0, seg.base, limit=1)[3]
                w.first_ts = first[0][1].max_timestamp if first else None
            self._recover_into(w, pos, base)
            self._w = w
            return w
        size = os.fstat(w.fd).st_size
        if size != w.pos:
            self._recover_into(w, w.pos, w.next_offset)
        # has another writer rolled to a newer segment?
        while True:
            nxt_path = os.path.join(self.dir, seg_name(w.next_offset) + ".log")
            if w.next_offset == w.seg.base or not os.path.exists(nxt_path):
                break
            w.close()
            w = self._w = self._open_writer(w.next_offset)
            self._recover_into(w, 0, w.seg.base)
        if os.fstat(w.fd).st_nlink == 0:  # our segment was removed and the chain broken
            w.close()
            self._w = None
            return self._sync_writer()
        return w

    def _roll(self, w, cfg):
        w.close()
        nw = self._open_writer(w.next_offset)
        if cfg.fsync == "batch":
            fsync_dir(self.dir)
        self._w = nw
        self._topic._log._on_roll(self)
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
        if not bases or off < start:
            return False

        i = bisect.bisect_right(bases, off) - 1
        if i < 0:
            return False
        while i < len(bases):
            seg = self._seg(bases[i])
            try:
                pos, base = seg.floor_position(off)
                found, found_base, end_pos, end_next = self._walk_to(seg, pos, base, off)
            except FileNotFoundError:  # removed by retention meanwhile
                return self._locate(st) if self._list() else False
            if found is not None:
                st.seg, st.pos, st.expect = seg, found, found_base
                return True
            if i + 1 < len(bases):  # past this segment's data (a gap left by compaction)
                i += 1
                continue
            if off == end_next:  # at the end of the newest segment: wait there
                st.seg, st.pos, st.expect = seg, end_pos, end_next
                return True
            return False
        return False

    def _walk_to(self, seg, pos, base, off):
        """From a batch start, find the batch whose range includes `off` (or the first batch
        starting after `off`). Returns (pos, expected base, end_pos, next_offset)."""
        fd = seg.open()
        expect = base
        while True:
            head = os.pread(fd, HEADER_SIZE, pos)
            try:
                info = _codec.peek(head, 0)
            except CorruptBatchError:
                info = None
            if info is None or not (info.base_offset == expect or
                                    (info.base_offset > expect and info.attributes & _codec.COMPACTED)):
                return None, None, pos, expect  # end of valid headers
            if info.next_offset > off:
                return pos, info.base_offset, None, None
            pos += info.length
            expect = info.next_offset

    def fetch(self, st, max_records, max_bytes=1 << 62):
        """Return up to `max_records` records from `st.offset` on and advance `st` past them.

        Returns [] when nothing is there yet. `st.seg` is None afterwards if st.offset is out
        of range (below the start offset or past the end).
        """
        pend = st.pending
        if pend:
            if len(pend) <= max_records:
                st.pending = None
                st.offset = pend[-1].offset + 1
                return pend
            out = pend[:max_records]
            st.pending = pend[max_records:]
            st.offset = out[-1].offset + 1
            return out
        with self._rlock:
            if st.seg is None and not self._locate(st):
                st.seg = None
                return []
            out = []
            need = max_records
            topic, part = self.topic, self.partition
            got_bytes = 0
            retried_at = -1
            while need > 0 and got_bytes < max_bytes:
                seg = st.seg
                try:
                    buf = seg.pread(READ_CHUNK, st.pos)
                except FileNotFoundError:
                    st.seg = None
                    if not self._locate(st):
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
                        buf = seg.pread(info.length, st.pos)
                        n = len(buf)
                        if info.length > n:
                            break
                    b = info.base_offset
                    if (b != st.expect and not (b > st.expect and info.attributes & _codec.COMPACTED)) \
                            or not _codec.check(buf, p, info):
                        break
                    offs, tss, keys, vals, hdrs = _codec.decode_columns(buf, p, info)
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
                    else:
                        batch = list(recs)
                        out.extend(batch[:need])
                        st.pending = batch[need:]
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
                if moved == "retry" and retried_at != st.pos:
                    retried_at = st.pos  # a writer may have finished the batch meanwhile
                    continue
                if moved == "retry":
                    raise CorruptLogError(
                        f"{seg.path}: invalid batch at position {st.pos} in a closed segment of "
                        f"{self.topic}[{self.partition}]; run `eventlog verify --repair`")
                break
            return out

    def _advance_segment(self, st):
        """At the end of valid data in st.seg: "moved" to the next segment if one exists and
        this one is whole, "retry" if this one is closed but has bytes past st.pos (a batch
        completing, or damage), "end" if this is the newest segment."""
        seg = st.seg
        nxt_base = st.expect
        if nxt_base == seg.base or not os.path.exists(os.path.join(self.dir, seg_name(nxt_base) + ".log")):
            later = [b for b in self._list() if b > seg.base]
            if not later:
                return "end"
            nxt_base = later[0]
        if st.pos < seg.size():
            return "retry"
        seg.close()
        st.seg = self._seg(nxt_base)
        st.pos = 0
        st.expect = nxt_base
        return "moved"

    # -- time ------------------------------------------------------------------------------
    def offset_for_time(self, timestamp_ms):
        """The first offset whose record timestamp is >= `timestamp_ms`, or None."""
        self._check_usable()
        if type(timestamp_ms) is not int:
            raise InvalidArgumentError(f"timestamp_ms must be an int (ms since the epoch), got {timestamp_ms!r}")
        with self._rlock:
            bases = self._list()
            start = self._persisted_start()
            for base in bases:
                seg = self._seg(base)
                try:
                    pos, b = seg.time_floor_position(timestamp_ms)
                    _p, _n, _mx, batches = seg.scan(pos, b)
                except FileNotFoundError:
                    continue
                for bpos, info in batches:
                    if info.max_timestamp < timestamp_ms or info.next_offset <= start:
                        continue
                    buf = seg.pread(info.length, bpos)
                    offs, tss, *_ = _codec.decode_columns(buf, 0, info)
                    for o, t in zip(offs, tss):
                        if t >= timestamp_ms and o >= start:
                            return o
            return None

    # -- maintenance hooks (used by retention / delete_records) ------------------------------
    def _write_start(self, offset):
        atomic_write_json(os.path.join(self.dir, START_FILE), {"log_start_offset": offset},
                          fsync=self._topic.config.fsync == "batch")
