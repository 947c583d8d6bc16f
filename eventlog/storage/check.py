"""The storage invariant checker and repair: `Partition.check()`, `Log.verify()`, and
`eventlog verify [--repair]` (the command line only formats what this module finds).

Rules it proves, per partition, reading every segment the way a reader does (whole batches,
CRC, base offsets continuing the sequence):
- offsets are dense from the first segment to the end offset: every batch continues the
  sequence, each segment starts where the previous one ends (a compacted topic may skip);
- every byte of every segment belongs to a CRC-valid batch, except a torn tail of the newest
  segment (an interrupted write: no valid batch in it; a warning, the next writer cuts it);
- both sparse indexes hold exactly the entries the log calls for (they are hints: a
  disagreement is a warning);
- `end_offset` equals the end of the valid data, and the start offset is not past it;
- quarantined bytes (`<base>.<pos>.quarantine` files) are counted, with the offsets of the
  valid batches they hold: damage that was moved aside is accounted for, not an error.

Severity: "error" breaks an invariant (the report is not ok), "warning" is a crash remnant
or a stale hint, "info" is worth knowing. A write in progress looks like a torn tail, so
bytes past the valid data of a newest segment are looked at again under its append lock.

Other layers add their own checks (committed offsets, ...) as callables
`source(log, topic_names) -> iterable of Problem` (`topic_names` None: every topic, and
what belongs to no live topic), passed to `verify_log(..., sources=...)` by the layer above
(`Log.verify` passes the committed-offsets check) or appended to `PROBLEM_SOURCES`; storage
never imports them.

Repair (under the partition's append lock; writers in every process wait): damage that a
valid batch continuing the sequence follows (in the same segment) is resynchronised as a
writer does it: only the damaged bytes go to a quarantine file and are overwritten in place
by an explicit gap (a padded batch of no records covering the offsets they held,
`segment.fill_gap`), and every valid batch after them stays. Damage running to the end of
a segment is moved to a quarantine file (never deleted; a torn tail of the newest segment
is cut, as a writer would), and an empty batch covers the offsets it held (the next
segment's base, or the end of the valid batches found in it) so that offsets stay dense and
are never reused. Indexes that disagree are rebuilt.
"""
import logging
import os

import attrs

from eventlog.storage import codec as _codec
from eventlog.storage.codec import HEADER_SIZE, CorruptBatchError
from eventlog._os.fs import FileLock, now_ms
from eventlog.storage.segment import (QUARANTINE_SUFFIX, Segment, _IDX, _TIDX, expected_indexes, fill_gap,
                                      list_segment_bases, parse_quarantine_name, quarantine, resync_point,
                                      valid_batches_in, write_gap)

_CHUNK = 1 << 20
log = logging.getLogger("eventlog")

#: Callables `source(log, topic_names) -> iterable[Problem]` run by every `verify_log` (extension
#: point for checks of other layers; `Log.verify` passes its own with `sources=`).
PROBLEM_SOURCES = []


@attrs.frozen
class Problem:
    """One finding. `severity` is "error" (an invariant is broken), "warning" or "info";
    `file` the file's name in the partition directory (or None), `position` a byte position
    in it, `offsets` the (first, last) offsets concerned (or None), `repair` what
    `eventlog verify --repair` does about it ("cut", "reindex" or None)."""

    severity: str
    topic: str
    partition: int
    message: str
    file: str = None
    position: int = None
    offsets: tuple = None
    repair: str = None

    def json(self):
        d = attrs.asdict(self)
        d["segment"] = self.file  # the name `eventlog verify --json` has always used
        return d

    def __str__(self):
        where = f"{self.topic}[{self.partition}]"
        if self.file:
            where += f" {self.file}"
        if self.position is not None:
            where += f" @{self.position}"
        return f"{self.severity}: {where}: {self.message}"


@attrs.define
class PartitionReport:
    """What `Partition.check()` found in one partition."""

    topic: str
    partition: int
    problems: list = attrs.Factory(list)
    segments: int = 0
    batches: int = 0
    records: int = 0
    bytes: int = 0
    start_offset: int = 0
    end_offset: int = 0
    quarantine_files: int = 0
    quarantined_bytes: int = 0
    # [(first, last)] accounted for by quarantine files: the valid batches they hold and the
    # gaps written over the damaged bytes they hold
    quarantined_offsets: list = attrs.Factory(list)

    @property
    def ok(self):
        """True if no problem is an error."""
        return not any(p.severity == "error" for p in self.problems)

    @property
    def status(self):
        sev = {p.severity for p in self.problems}
        return "error" if "error" in sev else "warning" if "warning" in sev else "ok"


@attrs.define
class VerifyReport:
    """What `Log.verify()` found: `.ok`, `.problems` (every Problem, partitions' and other
    sources'), `.partitions` (a PartitionReport each) and totals."""

    partitions: list = attrs.Factory(list)
    problems: list = attrs.Factory(list)

    @property
    def ok(self):
        """True if no problem is an error."""
        return not any(p.severity == "error" for p in self.problems)

    @property
    def errors(self):
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self):
        return [p for p in self.problems if p.severity == "warning"]

    def add(self, problems):
        """Add problems found by another check (see PROBLEM_SOURCES)."""
        self.problems.extend(problems)

    def _total(self, name):
        return sum(getattr(p, name) for p in self.partitions)

    segments = property(lambda self: self._total("segments"))
    batches = property(lambda self: self._total("batches"))
    records = property(lambda self: self._total("records"))
    bytes = property(lambda self: self._total("bytes"))
    quarantine_files = property(lambda self: self._total("quarantine_files"))
    quarantined_bytes = property(lambda self: self._total("quarantined_bytes"))

    def __str__(self):
        head = (f"{'ok' if self.ok else 'NOT OK'}: {len(self.partitions)} partitions, {self.segments} "
                f"segments, {self.records} records, {self.quarantine_files} quarantine files "
                f"({self.quarantined_bytes} bytes)")
        return "\n".join([head] + ["  " + str(p) for p in self.problems])


# -- scanning ----------------------------------------------------------------------------------

class SegmentScan:
    """What one pass over a segment file found."""

    __slots__ = ("base", "path", "size", "batches", "end_pos", "next_offset", "records", "bad_pos",
                 "bad_reason", "bad_info", "torn", "after", "index_problems")

    def __init__(self, base, path):
        self.base = base
        self.path = path
        self.size = 0
        self.batches = []        # [(pos, BatchInfo)] of valid batches, in order
        self.end_pos = 0         # just past the last valid batch
        self.next_offset = base
        self.records = 0
        self.bad_pos = None      # where valid data stops before EOF (None: clean)
        self.bad_reason = None
        self.bad_info = None     # the header found there, if plausible
        self.torn = False        # no valid batch in the bad bytes: an interrupted write
        self.after = []          # [(pos, info)] of valid batches in the bad bytes
        self.index_problems = []


def scan_segment(path, base, deep=False, progress=None):
    """Scan one segment file (`progress(nbytes)` is called as bytes are read)."""
    s = SegmentScan(base, path)
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        size = s.size = os.fstat(fd).st_size
        pos, expect = 0, base
        buf, buf_pos = b"", 0
        while pos < size:
            off = pos - buf_pos
            if len(buf) - off < HEADER_SIZE:
                buf, buf_pos, off = os.pread(fd, _CHUNK, pos), pos, 0
            if len(buf) < HEADER_SIZE:
                s.bad_pos, s.bad_reason = pos, f"a partial batch header ({size - pos} bytes)"
                break
            try:
                info = _codec.peek(buf, off)
            except CorruptBatchError as e:
                s.bad_pos, s.bad_reason = pos, f"not a batch header ({e})"
                break
            if off + info.length > len(buf):
                buf, buf_pos, off = os.pread(fd, max(_CHUNK, info.length), pos), pos, 0
                if info.length > len(buf):
                    s.bad_pos, s.bad_info = pos, info
                    s.bad_reason = f"a partial batch: its header says {info.length} bytes, {len(buf)} are there"
                    break
            if not _codec.check(buf, off, info):
                s.bad_pos, s.bad_info, s.bad_reason = pos, info, "CRC mismatch"
                break
            if not _codec.continues(info, expect):
                s.bad_pos, s.bad_info = pos, info
                s.bad_reason = (f"base offset {info.base_offset} does not continue the sequence "
                                f"(expected {expect}): a stale or misplaced batch")
                break
            if deep:
                try:
                    _codec.decode_columns(buf, off, info)
                except CorruptBatchError as e:
                    s.bad_pos, s.bad_info, s.bad_reason = pos, info, f"records do not decode ({e})"
                    break
            s.batches.append((pos, info))
            s.records += info.count
            pos += info.length
            expect = info.next_offset
            if progress is not None:
                progress(info.length)
        s.end_pos = pos
        s.next_offset = expect
        if s.bad_pos is not None:
            s.after = valid_batches_in(os.pread(fd, size - pos, pos))
            s.torn = not s.after
        if progress is not None and size > pos:
            progress(size - pos)
    finally:
        os.close(fd)
    return s


def _read(path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        return None


def check_indexes(pdir, s):
    """Messages about both indexes of the scanned segment `s` ([] if they agree with it)."""
    seg = Segment(pdir, s.base)
    want_idx, want_tidx = expected_indexes(s.base, s.batches)
    problems = []
    for what, path, want, size in (("offset index", seg.index_path, want_idx, _IDX.size),
                                   ("time index", seg.timeindex_path, want_tidx, _TIDX.size)):
        have = _read(path)
        if have is None:
            if s.size:
                problems.append(f"the {what} {os.path.basename(path)} is missing")
            continue
        if have == want:
            continue
        n_have, n_want = len(have) // size, len(want) // size
        first = next((i for i in range(min(n_have, n_want))
                      if have[i * size:(i + 1) * size] != want[i * size:(i + 1) * size]), min(n_have, n_want))
        torn = f" and a torn entry of {len(have) % size} bytes" if len(have) % size else ""
        problems.append(f"the {what} disagrees with the log from entry {first} (it has {n_have} entries{torn}, "
                        f"the log needs {n_want})")
    return problems


def quarantine_files(pdir):
    """Sorted names of the quarantine files in a partition directory."""
    try:
        names = os.listdir(pdir)
    except FileNotFoundError:
        return []
    return sorted(n for n in names
                  if parse_quarantine_name(n.split(QUARANTINE_SUFFIX)[0] + QUARANTINE_SUFFIX) is not None)


def _damage_text(s):
    what = s.bad_reason
    if s.bad_info is not None:
        i = s.bad_info
        what += (f" (its header says offsets {i.base_offset}..{i.last_offset})" if i.count > 1
                 else f" (its header says offset {i.base_offset})")
    if s.after:
        lo = min(i.base_offset for _p, i in s.after)
        hi = max(i.next_offset for _p, i in s.after) - 1
        what += f", followed by {len(s.after)} valid batches (offsets {lo}..{hi})"
    return what


class _Locked:
    """The partition's append lock, if `take`; a no-op otherwise."""

    def __init__(self, pdir, take, wait=None):
        self.lk = FileLock(os.path.join(pdir, "append.lock")) if take else None
        self.wait = wait

    def __enter__(self):
        if self.lk is not None:
            try:
                if not self.lk.acquire(blocking=False):
                    if self.wait is not None:
                        self.wait()
                    self.lk.acquire()
            except FileNotFoundError:  # the partition is gone
                self.lk = None
        return self

    def __exit__(self, *exc):
        if self.lk is not None:
            try:
                self.lk.release()
            finally:
                self.lk.close()


def check_partition(topic, number, pdir, compacted, deep=False, progress=None, locked=False,
                    start_offset=None, end_offset=None, wait=None):
    """(PartitionReport, [SegmentScan]) of one partition directory. `start_offset` and
    `end_offset`, if given, are what the Partition reports; they are checked against the
    files. `locked`: the caller holds the append lock already; otherwise `wait()` is called
    before blocking on a busy append lock."""
    rep = PartitionReport(topic, number)
    bases = list_segment_bases(pdir)
    scans = []
    prev = None
    add = rep.problems.append
    for i, base in enumerate(bases):
        path = os.path.join(pdir, f"{base:020d}.log")
        name = os.path.basename(path)
        newest = i == len(bases) - 1
        try:
            s = scan_segment(path, base, deep, progress)
            s.index_problems = check_indexes(pdir, s)
            if newest and not locked and (s.bad_pos is not None or s.index_problems):
                # a write in progress looks like damage (and its index entry comes just after
                # the batch): look again with no write in progress
                with _Locked(pdir, True, lambda: wait(topic, number) if wait is not None else None):
                    s = scan_segment(path, base, deep)
                    s.index_problems = check_indexes(pdir, s)
        except FileNotFoundError:  # removed by retention meanwhile
            continue
        if s.bad_pos is not None:
            what = _damage_text(s)
            lost = s.size - s.bad_pos
            if newest and s.torn:
                add(Problem("warning", topic, number, f"a torn tail (an interrupted write): {what}; its "
                            f"{lost} bytes are cut by the next writer", name, s.bad_pos,
                            (s.next_offset, None), "cut"))
            else:
                place = "the newest segment" if newest else "a closed segment"
                add(Problem("error", topic, number, f"corrupt data in {place}: {what}; {lost} bytes from "
                            "here on cannot be read (--repair moves them to a quarantine file)",
                            name, s.bad_pos, (s.next_offset, None), "cut"))
        for msg in s.index_problems:
            add(Problem("warning", topic, number, msg + " (--repair rebuilds it)", name, repair="reindex"))
        if prev is not None:
            if base < prev.next_offset:
                add(Problem("error", topic, number, f"starts at offset {base} but the previous segment ends at "
                            f"{prev.next_offset}: overlapping offsets (not repairable here)", name,
                            offsets=(base, prev.next_offset - 1)))
            elif base > prev.next_offset and not compacted and prev.bad_pos is None:
                add(Problem("error", topic, number, f"offsets {prev.next_offset}..{base - 1} are missing "
                            "before this segment", name, offsets=(prev.next_offset, base - 1)))
        scans.append(s)
        prev = s
    rep.segments = len(scans)
    rep.batches = sum(len(s.batches) for s in scans)
    rep.records = sum(s.records for s in scans)
    rep.bytes = sum(s.size for s in scans)
    data_end = scans[-1].next_offset if scans else None
    if end_offset is not None and data_end is not None and end_offset != data_end:
        add(Problem("error", topic, number, f"end_offset is {end_offset} but the valid data of the newest "
                    f"segment ends at offset {data_end}", os.path.basename(scans[-1].path),
                    offsets=(min(end_offset, data_end), max(end_offset, data_end))))
    if start_offset is not None and end_offset is not None and start_offset > end_offset:
        add(Problem("error", topic, number, f"the start offset {start_offset} is past the end offset {end_offset}"))
    rep.start_offset = start_offset if start_offset is not None else (bases[0] if bases else 0)
    rep.end_offset = end_offset if end_offset is not None else (data_end or 0)
    gaps = {(s.base, p): info for s in scans for p, info in s.batches if info.count == 0}
    for q in quarantine_files(pdir):
        data = _read(os.path.join(pdir, q)) or b""
        rep.quarantine_files += 1
        rep.quarantined_bytes += len(data)
        for _p, info in valid_batches_in(data):
            rep.quarantined_offsets.append((info.base_offset, info.last_offset))
        # the gap written over the bytes this file holds: offsets lost in damage, accounted for
        gap = gaps.get(parse_quarantine_name(q.split(QUARANTINE_SUFFIX)[0] + QUARANTINE_SUFFIX))
        if gap is not None and not gap.attributes & _codec.COMPACTED:
            rep.quarantined_offsets.append((gap.base_offset, gap.last_offset))
    rep.quarantined_offsets.sort()
    return rep, scans


def check(part, compacted, deep=False, progress=None, wait=None):
    """The PartitionReport of a Partition (see `Partition.check`)."""
    rep, _scans = check_partition(part.topic, part.partition, part.dir, compacted, deep, progress,
                                  start_offset=part.start_offset, end_offset=part.end_offset, wait=wait)
    return rep


def verify_log(lg, topics=None, deep=False, progress=None, wait=None, sources=()):
    """The VerifyReport of every partition of `topics` (names; None: all) of Log `lg`, plus
    the problems of every registered PROBLEM_SOURCES entry and of every callable in
    `sources` (the same signature: how a higher layer adds its checks without this module
    importing it). `progress(nbytes, label=None)` is told of bytes read,
    `wait(topic, partition)` before blocking on an append lock."""
    from eventlog.errors import UnknownTopicError
    names = lg.topics() if topics is None else ([topics] if isinstance(topics, str) else list(topics))
    report = VerifyReport()
    for name in names:
        try:
            t = lg.topic(name)
        except UnknownTopicError:
            if topics is None:
                continue  # deleted meanwhile
            raise
        for p in t.partitions:
            if progress is not None:
                progress(0, label=f"verifying {name}[{p.partition}]")
            rep = p.check(deep=deep, _progress=progress, _wait=wait)
            report.partitions.append(rep)
            report.problems.extend(rep.problems)
    for source in (*PROBLEM_SOURCES, *sources):
        report.add(source(lg, None if topics is None else names))
    return report


# -- repair ------------------------------------------------------------------------------------

def _resync_segment(pdir, s, below, deep, done, where):
    """Fill every damaged range of segment scan `s` that a valid batch continuing the sequence
    follows (below `below`, the next segment's base, for a closed segment) with an explicit
    gap (`segment.fill_gap`: only the damaged bytes go to a quarantine file; the valid
    batches after them stay). Returns the scan of the segment as it is afterwards."""
    while s.bad_pos is not None:
        fd = os.open(s.path, os.O_RDWR | os.O_CLOEXEC)
        try:
            at = resync_point(os.pread(fd, s.size - s.end_pos, s.end_pos), s.next_offset, below)
            if at is None:
                return s
            dist, info = at
            ts = max((i.max_timestamp for _p, i in s.batches), default=info.max_timestamp)
            qpath = fill_gap(pdir, s.base, fd, s.end_pos, dist, s.next_offset, info.base_offset, ts)
        finally:
            os.close(fd)
        lost = f"offsets {s.next_offset}..{info.base_offset - 1}"
        done.append(f"moved {dist} damaged bytes of {where} {os.path.basename(s.path)} from position "
                    f"{s.end_pos} to the quarantine file {qpath} ({lost} lost in them, now an explicit "
                    f"gap; the valid batches after them, from offset {info.base_offset}, are kept)")
        log.warning("%s: repair moved corrupt data of %s at position %d (%s) to %s; the valid batches "
                    "after it are kept", where, s.path, s.end_pos, lost, qpath)
        s = scan_segment(s.path, s.base, deep)
    return s


def _fill(path, pos, first, upto):
    """Write at `pos` of segment file `path` an empty batch covering offsets [first, upto)."""
    fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
    try:
        write_gap(fd, pos, first, upto, now_ms())
    finally:
        os.close(fd)


def repair_partition(topic, number, pdir, compacted, deep=False, wait=None):
    """Under the append lock: move damaged bytes to quarantine files, keep offsets dense with
    empty batches, rebuild disagreeing indexes. Returns a list of what was done (strings).
    `wait()` is called if the lock is busy (before blocking on it)."""
    lock = FileLock(os.path.join(pdir, "append.lock"))
    done = []
    if not lock.acquire(blocking=False):
        if wait is not None:
            wait()
        lock.acquire()
    try:
        _rep, scans = check_partition(topic, number, pdir, compacted, deep, locked=True)
        for k, s in enumerate(scans):
            name = os.path.basename(s.path)
            reindex = bool(s.index_problems)
            if s.bad_pos is not None:
                newest = k + 1 == len(scans)
                s = _resync_segment(pdir, s, None if newest else scans[k + 1].base, deep, done,
                                    f"{topic}[{number}]")
                reindex = True
            if s.bad_pos is not None:
                if newest:
                    upto = max((i.next_offset for _p, i in s.after), default=s.next_offset)
                else:
                    upto = scans[k + 1].base
                fd = os.open(s.path, os.O_RDWR | os.O_CLOEXEC)
                try:
                    qpath = None if (newest and s.torn) else quarantine(pdir, s.base, fd, s.end_pos)
                    os.ftruncate(fd, s.end_pos)
                    os.fsync(fd)
                finally:
                    os.close(fd)
                if upto > s.next_offset:
                    _fill(s.path, s.end_pos, s.next_offset, upto)
                lost = (f"offsets {s.next_offset}..{upto - 1} moved to {qpath} and covered by an empty batch"
                        if upto > s.next_offset else "no offsets lost")
                if qpath is None:
                    done.append(f"cut the torn tail of {topic}[{number}] {name} at position {s.end_pos} "
                                f"({s.size - s.end_pos} bytes of an interrupted write)")
                else:
                    done.append(f"moved {s.size - s.end_pos} bytes of {topic}[{number}] {name} from position "
                                f"{s.end_pos} to the quarantine file {qpath} ({lost})")
                    log.warning("%s[%d]: repair moved corrupt data of %s from position %d to %s (%s)",
                                topic, number, s.path, s.end_pos, qpath, lost)
                reindex = True
            if reindex:
                seg = Segment(pdir, s.base)
                flags = os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC
                ifd = os.open(seg.index_path, flags, 0o644)
                tfd = os.open(seg.timeindex_path, flags, 0o644)
                try:
                    seg.rebuild_indexes(ifd, tfd)
                    os.fsync(ifd)
                    os.fsync(tfd)
                finally:
                    os.close(ifd)
                    os.close(tfd)
                    seg.close()
                done.append(f"rebuilt the indexes of {topic}[{number}] {name}")
    finally:
        lock.release()
        lock.close()
    return done
