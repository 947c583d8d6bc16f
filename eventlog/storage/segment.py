"""One segment of a partition: a `.log` file of record batches and its two sparse indexes.

Files (named by the segment's base offset, 20 digits):
  <base>.log        record batches back to back (see _codec)
  <base>.index      entries of 8 bytes: u32 offset - base, u32 file position of a batch
  <base>.timeindex  entries of 16 bytes: i64 max timestamp up to and including that batch,
                    u32 offset - base, u32 file position of the batch

An index entry is written for every batch that starts at position 0 or crosses a multiple of
the index interval (4 KiB), so the decision depends only on the log and any writer makes the
same one. Indexes carry no checksum: they are hints. Every entry used is checked against the
log (the batch at the position must start with the indexed offset, and for the time index
have a max timestamp no larger than the entry's); entries that fail are skipped, an index is
read only up to its first torn or out-of-order entry, and the writer that next opens the
segment rebuilds an index that is missing, torn or out of order. Rebuilds and cuts happen in
place through the writers' descriptors, never by rename: writers in other processes keep
the same files open and go on appending to them.

Invariants: bytes of a `.log` file before the last valid batch never change while the
segment exists (compaction replaces whole files by rename); a reader accepts a batch only
when it is whole, its CRC matches and its base offset continues the sequence. A live writer
catching up with other writers' appends (`header_chain`) checks their headers and the last
batch's CRC only (docs/format.md, "What a writer checks"); readers still check every batch.

Damage: bytes past the last valid batch are a *torn tail* when no CRC-valid batch starts
anywhere in them (an interrupted write: cut quietly) and *corruption* otherwise (valid data
follows the damage). Corrupt bytes are never deleted: `quarantine` copies them to
`<base>.<position>.quarantine` beside the segment (fsynced) before they are touched. Where a
valid batch continuing the sequence follows the damage (`resync_point`), only the damaged
bytes are quarantined and overwritten in place by a padded batch of no records covering the
offsets they held (`fill_gap`): an explicit gap, accounted for by the quarantine file of the
same position; the valid batches after it stay in place. (This is the one change to bytes
before the last valid batch, made under the append lock, to bytes no reader can accept.)
"""
import bisect
import os
import struct
from array import array
from operator import lt

from eventlog.storage import codec as _codec
from eventlog.storage.codec import HEADER_SIZE, CorruptBatchError
from eventlog._os.fs import fsync_dir

INDEX_INTERVAL = 4096
_IDX = struct.Struct("<II")
_TIDX = struct.Struct("<qII")
READ_CHUNK = 1 << 18  # 256 KiB: how much a reader asks for at once
_HEAD_CHUNK = 4096    # how much `header_chain` reads after a batch at least this long


SEGMENT_EXTS = (".log", ".index", ".timeindex")


def seg_name(base):
    """The file stem of segment `base` (its base offset, 20 digits): `<stem>.log` etc."""
    return f"{base:020d}"


def segment_path(directory, base, ext=".log"):
    """The path of segment `base`'s file with extension `ext` (".log", ".index", ...)."""
    return os.path.join(directory, seg_name(base) + ext)


def segment_exists(directory, base, dir_fd=None):
    """True if segment `base`'s log file exists in `directory` now (one faccessat: no
    exception object, no stat result, when it does not, which is the common case of the
    writer's and readers' checks for a successor segment). With `dir_fd`, a descriptor of
    `directory`, the name is looked up in it: the kernel resolves one path component, not
    every one of `directory` (measured: 2.2 instead of 4.0 us on ext4 under /tmp)."""
    if dir_fd is not None:
        return os.access(f"{base:020d}.log", os.F_OK, dir_fd=dir_fd)
    return os.access(f"{directory}/{base:020d}.log", os.F_OK)


def segment_base_of(name, ext=".log"):
    """The base offset of a segment file named `name` (`<20 digits><ext>`), else None."""
    if len(name) == 20 + len(ext) and name.endswith(ext) and name[:20].isdigit():
        return int(name[:20])
    return None


def list_segment_bases(directory):
    """The sorted bases of the segment (.log) files in `directory` now ([] if it is gone)."""
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return []
    return sorted(b for b in map(segment_base_of, names) if b is not None)


def remove_segment_files(directory, base):
    """Unlink segment `base`'s files, .log first (from then on the segment does not exist);
    return the bytes freed. Files already gone are skipped."""
    freed = 0
    for ext in SEGMENT_EXTS:
        p = segment_path(directory, base, ext)
        try:
            freed += os.path.getsize(p)
            os.unlink(p)
        except FileNotFoundError:
            pass
    return freed


def index_entries(seg_base, base_offset, pos, max_ts):
    """The `.index` and `.timeindex` entries (bytes, bytes) of a batch of segment `seg_base`
    starting at byte `pos` with base offset `base_offset`; `max_ts` is the largest timestamp
    in the segment up to and including the batch. The one encoding of index entries."""
    rel = base_offset - seg_base
    return _IDX.pack(rel, pos), _TIDX.pack(max_ts, rel, pos)


def expected_indexes(seg_base, batches):
    """The bytes (index, timeindex) the two index files of segment `seg_base` hold when its
    valid batches are `batches` ([(pos, info)], in order): one entry per index interval."""
    idx = []
    tidx = []
    mx = None
    for p, info in batches:
        if mx is None or info.max_timestamp > mx:
            mx = info.max_timestamp
        if crosses_interval(p, info.length):
            e, te = index_entries(seg_base, info.base_offset, p, mx)
            idx.append(e)
            tidx.append(te)
    return b"".join(idx), b"".join(tidx)


def crosses_interval(pos, length, interval=INDEX_INTERVAL):
    return pos == 0 or (pos - 1) // interval != (pos + length - 1) // interval


class Segment:
    """Read-side handle on one segment. The descriptor is opened lazily and can be closed."""

    __slots__ = ("dir", "base", "path", "fd", "ino", "_index", "_index_size", "_tindex", "_tindex_size",
                 "closed_hint", "_verified")

    def __init__(self, directory, base):
        self.dir = directory
        self.base = base
        self.path = os.path.join(directory, seg_name(base) + ".log")
        self.fd = -1
        self.ino = None             # inode of the file `fd` is open on (compaction replaces files)
        self._index = None          # (offsets array, positions array) or None
        self._index_size = -1
        self._tindex = None
        self._tindex_size = -1
        self.closed_hint = False    # True once a newer segment is known to exist
        self._verified = None       # (inode, pos, next offset): the valid chain from 0 reaches pos

    # -- files -----------------------------------------------------------------------------
    def open(self):
        """Return a read descriptor (opening it if needed). Raises FileNotFoundError if the
        segment was deleted (retention)."""
        fd = self.fd
        if fd < 0:
            fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
            try:
                self.ino = os.fstat(fd).st_ino
            except BaseException:
                os.close(fd)
                raise
            self.fd = fd
        return fd

    def close(self):
        if self.fd >= 0:
            try:
                os.close(self.fd)
            finally:
                self.fd = -1

    def __del__(self):
        # a handle dropped from the partition's cache while a reader still used it (and so
        # reopened it) must not keep its descriptor once nobody holds it
        try:
            self.close()
        except Exception:
            pass

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
    @staticmethod
    def parse_index(data):
        """(rel offsets, positions) of an offset index file's bytes: whole entries only, cut at
        the first entry that does not increase (a torn or garbled index is a shorter hint)."""
        usable = len(data) - len(data) % _IDX.size
        a = array("I")
        a.frombytes(data[:usable])
        if _codec._BIG:
            a.byteswap()
        rel, pos = a[0::2], a[1::2]
        if not (all(map(lt, rel, rel[1:])) and all(map(lt, pos, pos[1:]))):
            for i in range(1, len(rel)):
                if rel[i] <= rel[i - 1] or pos[i] <= pos[i - 1]:
                    rel, pos = rel[:i], pos[:i]
                    break
        return rel, pos

    @staticmethod
    def parse_timeindex(data):
        """[(max ts, rel offset, position)] of a time index file's bytes, cut at the first
        entry whose max timestamp decreases or whose position does not increase."""
        usable = len(data) - len(data) % _TIDX.size
        entries = list(_TIDX.iter_unpack(data[:usable]))
        for i in range(1, len(entries)):
            if entries[i][0] < entries[i - 1][0] or entries[i][2] <= entries[i - 1][2] or \
                    entries[i][1] <= entries[i - 1][1]:
                return entries[:i]
        return entries

    def _read_file(self, path):
        """(stamp, bytes) of a small file, or (None, b"") if it is missing."""
        try:
            with open(path, "rb") as f:
                st = os.fstat(f.fileno())
                return (st.st_ino, st.st_size, st.st_mtime_ns), f.read()
        except FileNotFoundError:
            return None, b""

    def _stamp(self, path):
        try:
            st = os.stat(path)
        except FileNotFoundError:
            return None
        return st.st_ino, st.st_size, st.st_mtime_ns

    def load_index(self):
        """(rel offsets, positions) of the offset index as it is on disk now (re-read when
        the file changed); ((), ()) if missing."""
        stamp = self._stamp(self.index_path)
        if stamp is None:
            return (), ()
        if self._index is not None and stamp == self._index_size:
            return self._index
        stamp, data = self._read_file(self.index_path)
        if stamp is None:
            return (), ()
        self._index = self.parse_index(data)
        self._index_size = stamp
        return self._index

    def load_timeindex(self):
        """([max ts], [(max ts, rel offset, position)]) of the time index as on disk now."""
        stamp = self._stamp(self.timeindex_path)
        if stamp is None:
            return [], []
        if self._tindex is not None and stamp == self._tindex_size:
            return self._tindex
        stamp, data = self._read_file(self.timeindex_path)
        if stamp is None:
            return [], []
        entries = self.parse_timeindex(data)
        self._tindex = ([e[0] for e in entries], entries)
        self._tindex_size = stamp
        return self._tindex

    def header_at(self, pos):
        """The BatchInfo of a plausible batch header at `pos`, or None (not CRC-checked)."""
        head = self.pread(HEADER_SIZE, pos)
        try:
            return _codec.peek(head, 0)
        except CorruptBatchError:
            return None

    def _batch_at(self, pos, expect_base):
        """True if a batch header with base offset `expect_base` starts at `pos`."""
        info = self.header_at(pos)
        return info is not None and info.base_offset == expect_base

    def floor_position(self, offset):
        """(position, base offset) of an indexed batch at or before `offset`, checked against
        the log; (0, segment base) when the index has nothing usable. Entries that do not
        point at a batch with the indexed offset (garbled, or past a cut tail) are skipped."""
        rel_a, pos_a = self.load_index()
        i = bisect.bisect_right(rel_a, offset - self.base) - 1
        tries = 0
        while i >= 0 and tries < _MAX_TRIES:
            pos, base = pos_a[i], self.base + rel_a[i]
            if self._batch_at(pos, base):
                return pos, base
            i -= 1
            tries += 1
        return 0, self.base

    def time_entry_floor(self, timestamp):
        """(position, base offset, running max) of the last checked time index entry whose
        running max timestamp is < `timestamp` (every record before it is older), or
        (0, segment base, None). An entry is used only if the batch at its position has the
        indexed offset and a max timestamp no larger than the entry claims."""
        tss, entries = self.load_timeindex()
        i = bisect.bisect_left(tss, timestamp) - 1
        tries = 0
        while i >= 0 and tries < _MAX_TRIES:
            ts, rel, pos = entries[i]
            info = self.header_at(pos)
            if info is not None and info.base_offset == self.base + rel and info.max_timestamp <= ts:
                return pos, self.base + rel, ts
            i -= 1
            tries += 1
        return 0, self.base, None

    def time_floor_position(self, timestamp):
        """(position, base offset) from which to scan for the first record with
        timestamp >= `timestamp`."""
        pos, base, _ts = self.time_entry_floor(timestamp)
        return pos, base

    def drop_index_cache(self):
        self._index = self._tindex = None
        self._index_size = self._tindex_size = -1

    # -- the verified chain --------------------------------------------------------------------
    def verified_point(self):
        """(pos, next offset) up to which the chain of valid batches from position 0 of the
        file now open is known; (0, base) if nothing is known yet."""
        self.open()
        v = self._verified
        if v is not None and v[0] == self.ino:
            return v[1], v[2]
        return 0, self.base

    def note_verified(self, pos, next_offset):
        """Record that the valid chain from position 0 reaches (pos, next_offset)."""
        if self.fd < 0 or self.ino is None:
            return
        v = self._verified
        if v is None or v[0] != self.ino or pos > v[1]:
            self._verified = (self.ino, pos, next_offset)

    def valid_end(self):
        """(pos, next offset) just past the valid chain of batches from position 0: the
        segment's end as a reader trusts it. An index entry alone is never trusted for this
        (it may lie past damage); the part already verified is not read again."""
        pos, nxt = self.verified_point()
        pos, nxt, _mx, _b = self.scan(pos, nxt)
        self.note_verified(pos, nxt)
        return pos, nxt

    # -- scanning --------------------------------------------------------------------------
    def batches(self, pos, next_offset):
        """Yield (pos, info, buf, off) for each whole, CRC-valid, in-sequence batch from `pos`
        (the batch is buf[off:off + info.length]); stop at EOF or the first invalid batch."""
        fd = self.open()
        buf = b""
        buf_pos = pos
        while True:
            off = pos - buf_pos
            if len(buf) - off < HEADER_SIZE:
                buf = os.pread(fd, READ_CHUNK, pos)
                buf_pos = pos
                off = 0
                if len(buf) < HEADER_SIZE:
                    return
            try:
                info = _codec.peek(buf, off)
            except CorruptBatchError:
                return
            if off + info.length > len(buf):
                if pos + info.length > os.fstat(fd).st_size:
                    return  # not all there (yet): never ask for more than the file holds
                buf = os.pread(fd, max(READ_CHUNK, info.length), pos)
                buf_pos = pos
                off = 0
                if info.length > len(buf):
                    return
            if not _codec.check(buf, off, info):
                return
            if not _codec.continues(info, next_offset):
                return
            yield pos, info, buf, off
            pos += info.length
            next_offset = info.next_offset

    def scan(self, pos, next_offset, *, limit=None, compacted_ok=True):
        """Walk whole, CRC-valid, in-sequence batches from `pos`.

        Returns (pos, next_offset, max_ts, batches) where pos/next_offset are just past the
        last valid batch, max_ts is the largest max timestamp seen (or None) and batches is a
        list of (pos, info). Stops at EOF, the first invalid batch or after `limit` batches.
        """
        batches = []
        max_ts = None
        for bpos, info, _buf, _off in self.batches(pos, next_offset):
            batches.append((bpos, info))
            if max_ts is None or info.max_timestamp > max_ts:
                max_ts = info.max_timestamp
            pos = bpos + info.length
            next_offset = info.next_offset
            if limit is not None and len(batches) >= limit:
                break
        return pos, next_offset, max_ts, batches

    def header_chain(self, pos, next_offset, end):
        """(next_offset, max_ts) just past the batches from `pos` to exactly `end` if their
        headers chain there and the last one's CRC matches, else None (the caller scans).

        The check of a live writer catching up with batches other live writers appended
        (docs/format.md, "What a writer checks"): each header is plausible (`codec.peek`)
        and continues the offsets (`codec.continues`), the last batch ends exactly at `end`
        and is whole and CRC-valid; the batches before it are not CRC-checked (readers
        check every batch they decode). Reads headers only, not the bytes between them:
        small reads past a big batch, a whole chunk after small ones."""
        fd = self.open()
        buf = b""
        buf_pos = pos
        max_ts = None
        chunk = _HEAD_CHUNK
        last = None
        while pos < end:
            off = pos - buf_pos
            if len(buf) - off < HEADER_SIZE:
                buf = os.pread(fd, min(chunk, end - pos), pos)
                buf_pos = pos
                off = 0
            try:
                info = _codec.peek(buf, off)
            except CorruptBatchError:
                return None
            if info is None or not _codec.continues(info, next_offset):
                return None
            last = (pos, info, buf, off)
            if max_ts is None or info.max_timestamp > max_ts:
                max_ts = info.max_timestamp
            # the next header is near when batches are small: read ahead a chunk then
            chunk = READ_CHUNK if info.length < _HEAD_CHUNK else _HEAD_CHUNK
            pos += info.length
            next_offset = info.next_offset
        if last is None or pos != end:
            return None
        lpos, info, buf, off = last
        if off + info.length > len(buf):  # the last batch is not all in the last read: read it
            buf, off = os.pread(fd, info.length, lpos), 0
        if not _codec.check(buf, off, info):
            return None
        return next_offset, max_ts

    def rebuild_indexes(self, idx_fd, tidx_fd):
        """Rewrite both index files in place from the log (up to the last valid batch) through
        the writer's descriptors. In place, not by rename: other processes' writers hold the
        same files open and keep appending to them. Callers hold the append lock. Returns
        the position just past the last valid batch."""
        pos, _next, _max_ts, batches = self.scan(0, self.base)
        for fd, data in zip((idx_fd, tidx_fd), expected_indexes(self.base, batches)):
            os.ftruncate(fd, 0)
            _write_all(fd, data)  # O_APPEND: lands at the (new) end
        self.drop_index_cache()
        return pos

    def index_usable(self, log_size):
        """Cheap structural check of both index files (used when a writer opens the
        segment): present, whole entries, ordered, starting at the segment's first batch
        (every batch at position 0 is indexed), and non-empty when the log has data.
        Trailing entries past a cut tail are not a reason to rebuild (they are skipped and
        cut); anything else is."""
        try:
            isz = os.path.getsize(self.index_path)
            tsz = os.path.getsize(self.timeindex_path)
        except FileNotFoundError:
            return False
        if isz % _IDX.size or tsz % _TIDX.size:
            return False
        if log_size == 0:
            return isz == 0 and tsz == 0
        rel, pos = self.load_index()
        _tss, entries = self.load_timeindex()
        if len(rel) * _IDX.size != isz or len(entries) * _TIDX.size != tsz:
            return False
        if not rel or not entries or rel[0] != 0 or pos[0] != 0 or entries[0][1:] != (0, 0):
            return False
        return True


_MAX_TRIES = 64
QUARANTINE_SUFFIX = ".quarantine"


def quarantine_name(base, pos):
    """File name (no directory) of the quarantine file of segment `base` cut at `pos`."""
    return f"{seg_name(base)}.{pos}{QUARANTINE_SUFFIX}"


def parse_quarantine_name(name):
    """(segment base, position) of a quarantine file name, or None."""
    if not name.endswith(QUARANTINE_SUFFIX):
        return None
    parts = name[:-len(QUARANTINE_SUFFIX)].split(".")
    if len(parts) < 2 or len(parts[0]) != 20 or not parts[0].isdigit() or not parts[1].isdigit():
        return None
    return int(parts[0]), int(parts[1])


def valid_batches_in(data):
    """[(pos, info)] of the CRC-valid batches found anywhere in `data` (bytes past damage),
    each chain followed from the first valid batch found; [] if there is none (a torn tail).
    Only for the slow path: it looks at every occurrence of the batch magic."""
    out = []
    i = 0
    n = len(data)
    while True:
        i = data.find(_codec.MAGIC, i)
        if i < 0 or n - i < HEADER_SIZE:
            return out
        try:
            info = _codec.peek(data, i)
        except CorruptBatchError:
            info = None
        if info is not None and _codec.check(data, i, info):
            out.append((i, info))
            i += info.length
        else:
            i += 1


def resync_point(data, expect, below=None):
    """(pos, info) of the first CRC-valid batch in `data` (the bytes after damage, starting at
    the position where offset `expect` should start) whose base offset continues the sequence
    past the damage: greater than `expect` (and below `below`, the next segment's base, if
    given), at least a header's length in. None if there is none: then the damage runs to
    the end (a torn tail in the newest segment). The CRC covers the base offset, so a false
    match is practically impossible."""
    for p, info in valid_batches_in(data):
        if p >= HEADER_SIZE and info.base_offset > expect and (below is None or info.next_offset <= below):
            return p, info
    return None


def fill_gap(directory, base, fd, pos, length, first, upto, timestamp_ms, *, sync=True):
    """Resynchronise segment `base` (open read-write on `fd`) over damaged bytes: copy the
    `length` bytes at `pos` to a quarantine file (fsynced first: they are never lost), then
    write over them, in place, a batch of no records exactly `length` bytes long covering
    offsets [first, upto): the offsets the damaged bytes held become an explicit gap, and
    the valid batches after them stay where they are, readable. The caller holds the append
    lock. Returns the quarantine file's path."""
    path = quarantine(directory, base, fd, pos, end=pos + length, sync=sync)
    write_gap(fd, pos, first, upto, timestamp_ms, length, sync=sync)
    return path


def write_gap(fd, pos, first, upto, timestamp_ms, length=HEADER_SIZE, *, sync=True):
    """Write at `pos` of the segment open read-write on `fd` a batch of no records,
    `length` bytes long (default: a bare header), covering offsets [first, upto): the one
    way an explicit gap is written (`fill_gap`, `verify --repair`). fsynced if `sync`."""
    view = memoryview(_codec.gap_batch(first, upto - first - 1, timestamp_ms, length))
    p = pos
    while view:  # continue a short write
        n = os.pwrite(fd, view, p)
        view, p = view[n:], p + n
    if sync:
        os.fsync(fd)


def quarantine(directory, base, fd, pos, *, end=None, sync=True):
    """Copy the bytes of segment `base` (open on `fd`) from `pos` to `end` (default: its
    end) into a new quarantine file beside it and fsync it; return its path. The caller cuts
    or overwrites them afterwards (and holds the append lock)."""
    size = os.fstat(fd).st_size
    if end is not None:
        size = min(size, end)
    path = os.path.join(directory, quarantine_name(base, pos))
    k = 1
    while os.path.exists(path):  # damaged again at the same place: keep every copy
        path = os.path.join(directory, quarantine_name(base, pos) + f".{k}")
        k += 1
    qfd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
    try:
        p = pos
        while p < size:
            chunk = os.pread(fd, min(1 << 20, size - p), p)
            if not chunk:
                break
            _write_all(qfd, chunk)
            p += len(chunk)
        if sync:
            os.fsync(qfd)
    finally:
        os.close(qfd)
    if sync:
        fsync_dir(directory)
    return path


def _write_all(fd, data):
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]
