"""One segment of a partition: a `.log` file of record batches and its two sparse indexes.

Files (named by the segment's base offset, 20 digits):
  <base>.log        record batches back to back (see _codec)
  <base>.index      entries of 8 bytes: u32 offset - base, u32 file position of a batch
  <base>.timeindex  entries of 16 bytes: i64 max timestamp up to and including that batch,
                    u32 offset - base, u32 file position of the batch

An index entry is written for every batch that starts at position 0 or crosses a multiple of
the index interval (4 KiB), so the decision depends only on the log and any writer makes the
same one. Indexes carry no checksum: they are hints. Every entry used is checked against the
log (the batch at the position must start with the indexed offset) and an index that
disagrees, is missing or is torn is ignored and rebuilt from the log.

Invariants: bytes of a `.log` file before the last valid batch never change while the
segment exists (compaction replaces whole files by rename); a reader accepts a batch only
when it is whole, its CRC matches and its base offset continues the sequence.
"""
import bisect
import os
import struct
from array import array

from . import _codec
from ._codec import HEADER_SIZE, CorruptBatchError

INDEX_INTERVAL = 4096
_IDX = struct.Struct("<II")
_TIDX = struct.Struct("<qII")
READ_CHUNK = 1 << 18  # 256 KiB: how much a reader asks for at once


def seg_name(base):
    return f"{base:020d}"


def crosses_interval(pos, length, interval=INDEX_INTERVAL):
    return pos == 0 or (pos - 1) // interval != (pos + length - 1) // interval


class Segment:
    """Read-side handle on one segment. The descriptor is opened lazily and can be closed."""

    __slots__ = ("dir", "base", "path", "fd", "_index", "_index_size", "_tindex", "_tindex_size",
                 "closed_hint")

    def __init__(self, directory, base):
        self.dir = directory
        self.base = base
        self.path = os.path.join(directory, seg_name(base) + ".log")
        self.fd = -1
        self._index = None          # (offsets array, positions array) or None
        self._index_size = -1
        self._tindex = None
        self._tindex_size = -1
        self.closed_hint = False    # True once a newer segment is known to exist

    # -- files -----------------------------------------------------------------------------
    def open(self):
        """Return a read descriptor (opening it if needed). Raises FileNotFoundError if the
        segment was deleted (retention)."""
        fd = self.fd
        if fd < 0:
            fd = self.fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
        return fd

    def close(self):
        if self.fd >= 0:
            try:
                os.close(self.fd)
            finally:
                self.fd = -1

    def size(self):
        return os.fstat(self.open()).st_size

    def pread(self, n, pos):
        return os.pread(self.open(), n, pos)

    @property
    def index_path(self):
        return os.path.join(self.dir, seg_name(self.base) + ".index")

    @property
    def timeindex_path(self):
        return os.path.join(self.dir, seg_name(self.base) + ".timeindex")

    # -- indexes ---------------------------------------------------------------------------
    def _load_index(self):
        """(rel offsets, positions) of the offset index as it is on disk now (re-read when
        the file grew); ([], []) if missing or torn."""
        try:
            st = os.stat(self.index_path)
        except FileNotFoundError:
            return (), ()
        if self._index is not None and st.st_size == self._index_size:
            return self._index
        try:
            with open(self.index_path, "rb") as f:
                data = f.read()
        except FileNotFoundError:
            return (), ()
        usable = len(data) - len(data) % _IDX.size
        a = array("I")
        a.frombytes(data[:usable])
        if _codec._BIG:
            a.byteswap()
        rel, pos = a[0::2], a[1::2]
        # an index is trusted only while strictly increasing; cut it at the first disorder
        for i in range(1, len(rel)):
            if rel[i] <= rel[i - 1] or pos[i] <= pos[i - 1]:
                rel, pos = rel[:i], pos[:i]
                break
        self._index = (rel, pos)
        self._index_size = st.st_size
        return self._index

    def _load_timeindex(self):
        try:
            st = os.stat(self.timeindex_path)
        except FileNotFoundError:
            return []
        if self._tindex is not None and st.st_size == self._tindex_size:
            return self._tindex
        with open(self.timeindex_path, "rb") as f:
            data = f.read()
        usable = len(data) - len(data) % _TIDX.size
        entries = list(_TIDX.iter_unpack(data[:usable]))
        for i in range(1, len(entries)):
            if entries[i][0] < entries[i - 1][0] or entries[i][2] <= entries[i - 1][2]:
                entries = entries[:i]
                break
        self._tindex = entries
        self._tindex_size = st.st_size
        return entries

    def _batch_at(self, pos, expect_base):
        """True if a batch header with base offset `expect_base` starts at `pos`."""
        head = self.pread(HEADER_SIZE, pos)
        try:
            info = _codec.peek(head, 0)
        except CorruptBatchError:
            return False
        return info is not None and info.base_offset == expect_base

    def floor_position(self, offset):
        """(position, base offset) of an indexed batch at or before `offset`, checked against
        the log; (0, segment base) when the index has nothing usable."""
        rel_a, pos_a = self._load_index()
        i = bisect.bisect_right(rel_a, offset - self.base) - 1
        while i >= 0:
            pos, base = pos_a[i], self.base + rel_a[i]
            if self._batch_at(pos, base):
                return pos, base
            self._index = None  # disagrees with the log: distrust it from here on
            i -= 1
            rel_a, pos_a = (), ()
        return 0, self.base

    def time_floor_position(self, timestamp):
        """(position, base offset) from which to scan for the first record with
        timestamp >= `timestamp`: the batch after the last entry whose max is < timestamp."""
        entries = self._load_timeindex()
        i = bisect.bisect_left([e[0] for e in entries], timestamp) - 1
        while i >= 0:
            ts, rel, pos = entries[i]
            if self._batch_at(pos, self.base + rel):
                return pos, self.base + rel
            self._tindex = None
            return 0, self.base
        return 0, self.base

    def max_timestamp_hint(self):
        entries = self._load_timeindex()
        return entries[-1][0] if entries else None

    def drop_index_cache(self):
        self._index = self._tindex = None
        self._index_size = self._tindex_size = -1

    # -- scanning --------------------------------------------------------------------------
    def scan(self, pos, next_offset, *, limit=None, compacted_ok=True):
        """Walk whole, CRC-valid, in-sequence batches from `pos`.

        Returns (pos, next_offset, max_ts, batches) where pos/next_offset are just past the
        last valid batch, max_ts is the largest max timestamp seen (or None) and batches is a
        list of (pos, info). Stops at EOF or the first invalid batch.
        """
        fd = self.open()
        batches = []
        max_ts = None
        buf = b""
        buf_pos = pos
        while True:
            off = pos - buf_pos
            if len(buf) - off < HEADER_SIZE:
                buf = os.pread(fd, READ_CHUNK, pos)
                buf_pos = pos
                off = 0
                if len(buf) < HEADER_SIZE:
                    break
            try:
                info = _codec.peek(buf, off)
            except CorruptBatchError:
                break
            if off + info.length > len(buf):
                buf = os.pread(fd, max(READ_CHUNK, info.length), pos)
                buf_pos = pos
                off = 0
                if info.length > len(buf):
                    break
            if not _codec.check(buf, off, info):
                break
            b = info.base_offset
            if b != next_offset and not (b > next_offset and info.attributes & _codec.COMPACTED):
                break
            batches.append((pos, info))
            if max_ts is None or info.max_timestamp > max_ts:
                max_ts = info.max_timestamp
            pos += info.length
            next_offset = info.next_offset
            if limit is not None and len(batches) >= limit:
                break
        return pos, next_offset, max_ts, batches

    def rebuild_indexes(self, end_pos=None):
        """Rewrite both index files from the log (up to the last valid batch). Callers hold
        the partition's append lock so no writer appends entries meanwhile."""
        from ._fs import atomic_write
        pos, _next, _max_ts, batches = self.scan(0, self.base)
        idx = []
        tidx = []
        mx = None
        for p, info in batches:
            if mx is None or info.max_timestamp > mx:
                mx = info.max_timestamp
            if crosses_interval(p, info.length):
                idx.append(_IDX.pack(info.base_offset - self.base, p))
                tidx.append(_TIDX.pack(mx, info.base_offset - self.base, p))
        atomic_write(self.index_path, b"".join(idx), fsync=False)
        atomic_write(self.timeindex_path, b"".join(tidx), fsync=False)
        self.drop_index_cache()
        return pos

    def index_valid(self):
        """Cheap structural check of both indexes against the log (used on recovery)."""
        try:
            isz = os.path.getsize(self.index_path)
            tsz = os.path.getsize(self.timeindex_path)
        except FileNotFoundError:
            return False
        if isz % _IDX.size or tsz % _TIDX.size:
            return False
        rel, pos = self._load_index()
        if len(rel) * _IDX.size != isz:
            return False
        if rel and not self._batch_at(pos[-1], self.base + rel[-1]):
            return False
        return True
