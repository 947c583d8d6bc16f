"""Log compaction: rewriting closed segments of compacted topics keeping the newest record per
key (docs/retention.md), the compactor's state file (`cleaner.json`), and crash recovery of
half-done rewrites.

Invariants:
- The newest (active) segment is never rewritten; only closed segments are.
- A rewritten segment is written beside the old one (`<base>.log.cleaned` and its indexes),
  fsynced, and swapped in under the partition's append lock by renaming it over `<base>.log`
  (the commit point), then its indexes. A crash leaves the old or the new file; stray
  `.cleaned` files are finished or removed by the next run (`recover`).
- A rewritten segment keeps its name (base offset) and its offset range: each rewritten
  batch covers a contiguous range [first original base, last original offset] with the
  surviving records' offsets in an OFFSET_DELTAS column (a range with no survivors is a
  batch of 0 records), so readers' sequence check (base == previous next offset) holds.
- Readers take no lock: one holding the old file's descriptor finishes that file; one that
  reopens a replaced file notices the inode change and locates its offset again.
- Uses only the partition's and segment's public API; callers hold the maintenance lock.
"""
import hashlib
import os
from itertools import compress, repeat
from operator import le

from eventlog._os.clock import now_ms as _now_ms
from eventlog._os.fs import atomic_write_json, fsync_dir, read_json
from eventlog.maintenance.retention import _size, segment_max_ts
from eventlog.storage import codec as _codec
from eventlog.storage.segment import Segment, crosses_interval, index_entries, segment_base_of, segment_path

STATE_FILE = "cleaner.json"
RAW_KEY_MAX = 32           # keys up to this size are their own map key (exact); longer: a digest
ENTRY_OVERHEAD = 112       # bytes per offset-map entry besides the key (dict slot, int, bytes header)
FLUSH_RECORD_BYTES = 1 << 20  # a rewritten batch collects up to this many bytes of survivors
WRITE_BUF = 4 << 20


def _unlink(path):
    try:
        os.unlink(path)
        return True
    except FileNotFoundError:
        return False


def _digest(k):
    return hashlib.blake2b(k, digest_size=32).digest() + b"#"  # 33 bytes: never a raw key


def _map_keys(keys):
    """The offset-map keys of a batch's keys: raw when short (exact), else a 33-byte digest."""
    try:
        if max(map(len, keys)) <= RAW_KEY_MAX:
            return keys
        return [k if len(k) <= RAW_KEY_MAX else _digest(k) for k in keys]
    except TypeError:  # None keys (a topic altered to compact): never deduplicated
        return [None if k is None else (k if len(k) <= RAW_KEY_MAX else _digest(k)) for k in keys]


def _read_state(part):
    try:
        s = read_json(os.path.join(part.dir, STATE_FILE))
        return int(s.get("clean_end", 0)), {int(k): int(v) for k, v in s.get("tombstones", {}).items()}
    except (FileNotFoundError, ValueError, TypeError, AttributeError):
        return 0, {}


def _write_state(part, clean_end, tombs):
    atomic_write_json(os.path.join(part.dir, STATE_FILE),
                      {"clean_end": clean_end, "tombstones": {str(k): v for k, v in sorted(tombs.items())}},
                      fsync=part.config.fsync == "batch")


def recover(part, bases=None):
    """Finish or undo rewrites a crash interrupted, and remove index files of deleted
    segments. Callers hold the maintenance lock."""
    try:
        names = os.listdir(part.dir)
    except FileNotFoundError:
        return
    bases = part.segment_bases() if bases is None else bases
    alive = set(bases)
    cleaned = {}
    for n in names:
        if n.endswith(".cleaned") and n[:20].isdigit():  # <base><ext>.cleaned: see _Out
            cleaned.setdefault(int(n[:20]), set()).add(n[20:-8])
    for base, exts in cleaned.items():
        if ".log" in exts or base not in alive:  # not committed (or segment deleted since)
            for ext in exts:
                _unlink(segment_path(part.dir, base, ext + ".cleaned"))
        else:  # the log was renamed into place: finish with its indexes
            with part.append_lock():
                for ext in exts:
                    try:
                        os.rename(segment_path(part.dir, base, ext + ".cleaned"), segment_path(part.dir, base, ext))
                    except FileNotFoundError:
                        pass
    if bases:
        for n in names:
            b = segment_base_of(n, ".index")
            if b is None:
                b = segment_base_of(n, ".timeindex")
            if b is not None and b < bases[0]:
                _unlink(os.path.join(part.dir, n))


def compact(part, report, now=None, stop=None):
    """Compact the closed segments of `part` (cleanup_policy containing "compact").
    Callers hold the maintenance lock."""
    cfg = part.config
    if "compact" not in cfg.cleanup_policy:
        return
    now = _now_ms() if now is None else now
    bases = part.segment_bases()
    recover(part, bases)
    if len(bases) < 2:
        return
    start = max(bases[0], part.stored_start_offset())
    cleanable = []
    for b in bases[:-1]:
        if cfg.min_compaction_lag_ms > 0:
            seg = Segment(part.dir, b)
            try:
                mx = segment_max_ts(seg)
            finally:
                seg.close()
            if mx is None or mx > now - cfg.min_compaction_lag_ms:
                break
        cleanable.append(b)
    if not cleanable:
        return
    ends = bases[1:len(cleanable) + 1]  # each cleanable segment ends where the next begins
    cleanable_end = ends[-1]
    clean_end, tombs = _read_state(part)
    tombs = {b: t for b, t in tombs.items() if b in set(bases)}
    clean_end = max(clean_end, start)
    sizes = [_size(segment_path(part.dir, b, ".log")) for b in cleanable]
    total = sum(sizes)
    dirty = sum(s for s, e in zip(sizes, ends) if e > clean_end)
    due = {b for b, t in tombs.items() if t + cfg.delete_retention_ms <= now and b in set(cleanable)}
    if not ((dirty and total and dirty / total >= cfg.min_cleanable_dirty_ratio) or due):
        return
    w = min(clean_end, cleanable_end)
    first = True
    while w < cleanable_end or (first and due):
        first = False
        m, e = _build_map(part, cleanable, ends, w, cleanable_end, cfg.cleaner_buffer_bytes, stop)
        if m is None:
            return  # stopped
        for b in [b for b in cleanable if b < e or b in due]:
            if stop is not None and stop.is_set():
                return
            _clean_segment(part, b, m, now, tombs, report, stop)
        due = set()
        w = e
        _write_state(part, w, tombs)


def _build_map(part, cleanable, ends, w, limit, budget, stop):
    """Offset map {map key: newest offset} of records at offsets >= w, from cleanable
    segments, until it holds about `budget` bytes. Returns (map, end offset it covers)."""
    m = {}
    maxk = 8
    for b, end in zip(cleanable, ends):
        if end <= w:
            continue
        seg = Segment(part.dir, b)
        try:
            pos, fb = seg.floor_position(w) if w > b else (0, b)
            for _bpos, info, buf, off in seg.batches(pos, fb):
                if stop is not None and stop.is_set():
                    return None, w
                if info.next_offset <= w or not info.count:
                    continue
                offs, _t, keys, _v, _h = _codec.decode_columns(buf, off, info)
                if not isinstance(keys, tuple):
                    keys = list(keys)
                hk = _map_keys(keys)
                if info.base_offset < w:
                    pairs = [(k, o) for k, o in zip(hk, offs) if o >= w]
                    hk = [p[0] for p in pairs]
                    offs = [p[1] for p in pairs]
                if hk:
                    m.update(zip(hk, offs))
                    m.pop(None, None)
                    maxk = max(maxk, min(RAW_KEY_MAX + 1, max((len(k) for k in hk if k is not None), default=0)))
                if len(m) * (ENTRY_OVERHEAD + maxk) >= budget and info.next_offset < limit:
                    return m, info.next_offset
        finally:
            seg.close()
    return m, limit


class _Out:
    """The `.cleaned` files of a segment being rewritten (created only once a record is
    actually removed: until then the segment may turn out unchanged)."""

    def __init__(self, part, base, src_fd, prefix):
        self.part = part
        self.base = base
        self.path = segment_path(part.dir, base, ".log.cleaned")
        self.fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
        self.pos = 0
        self.buf = []
        self.buf_len = 0
        self.idx = []
        self.tidx = []
        self.run_max = None
        # copy the unchanged prefix in the kernel, then index it from the batch list
        done = 0
        total = prefix[-1][0] + prefix[-1][1] if prefix else 0
        while done < total:
            n = os.copy_file_range(src_fd, self.fd, total - done, done, done)
            if n <= 0:
                raise OSError("copy_file_range made no progress")
            done += n
        os.lseek(self.fd, total, os.SEEK_SET)
        for pos, length, base_off, max_ts in prefix:
            self._index(pos, length, base_off, max_ts)
        self.pos = total

    def _index(self, pos, length, base_off, max_ts):
        if self.run_max is None or max_ts > self.run_max:
            self.run_max = max_ts
        if crosses_interval(pos, length):
            e, te = index_entries(self.base, base_off, pos, self.run_max)
            self.idx.append(e)
            self.tidx.append(te)

    def add(self, data, base_off, max_ts):
        self._index(self.pos, len(data), base_off, max_ts)
        self.pos += len(data)
        self.buf.append(data)
        self.buf_len += len(data)
        if self.buf_len >= WRITE_BUF:
            self.flush()

    def flush(self):
        if self.buf:
            data = memoryview(b"".join(self.buf))
            self.buf = []
            self.buf_len = 0
            while data:
                data = data[os.write(self.fd, data):]

    def finish(self):
        """Write everything and the index files, fsync all three."""
        self.flush()
        os.fsync(self.fd)
        os.close(self.fd)
        self.fd = -1
        for ext, parts in ((".index.cleaned", self.idx), (".timeindex.cleaned", self.tidx)):
            p = segment_path(self.part.dir, self.base, ext)
            fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
            try:
                data = memoryview(b"".join(parts))
                while data:
                    data = data[os.write(fd, data):]
                os.fsync(fd)
            finally:
                os.close(fd)

    def discard(self):
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
        for ext in (".log.cleaned", ".index.cleaned", ".timeindex.cleaned"):
            _unlink(segment_path(self.part.dir, self.base, ext))


def _clean_segment(part, base, m, now, tombs, report, stop):
    """Rewrite segment `base` without records superseded in `m` (and without tombstones
    whose delete retention expired); swap it in if anything was removed."""
    cfg = part.config
    expire = base in tombs and tombs[base] + cfg.delete_retention_ms <= now
    src = Segment(part.dir, base)
    out = None
    try:
        try:
            fd = src.open()
        except FileNotFoundError:
            tombs.pop(base, None)
            return
        ino = src.ino
        size = os.fstat(fd).st_size
        prefix = []           # (pos, length, base, max_ts) of whole batches kept before `out`
        group = None          # [base, last offset, max ts, offsets, timestamps, keys, values, headers, bytes]
        removed = 0
        has_tomb = False
        end_pos = 0
        codec, level = cfg.codec, cfg.compression_level

        def flush_group():
            nonlocal group
            g, group = group, None
            if g is None:
                return
            gbase, glast, gmax, offs, tss, keys, vals, hdrs, _n = g
            if offs:
                prep = _codec.prepare(keys, vals, tss[0], timestamps=tss,
                                      headers=hdrs if any(hdrs) else None, codec=codec,
                                      zstd_level=level, offset_deltas=[o - gbase for o in offs])
                prep.last_delta = glast - gbase
                if gmax > prep.max_ts:
                    prep.max_ts = gmax  # the range's newest time stays (time retention, time index)
            else:
                prep = _codec.prepare_empty(glast - gbase, gmax)
            out.add(_codec.seal(prep, gbase) + prep.payload, gbase, prep.max_ts)

        for bpos, info, buf, off in src.batches(0, base):
            if stop is not None and stop.is_set():
                if out is not None:
                    out.discard()
                return
            end_pos = bpos + info.length
            if info.count:
                offs, tss, keys, vals, hdrs = _codec.decode_columns(buf, off, info)
                if not isinstance(keys, tuple):
                    keys = list(keys)  # a `repeat` (no keys) is read twice below
                latest = list(map(m.get, _map_keys(keys), repeat(-1)))
                keep = list(map(le, latest, offs))
                if info.attributes & _codec.HAS_NULLS and None in vals:
                    if expire:
                        keep = [k and v is not None for k, v in zip(keep, vals)]
                    has_tomb = has_tomb or any(k and v is None for k, v in zip(keep, vals))
                nkeep = keep.count(True)
            else:
                nkeep = 0
            if nkeep == info.count and (info.count or group is None):
                # unchanged batch (or an empty one with nothing to merge into): as it is
                if out is None:
                    prefix.append((bpos, info.length, info.base_offset, info.max_timestamp))
                else:
                    flush_group()
                    out.add(bytes(buf[off:off + info.length]), info.base_offset, info.max_timestamp)
                continue
            removed += info.count - nkeep
            if out is None:
                out = _Out(part, base, fd, prefix)
                prefix = None
            if group is None:
                group = [info.base_offset, info.last_offset, info.max_timestamp, [], [], [], [], [], 0]
            else:
                group[1] = info.last_offset
                group[2] = max(group[2], info.max_timestamp)
            if nkeep:
                if not isinstance(offs, list):
                    offs = list(offs)
                group[3] += compress(offs, keep)
                group[4] += compress(tss, keep)
                group[5] += compress(keys, keep)
                group[6] += compress(vals, keep)
                group[7] += compress(hdrs, keep)
                group[8] += info.section_len * nkeep // info.count
                if group[8] >= FLUSH_RECORD_BYTES:
                    flush_group()
        if end_pos != size:
            # a closed segment with an invalid batch: leave it to `eventlog verify`
            report.setdefault("errors", []).append(f"{src.path}: invalid batch at position {end_pos}; not compacted")
            if out is not None:
                out.discard()
            return
        if has_tomb:
            tombs.setdefault(base, now)
        else:
            tombs.pop(base, None)
        if out is None:
            return  # nothing removed
        flush_group()
        out.finish()
        with part.append_lock():
            try:
                cur = os.stat(src.path)
            except FileNotFoundError:
                cur = None
            if cur is None or cur.st_ino != ino:  # deleted (delete_records) meanwhile
                out.discard()
                return
            os.rename(out.path, src.path)  # the commit point
            for ext in (".index", ".timeindex"):
                os.rename(segment_path(part.dir, base, ext + ".cleaned"), segment_path(part.dir, base, ext))
        fsync_dir(part.dir)
        out = None
        report["records_cleaned"] += removed
        report["segments_cleaned"] += 1
    except BaseException:
        if out is not None:
            out.discard()
        raise
    finally:
        src.close()
