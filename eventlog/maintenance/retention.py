"""Retention: deleting whole closed segments by time (`retention_ms`) and size
(`retention_bytes`), oldest first (docs/retention.md).

Invariants:
- The newest (active) segment is never deleted; only closed segments are, and only a prefix
  of them (oldest first), so the log never gets a hole.
- Segments are deleted under the partition's append lock (`Partition.append_lock`); the new
  log start offset is persisted before any segment is unlinked, so a crash midway never moves
  the start back.
- Uses only the partition's and segment's public API (storage knows nothing of retention).
"""
from eventlog._os.clock import now_ms as _now_ms
from eventlog.storage.segment import Segment, remove_segment_files, segment_path
import os


def segment_max_ts(seg):
    """The largest timestamp in a segment (last valid time index entry, then a scan of the
    batches after it), or None if it holds no valid batch."""
    pos, base, ts = seg.time_entry_floor(1 << 64)
    _p, _n, mx, _b = seg.scan(pos, base)
    if ts is None:
        return mx
    return ts if mx is None else max(ts, mx)


def _size(path):
    try:
        return os.path.getsize(path)
    except FileNotFoundError:
        return 0


def retention_applies(cfg):
    """True if a topic with settings `cfg` deletes segments by time or size."""
    return "delete" in cfg.cleanup_policy and (cfg.retention_ms is not None or cfg.retention_bytes is not None)


def apply_retention(part, report, now=None, append_locked=False):
    """Delete closed segments past retention_ms / beyond retention_bytes (oldest first).
    `now` is the wall-clock time in ms (default: the system clock). Callers hold the
    maintenance lock; `append_locked=True` when they hold the append lock too (a roll)."""
    cfg = part.config
    if not retention_applies(cfg):
        return
    rms, rbytes = cfg.retention_ms, cfg.retention_bytes
    now = _now_ms() if now is None else now
    bases = part.segment_bases()
    if len(bases) < 2:
        return
    closed = bases[:-1]
    doomed = []
    if rms is not None:
        horizon = now - rms
        for b in closed:
            seg = Segment(part.dir, b)
            try:
                if seg.size() == 0:
                    doomed.append(b)
                    continue
                mx = segment_max_ts(seg)
            except FileNotFoundError:
                doomed.append(b)  # gone already
                continue
            finally:
                seg.close()
            if mx is not None and mx < horizon:
                doomed.append(b)
            else:
                break
    if rbytes is not None:
        sizes = [_size(segment_path(part.dir, b)) for b in bases]
        total = sum(sizes[len(doomed):])
        for i in range(len(doomed), len(closed)):
            if total <= rbytes:
                break
            doomed.append(closed[i])
            total -= sizes[i]
    if doomed:
        _delete_prefix(part, doomed, report, append_locked)


def _delete_prefix(part, doomed, report, append_locked=False):
    with part.append_lock(held=append_locked):
        bases = part.segment_bases()
        k = 0
        while k < len(doomed) and k < len(bases) - 1 and bases[k] == doomed[k]:
            k += 1
        if not k:
            return
        new_start = bases[k]
        if new_start > part.stored_start_offset():
            part.persist_start_offset(new_start)  # first: a crash mid-way never moves the start back
        for b in bases[:k]:
            report["bytes_freed"] += remove_segment_files(part.dir, b)
            report["segments_deleted"] += 1
