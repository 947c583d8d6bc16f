"""The writing half of a partition (`PartitionWriter`, a mixin of `storage.partition.Partition`):
append, the public writer API the producer uses (`prepare_batch`, `append_prepared`), rolling
segments, and recovering a damaged tail. `_Writer` is the appending process's view of the
newest segment.

Invariants:
- Offsets are dense and increase by one per record across every process: they are assigned
  under the append lock (`flock` on `append.lock` plus a thread lock) after the writer has
  caught up with the true end of the log (it reads forward from where it last wrote: the
  headers of what others appended must chain to the file's end and the last batch's CRC
  match, else every batch is checked as below; `_catch_up`, docs/format.md "What a writer
  checks").
- One `append_batch` is one batch, written with one `pwritev` (`_fs.write_at`, which continues
  a short write): readers see all of it or none. A failed write is cut back; OS refusals leave
  as `StorageError` subclasses (`_fs.storage_errors`).
- A writer opening the newest segment (and the first writer of every process, so after a
  power cut) trusts its valid chain of batches from position 0, every CRC checked, never an
  index entry alone.
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
- A segment is rolled only after the writer's last write to it; the new segment is named by
  the old one's end offset. Segments are created only under the append lock, so a writer's
  listing is complete.
- The writer's position is its segment's size (`_Writer.check`, `Partition._check()`).
- A writer that finds its segment file's size and links as it left them and the partition
  directory's modification time as it was before its last look-up of a successor segment
  (and old enough then: `dir_quiet_ns`) is caught up without looking again (`_append`): every
  other writer's append changes the size, every roll creates a file, and so does every
  change by maintenance or repair. Anything else sends it through the full catch-up
  (`_sync_writer`).
"""
import bisect
import logging
import os
import sys
import time
from operator import itemgetter

from eventlog.storage import codec as _codec
from eventlog.storage.codec import HEADER_SIZE
from eventlog._os.fs import fsync_dir, raise_storage_error, storage_errors, wrap_public_methods, write_at
from eventlog._os.fs import now_ms as _now_ms
from eventlog.storage.segment import (Segment, _IDX, _TIDX, crosses_interval, fill_gap, index_entries,
                                      quarantine, resync_point, segment_exists, valid_batches_in)
from eventlog.errors import InvalidArgumentError, InvalidTypeError, RecordTooLargeError, UnknownTopicError

_MAX_TS = (1 << 63) - 1
log = logging.getLogger("eventlog")


_FIELDS = tuple(map(itemgetter, range(4)))


def _one_settings(cfg):
    """What the single-record `append` needs of the topic's settings `cfg`, worked out once
    per settings object: (cfg, size limit of key + value, records without a key allowed,
    no compression, fsync)."""
    return (cfg, min(cfg.max_record_bytes, _codec.MAX_ONE_RECORD), "compact" not in cfg.cleanup_policy,
            cfg.codec == _codec.CODEC_NONE, cfg.fsync == "batch")


def _split_columns(records):
    """The columns (lists) of a non-empty sequence of records that are all sequences of one
    length from 2 to 4, else None. C-level passes only: no tuple or iterator per record
    (`zip(*records)` makes one iterator per record, and with them garbage collections)."""
    try:
        shapes = set(map(len, records))
        if len(shapes) != 1:
            return None
        ncol = shapes.pop()
        if not 2 <= ncol <= 4:
            return None
        return [list(map(_FIELDS[i], records)) for i in range(ncol)]
    except Exception:  # a record without len() or indexing (a dict, an int): explained by the caller
        return None


# A directory modification time is trusted as "unchanged since" only once it is older than
# two steps of the clock it comes from: file times are taken from a coarse clock (a tick of
# 1 to 10 ms on Linux, HZ 1000 to 100: CLOCK_REALTIME_COARSE's resolution) and kept with the
# file system's granularity (1 ns on ext4 with large inodes, xfs, btrfs, tmpfs; 1 s on ext4
# with 128-byte inodes; 2 s on FAT), so a file created within the same step as the previous
# change could leave the time as it was.
_TICK_NS = 10_000_000  # elsewhere, or if the coarse clock cannot be asked
if sys.platform.startswith("linux"):
    try:
        _TICK_NS = max(int(time.clock_getres(5) * 1e9), 1_000_000)  # 5: CLOCK_REALTIME_COARSE
    except OSError:
        pass


def dir_quiet_ns(mtime_ns):
    """How old the directory time `mtime_ns` must be before a writer trusts it: two steps of
    the coarser of the clock's tick and the file system's granularity, which is read off the
    time itself (a time that is a whole number of 10**k ns most likely comes from a clock of
    that step: wrong only by being careful)."""
    step = 1
    while step < 1_000_000_000 and mtime_ns % (step * 10) == 0:
        step *= 10
    return 2 * max(_TICK_NS, step)


class _Writer:
    """The appending process's view of the newest segment (valid only under the lock)."""

    __slots__ = ("seg", "fd", "pos", "next_offset", "max_ts", "first_ts", "idx_fd", "tidx_fd",
                 "entry_synced", "dir_fd", "dir_mtime")

    def __init__(self, seg):
        self.seg = seg
        self.fd = self.idx_fd = self.tidx_fd = -1
        # the partition directory, for the check for a successor segment on every append
        # (`segment_exists` looks the name up in it: one path component, not the whole path)
        self.dir_fd = -1
        # has this process fsynced the directory since the segment file existed? Whoever
        # created it may have died before its own directory fsync (see PartitionWriter._write)
        self.entry_synced = False
        self.pos = 0
        self.next_offset = seg.base
        self.max_ts = None
        self.first_ts = None
        # the partition directory's st_mtime_ns as it was before this writer's last look-up
        # of a successor segment, if it was old enough to tell any later change from
        # (`dir_quiet_ns`); None: look again on the next turn
        self.dir_mtime = None

    def checked_to(self, pos, next_offset, max_ts):
        """Take the end a check of the segment found: the valid data ends at `pos` and
        `next_offset`; `max_ts` is the largest timestamp of the batches checked (None: none)."""
        self.pos = pos
        self.next_offset = next_offset
        if max_ts is not None and (self.max_ts is None or max_ts > self.max_ts):
            self.max_ts = max_ts
        if self.first_ts is None and pos > 0:
            head = self.seg.header_at(0)
            self.first_ts = head.max_timestamp if head is not None else None

    def check(self, exclusive=True):
        """Assert the writer's invariants: its position is within the file and, when no
        other writer can have appended since (`exclusive`), equal to the file size."""
        size = os.fstat(self.fd).st_size
        assert self.pos <= size and self.next_offset >= self.seg.base, (self.pos, size)
        if exclusive:
            assert self.pos == size, f"writer pos {self.pos} != size {size} of {self.seg.path}"

    def close(self):
        for name in ("fd", "idx_fd", "tidx_fd", "dir_fd"):
            fd = getattr(self, name, -1)
            if fd is not None and fd >= 0:
                try:
                    os.close(fd)
                except OSError:
                    pass
                setattr(self, name, -1)
        self.seg.close()  # its read descriptor (a dup of fd)


@wrap_public_methods(exclude=("prepare_batch", "append_prepared", "append"))  # hot: no I/O / own wording
class PartitionWriter:
    """The writing methods of `Partition` (which sets the attributes they use)."""

    def append(self, value, key=None, headers=(), timestamp_ms=None):
        """Append one record; return its offset. Prefer `append_batch` for throughput."""
        try:  # (`append` is hot: its OS errors are worded here, not by a wrapper)
            if not headers and timestamp_ms is None and value.__class__ is bytes and \
                    (key is None or key.__class__ is bytes):
                # the common case, without the columns of append_batch: same checks, same batch
                cfg = self._topic.config
                one = self._one
                if one is None or one[0] is not cfg:
                    one = self._one = _one_settings(cfg)
                _cfg, limit, keyless_ok, plain, sync = one
                if (len(value) if key is None else len(key) + len(value)) <= limit and \
                        (keyless_ok or key is not None):
                    if plain:  # encoded under the lock, once its offset is known: no Prepared
                        return self._append(None, sync, cfg, key, value)
                    return self._append(_codec.prepare_one(key, value, _now_ms(), cfg.codec,
                                                           cfg.compression_level), sync, cfg)
            if headers:
                headers = tuple(headers)
                hs = [headers]
            else:
                hs = None
            return self.append_batch([(key, value)], timestamp_ms=timestamp_ms, _headers=hs).start
        except OSError as e:
            raise_storage_error(e, f"{type(self).__name__}.append()", self.dir)

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
        cols = _split_columns(records)
        if cols is None:  # not all records are sequences of one length of 2 to 4
            cols = self._columns_slow(records)
        ncol = len(cols)
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
        if _producer is not None:  # append_transactional: fsynced, see there
            prep.mark_transactional(*_producer)
            return self.append_prepared(prep, fsync="batch")
        return self.append_prepared(prep)

    @staticmethod
    def _columns_slow(records):
        """The columns of records that `_split_columns` refused (records that are iterables
        without len() or indexing), or the error naming the first bad record."""
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
        if not 2 <= len(cols) <= 4:
            raise InvalidArgumentError(
                "each record must be (key, value), (key, value, headers) or "
                f"(key, value, headers, timestamp_ms); got {len(cols)} fields")
        return cols

    # -- the writer API (Producer): prepare outside the locks, then append ------------------
    def prepare_batch(self, keys, values, timestamp_ms, timestamps=None, headers=None, cfg=None, *,
                      ts_runs=None):
        """Encode records into a batch ready for `append_prepared`, checking them against the
        topic's settings (`cfg`, default `self.config`): the slow part of an append, done
        without any lock. `keys` and `values` are sequences of bytes or None of one length (or
        `codec.Column`s: the same laid out by the caller);
        `timestamp_ms` (int ms) applies to every record unless `timestamps` (a sequence of
        ints) gives each its own, or `ts_runs` does, run-length encoded (`(timestamp, count)`
        pairs, see `codec.prepare`); `headers`, when given, holds a sequence of
        `(str, bytes | None)` pairs per record. Raises InvalidTypeError / InvalidArgumentError
        (naming the record) for bad records, RecordTooLargeError over `max_record_bytes`, and
        InvalidArgumentError for a record without a key on a compacted topic."""
        if cfg is None:
            cfg = self._topic.config
        compacted_topic = "compact" in cfg.cleanup_policy
        try:
            prep = _codec.prepare(keys, values, timestamp_ms, timestamps=timestamps, headers=headers,
                                  codec=cfg.codec, zstd_level=cfg.compression_level, ts_runs=ts_runs)
        except (TypeError, ValueError, OverflowError) as e:
            self._explain_bad_records(keys, values, headers, e)
            raise
        if prep.attributes & (_codec.NO_KEYS | _codec.HAS_NULLS) and compacted_topic:
            missing = _codec.first_none(keys)
            if missing >= 0:
                raise InvalidArgumentError(
                    f"topic {self.topic!r} is compacted (cleanup_policy={cfg.cleanup_policy!r}): "
                    f"every record needs a key, record {missing} has key None")
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
            if col is None or col.__class__ is _codec.Column:  # laid out by the caller: bytes only
                continue
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
        base = self._append(prep, (fsync or cfg.fsync) == "batch", cfg)
        return range(base, base + prep.last_delta + 1)

    def _append(self, prep, sync, cfg, key=None, value=None):
        """One turn under the append lock: catch up with the log, roll if due, write one
        batch; return its base offset. The batch is `prep`, sealed here with its base offset,
        or (`prep` None) the one record `key`, `value` (bytes or None, bytes: no headers, no
        compression, size checked by `append`), encoded here. `sync`: fdatasync it; `cfg`:
        the topic's settings for this append. OS errors leave unworded: the callers are the
        public methods, whose wrappers word them."""
        self._on_touch(self)
        fl = self._flock
        with self._wlock:
            if self._closed or fl.fd < 0:
                # (fl.fd >= 0 means not forked either: a forked child's locks have no
                # descriptor, fs.release_in_forked_child)
                self._check_usable()
            try:
                fl.acquire()
            except FileNotFoundError:
                raise self._deleted() from None
            try:
                # caught up? Another writer's append changes our segment's size, its roll
                # (and any change by maintenance or repair) creates a file, which changes
                # the directory's modification time: with both as we left them, the writer
                # skips the look-up of a successor segment (a new directory entry name per
                # append: the dearest system call of an append). The segment's size and
                # links also catch a topic deleted under the writer, and damage from outside.
                w = self._w
                if w is None or w.dir_mtime is None:
                    w = self._sync_writer()
                else:
                    st = os.fstat(w.fd)
                    if st.st_size != w.pos or not st.st_nlink or \
                            os.fstat(w.dir_fd).st_mtime_ns != w.dir_mtime:
                        w = self._sync_writer()
                base = w.next_offset
                if prep is None:
                    ts = _now_ms()
                    parts, length = _codec.one_record_batch(base, key, value, ts)
                else:
                    length = prep.length
                if w.pos and (w.pos + length > cfg.segment_bytes or
                              (cfg.segment_ms is not None and w.first_ts is not None and
                               _now_ms() - w.first_ts >= cfg.segment_ms)):
                    w = self._roll(w, sync)
                    if w.next_offset != base:  # (a new segment is named by the old one's end)
                        raise AssertionError(f"rolled from offset {base} to {w.next_offset}")
                if prep is None:
                    self._write(w, parts, length, 0, ts, sync)
                else:
                    self._write_prepared(w, prep, sync)
                return base
            finally:
                fl.release()

    @staticmethod
    def _write(w, parts, length, last_delta, max_ts, sync):
        """Write a batch (`parts`: one bytes object or a list of buffers, `length` bytes in
        all; its base offset `w.next_offset`, its last offset delta and max timestamp as
        given) at the writer's end (under the append lock): with one pwrite(v), fdatasync if
        `sync`, then its index entries.

        With `sync`, the segment's directory entry is fsynced too, once per writer: the
        segment may have been created by another process that died (or was killed) between
        creating it and fsyncing the directory; fdatasync of the file alone does not make
        its directory entry durable, so a power cut could remove the whole segment with the
        acknowledged batch in it."""
        base = w.next_offset
        pos = w.pos
        if sync and not w.entry_synced:
            fsync_dir(w.seg.dir)
            w.entry_synced = True
        try:
            write_at(w.fd, parts, pos, length)
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
        w.next_offset = base + last_delta + 1
        if w.first_ts is None:
            w.first_ts = max_ts
        if w.max_ts is None or max_ts > w.max_ts:
            w.max_ts = max_ts
        if crosses_interval(pos, length):
            e, te = index_entries(w.seg.base, base, pos, w.max_ts)
            try:
                os.write(w.idx_fd, e)
                os.write(w.tidx_fd, te)
            except OSError:
                pass  # indexes are hints: a missing entry costs a longer scan, not a wrong answer

    @classmethod
    def _write_prepared(cls, w, prep, sync):
        """`_write` of a prepared batch, sealed at the writer's end offset."""
        cls._write(w, [_codec.seal(prep, w.next_offset), *prep.parts], prep.length, prep.last_delta,
                   prep.max_ts, sync)

    # -- the newest segment: open, recover, roll (under the append lock) --------------------
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
            w.dir_fd = os.open(self.dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
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
        w.checked_to(pos, nxt, mx)
        if resume is not None and resume > nxt:
            # the quarantined offsets were readable once: cover them with an empty batch so
            # that they are never given to other records
            self._write_prepared(w, _codec.prepare_empty(resume - nxt - 1, w.max_ts or _now_ms()), True)
            batches.append((w.pos - HEADER_SIZE, _codec.peek(
                w.seg.pread(HEADER_SIZE, w.pos - HEADER_SIZE))))
        return batches

    def _catch_up(self, w, size):
        """Catch the live writer `w` up with the batches other live writers appended to its
        segment since it last held the lock (it ends at `size` now). When their headers
        chain from w's end to exactly `size` and the last batch's CRC matches
        (`Segment.header_chain`), that is all it checks; anything else (a torn or damaged
        tail, garbage) goes through the full check and recovery, `_recover_into`. Why the
        headers suffice here, and only here (not when a writer first opens a segment):
        docs/format.md, "What a writer checks"."""
        got = w.seg.header_chain(w.pos, w.next_offset, size)
        if got is None:
            self._recover_into(w, w.pos, w.next_offset)
            return
        w.checked_to(size, *got)

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

    def _fresh_writer(self):
        """A writer for the newest segment, found from the directory and checked from
        position 0 (every batch: see docs/format.md, "What a writer checks")."""
        self._check_lock_file()
        bases = self._list_bases()  # complete: segments are only created under the lock we hold
        if not bases:  # (with fsync="batch", _write fsyncs the new segment's directory entry)
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
            _rel, ipos = seg.load_index()
            _tss, tents = seg.load_timeindex()
            if (len(ipos) and ipos[-1] >= w.pos) or (tents and tents[-1][2] >= w.pos):
                self._cut_indexes(w, w.pos)
                _rel, ipos = seg.load_index()
                _tss, tents = seg.load_timeindex()
            # a writer killed between a batch and its index entry leaves an entry missing
            want = sum(1 for p, info in batches if crosses_interval(p, info.length))
            if len(ipos) != want or len(tents) != want:
                seg.rebuild_indexes(w.idx_fd, w.tidx_fd)
        except BaseException:
            w.close()
            raise
        return w

    def _sync_writer(self):
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
                self._catch_up(w, st.st_size)
        if w is None:
            w = self._w = self._fresh_writer()
        # the directory's time before the look-up: a segment created after it changes it
        # (unless within the same tick of a coarse file clock: hence the quiet interval)
        mtime = os.fstat(w.dir_fd).st_mtime_ns
        quiet = time.time_ns() - mtime > dir_quiet_ns(mtime)
        # has another writer rolled to a newer segment? (it names it by our end offset)
        while w.next_offset != w.seg.base:
            if not segment_exists(self.dir, w.next_offset, w.dir_fd):
                break
            w.close()
            self._w = None
            w = self._w = self._open_writer(w.next_offset)
            self._recover_into(w, 0, w.seg.base)
        w.dir_mtime = mtime if quiet else None
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

    # -- transactions (driven by eventlog.transactions; docs/transactions.md) ----------------
    def append_transactional(self, records, producer_id, producer_epoch, timestamp_ms=None):
        """`append_batch` for a transaction: the batch carries the TRANSACTIONAL flag and the
        producer's id and epoch, so read_committed readers show it only once a commit marker
        for that producer follows it. Fsynced whatever the topic's fsync setting (with the
        segment it rolls from), as markers are: a commit decision and its markers must not
        survive a power cut that drops the data they commit. Refused on compacted topics (the
        cleaner rewrites batches and would drop the flag and the markers)."""
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
