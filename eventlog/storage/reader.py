"""The reading half of a partition (`PartitionReader`, a mixin of `storage.partition.Partition`):
`fetch` from an offset (`FetchState` is a reader's place), locating an offset across segments,
and `offset_for_time`.

Invariants:
- Readers take no lock on the fast path and return only records of whole, CRC-valid batches
  whose base offset continues the sequence. Bytes past the valid data of the newest segment
  may be a write in progress: a reader cannot tell that from damage by looking, so (slow
  path only) it looks again under the append lock: a torn tail (no valid batch in the bytes)
  is "not yet written", valid data after invalid bytes is `CorruptLogError`. In a closed
  segment (a newer one exists, so every write to it is done) invalid bytes are
  `CorruptLogError` after one more read; a reader never skips to the next segment past them.
- Readers trust the newest segment's valid chain of batches from position 0, never an index
  entry alone: an entry past damage in the middle must not move a reader past the damage.
- A position is valid only in the version of the file it was found in (`FetchState.ino`): a
  segment rewritten by compaction is located again by offset.
"""
import bisect
import os
from itertools import islice, repeat

from eventlog.storage import codec as _codec
from eventlog.storage.codec import HEADER_SIZE, CorruptBatchError
from eventlog._os.fs import FileLock, fork_generation, wrap_public_methods
from eventlog.storage.segment import READ_CHUNK, Segment, valid_batches_in
from eventlog.errors import CorruptLogError, InvalidArgumentError, OffsetOutOfRangeError
from eventlog.record import Record

_new = tuple.__new__
_HUGE = 1 << 62
_SMALL_BATCH = READ_CHUNK // 4  # batches up to this size are read READ_CHUNK at a time
_CHUNK_MAX = 16 * READ_CHUNK


def read_size(length):
    """How much a reader asks for at once after a valid batch of `length` bytes: a whole number
    of such batches, with 1/16 to spare (the next may be a little bigger), about READ_CHUNK or
    one batch if more. A read that ends inside a batch is read again from that batch's start,
    so a fixed READ_CHUNK just under the size of a log's batches read nearly every byte twice
    (the producer's merged batches are ~270 KiB: measured, 47.5 MB read to replay 24.8)."""
    k = (READ_CHUNK + (length >> 1)) // length or 1
    return max(READ_CHUNK, min(_CHUNK_MAX, k * (length + (length >> 4))))


def repair_command(log_dir, topic):
    """The command that moves damaged bytes of `topic` to quarantine files (for messages)."""
    return f"eventlog --dir {log_dir} verify --repair --yes {topic}"


class FetchState:
    """A reader's place in a partition: the next offset to return and where it is on disk.
    `pending` holds records already decoded from a batch but not yet returned. `fetch` stops
    before a batch whose base offset is `limit` or more (read_committed readers set it to the
    last stable offset, which is always a batch's base offset), and before a transactional
    batch (data or marker) whose base offset is `txn_limit` or more (read_committed readers
    set it to the end of the headers they have seen, so they learn of every transaction
    before returning anything of it or after it). With `batches` a list, `fetch` decodes
    nothing: it appends the header (`BatchInfo`) of each valid batch it passes to the list and
    returns [] (the transactions layer's look ahead for markers)."""

    __slots__ = ("offset", "seg", "pos", "expect", "pending", "pending_n", "ino", "batches", "limit",
                 "txn_limit")

    def __init__(self, offset):
        self.offset = offset
        self.seg = None
        self.pos = 0
        self.expect = 0
        self.pending = None
        self.ino = None  # inode `pos` refers to (None: pos is 0, valid in any version of the file)
        self.batches = None
        self.limit = _HUGE
        self.txn_limit = _HUGE

    def reset(self, offset):
        self.offset = offset
        self.seg = None
        self.pending = None

    def move_to(self, other):
        """Place this state where `other` (a state of the same partition) will read next: at
        the batch after the one it read last (records `other` still holds are not this
        state's). For a reader following another one's progress."""
        self.seg, self.pos, self.ino = other.seg, other.pos, other.ino
        self.offset = self.expect = other.expect
        self.pending = None


@wrap_public_methods
class PartitionReader:
    """The reading methods of `Partition` (which sets the attributes they use)."""

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
            "quarantine file beside the segment (a writer opening the newest segment, as every "
            "process does on its first append, does it too); the offsets they held are then "
            "skipped")

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
            # infinite repeats shared by every batch of this call (zip stops at the records)
            records, topic, part = repeat(Record), repeat(self.topic), repeat(self.partition)
            limit, txn_limit, headers_only = st.limit, st.txn_limit, st.batches
            peek, check, decode, continues = _codec.peek, _codec.check, _codec.decode_columns, _codec.continues
            got_bytes = 0
            # how much to read at st.pos (more for a batch bigger than that): sized from the
            # last batch this partition's readers saw (a hint: a race between threads is harmless)
            chunk = self._read_chunk
            want = 0  # more than `chunk` to read at st.pos: a batch bigger than that starts there
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
                    # never ask for more than the file holds: a damaged length could be huge
                    buf = seg.pread(want if want > chunk and st.pos + want <= seg.size() else chunk, st.pos)
                except FileNotFoundError:
                    # removed by retention, or not created yet (an empty partition)
                    st.seg = None
                    if not self._locate(st) or not os.path.exists(st.seg.path):
                        break
                    continue
                want = 0
                n = len(buf)
                p = 0
                at = st.pos  # the file position of buf[0]
                expect = st.expect
                while need > 0 and got_bytes < max_bytes and n - p >= HEADER_SIZE:
                    try:
                        info = peek(buf, p)
                    except CorruptBatchError:
                        break
                    length = info.length
                    if p + length > n:
                        if p:
                            want = length
                            break  # read on from this batch's start
                        if at + length > seg.size():
                            break  # not all there (yet)
                        buf = seg.pread(length, at)
                        n = len(buf)
                        if length > n:
                            break
                    b = info.base_offset
                    if b >= limit or (b >= txn_limit and info.attributes & _codec.TRANSACTIONAL):
                        need = 0
                        break
                    if (b != expect and not continues(info, expect)) or not check(buf, p, info):
                        break
                    if length > _SMALL_BATCH:
                        self._read_chunk = chunk = read_size(length)
                    elif chunk != READ_CHUNK:
                        self._read_chunk = chunk = READ_CHUNK
                    if headers_only is not None:  # headers only: no decoding
                        headers_only.append(info)
                        p += length
                        st.pos = at + p
                        st.offset = st.expect = expect = info.next_offset
                        got_bytes += length
                        continue
                    try:
                        offs, tss, keys, vals, hdrs = decode(buf, p, info)
                    except CorruptBatchError as e:
                        raise self._corrupt(seg, at + p, b, f"a CRC-valid batch whose records do not "
                                            f"decode ({e})") from None
                    p += length
                    st.pos = at + p
                    st.expect = expect = info.next_offset
                    got_bytes += info.section_len
                    take = info.count
                    skip = 0
                    if b < st.offset:
                        if info.attributes & _codec.OFFSET_DELTAS:
                            skip = sum(1 for o in offs if o < st.offset)
                        else:
                            skip = st.offset - b
                        take -= skip
                        if take <= 0:
                            continue
                    elif not take:
                        continue
                    recs = map(_new, records, zip(topic, part, offs, tss, keys, vals, hdrs))
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
