"""`eventlog dump`, `eventlog verify [--repair]` and `eventlog maintain`.

verify reads every segment the way a reader does (whole batches, CRC, base offsets
continuing the sequence) and compares both sparse indexes with what the log says they
should hold (an entry for every batch at position 0 or crossing a 4 KiB boundary, as
`_segment` writes them). Findings:
- error: bytes of a closed segment (or the middle of the newest one) that cannot be read,
  a CRC-valid batch whose records do not decode (--deep), segments whose offsets overlap;
- warning: a torn tail of the newest segment (an interrupted write: readers wait there and
  the next writer cuts it), indexes that disagree with the log (they are hints and are
  checked before use), offsets missing between segments of a non-compacted topic.
Exit status 1 if there is an error (or, with --strict, a warning).

--repair --yes, per damaged partition and holding its `append.lock` flock (writers in every
process wait meanwhile): re-checks the partition, cuts each damaged segment back to the end
of its last valid batch (later segments stay; readers skip the gap) and rebuilds the
indexes of segments it cut or whose indexes disagree. Records in the cut bytes are lost:
they were unreadable already. Overlapping segments are reported, never "repaired".
"""
import os
import threading
import time

from . import _cli_util as u
from . import _codec
from ._codec import HEADER_SIZE, CorruptBatchError
from ._fs import FileLock
from ._segment import INDEX_INTERVAL, Segment, _IDX, _TIDX, crosses_interval

_CHUNK = 1 << 20


class SegmentScan:
    """What one pass over a segment file found."""

    __slots__ = ("base", "path", "size", "batches", "end_pos", "next_offset", "records", "bad_pos",
                 "bad_reason", "bad_info", "torn", "index_problems")

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
        self.torn = False        # the bad bytes look like an interrupted final write
        self.index_problems = []


def scan_segment(path, base, deep=False, progress=None):
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
                s.torn = True
                break
            try:
                info = _codec.peek(buf, off)
            except CorruptBatchError as e:
                s.bad_pos, s.bad_reason = pos, f"not a batch header ({e})"
                rest = os.pread(fd, min(size - pos, 1 << 20), pos)
                s.torn = size - pos <= (1 << 20) and not rest.strip(b"\0")  # zeros: an unfinished write
                break
            if off + info.length > len(buf):
                buf, buf_pos, off = os.pread(fd, max(_CHUNK, info.length), pos), pos, 0
                if info.length > len(buf):
                    s.bad_pos, s.bad_info = pos, info
                    s.bad_reason = f"a partial batch: its header says {info.length} bytes, {len(buf)} are there"
                    s.torn = True
                    break
            if not _codec.check(buf, off, info):
                s.bad_pos, s.bad_info, s.bad_reason = pos, info, "CRC mismatch"
                s.torn = pos + info.length >= size
                break
            b = info.base_offset
            if not _codec.continues(info, expect):
                s.bad_pos, s.bad_info = pos, info
                s.bad_reason = (f"base offset {b} does not continue the sequence (expected {expect}): "
                                "a stale or misplaced batch")
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
                progress.update(info.length)
        s.end_pos = pos
        s.next_offset = expect
        if progress is not None and size > pos:
            progress.update(size - pos)
    finally:
        os.close(fd)
    return s


def expected_indexes(base, batches):
    """The bytes the .index and .timeindex of a segment with these batches should hold."""
    idx, tidx = [], []
    mx = None
    for p, info in batches:
        if mx is None or info.max_timestamp > mx:
            mx = info.max_timestamp
        if crosses_interval(p, info.length, INDEX_INTERVAL):
            rel = info.base_offset - base
            idx.append(_IDX.pack(rel, p))
            tidx.append(_TIDX.pack(mx, rel, p))
    return b"".join(idx), b"".join(tidx)


def _read(path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        return None


def check_indexes(pdir, s):
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
        first = next((i for i in range(min(n_have, n_want)) if have[i * size:(i + 1) * size] != want[i * size:(i + 1) * size]),
                     min(n_have, n_want))
        torn = f" and a torn entry of {len(have) % size} bytes" if len(have) % size else ""
        problems.append(f"the {what} disagrees with the log from entry {first} (it has {n_have} entries{torn}, "
                        f"the log needs {n_want})")
    return problems


class Problem:
    __slots__ = ("severity", "topic", "partition", "segment", "position", "message", "repair")

    def __init__(self, severity, topic, partition, segment, position, message, repair=None):
        self.severity = severity
        self.topic = topic
        self.partition = partition
        self.segment = segment
        self.position = position
        self.message = message
        self.repair = repair      # "cut" | "reindex" | None

    def json(self):
        return {"severity": self.severity, "topic": self.topic, "partition": self.partition,
                "segment": self.segment, "position": self.position, "message": self.message,
                "repair": self.repair}

    def text(self, style):
        where = f"{self.topic}[{self.partition}]"
        if self.segment:
            where += f" {self.segment}"
        if self.position is not None:
            where += f" @{self.position}"
        sev = style.red("error  ") if self.severity == "error" else (
            style.yellow("warning") if self.severity == "warning" else "info   ")
        return f"  {sev} {where}: {self.message}"


def _segment_bases(pdir):
    try:
        names = os.listdir(pdir)
    except FileNotFoundError:
        return []
    return sorted(int(n[:20]) for n in names if len(n) == 24 and n.endswith(".log") and n[:20].isdigit())


def _damage_text(s):
    lost = s.size - s.bad_pos
    what = s.bad_reason
    if s.bad_info is not None:
        i = s.bad_info
        what += (f" (its header says offsets {i.base_offset}..{i.last_offset})" if i.count > 1
                 else f" (its header says offset {i.base_offset})")
    return what, lost


def check_partition(topic, number, pdir, compacted, deep=False, progress=None, locked=False):
    """(stats dict, [Problem], [SegmentScan]) of one partition directory."""
    bases = _segment_bases(pdir)
    scans = []
    problems = []
    prev = None
    for i, base in enumerate(bases):
        path = os.path.join(pdir, f"{base:020d}.log")
        newest = i == len(bases) - 1
        try:
            s = scan_segment(path, base, deep, progress)
        except FileNotFoundError:  # removed by retention meanwhile
            continue
        if newest and not locked and (s.bad_pos is not None):
            time.sleep(0.05)  # a write in flight? look again
            try:
                s = scan_segment(path, base, deep)
            except FileNotFoundError:
                continue
        s.index_problems = check_indexes(pdir, s)
        if newest and not locked and s.index_problems:
            time.sleep(0.05)  # a writer appends the index entry just after the batch
            try:
                s2 = scan_segment(path, base, deep)
                s2.index_problems = check_indexes(pdir, s2)
                s = s2
            except FileNotFoundError:
                continue
        name = os.path.basename(path)
        if s.bad_pos is not None:
            what, lost = _damage_text(s)
            if newest and s.torn:
                problems.append(Problem("warning", topic, number, name, s.bad_pos,
                                        f"an unfinished write at the end: {what}; {u.human_size(lost)} "
                                        "there will be cut by the next writer (or --repair)", "cut"))
            else:
                place = "the newest segment, followed by more data" if newest else "a closed segment"
                problems.append(Problem("error", topic, number, name, s.bad_pos,
                                        f"{what} in {place}; {u.human_size(lost)} from here on cannot be "
                                        "read (--repair cuts them)", "cut"))
        for msg in s.index_problems:
            problems.append(Problem("warning", topic, number, name, None, msg + " (--repair rebuilds it)",
                                    "reindex"))
        if prev is not None:
            if base < prev.next_offset:
                problems.append(Problem("error", topic, number, name, None,
                                        f"starts at offset {base} but the previous segment ends at "
                                        f"{prev.next_offset}: overlapping offsets (not repairable here)"))
            elif base > prev.next_offset and not compacted:
                problems.append(Problem("info", topic, number, name, None,
                                        f"offsets {prev.next_offset}..{base - 1} are missing before this segment "
                                        "(lost to damage and cut, or removed)"))
        scans.append(s)
        prev = s
    stats = {"topic": topic, "partition": number, "segments": len(scans),
             "batches": sum(len(s.batches) for s in scans), "records": sum(s.records for s in scans),
             "bytes": sum(s.size for s in scans)}
    return stats, problems, scans


def repair_partition(ctx, topic, number, pdir, compacted, deep):
    """Under the append lock: cut damaged segments and rebuild disagreeing indexes.
    Returns a list of what was done (strings)."""
    lock = FileLock(os.path.join(pdir, "append.lock"))
    done = []
    if not lock.acquire(blocking=False):
        ctx.note(f"waiting for the append lock of {topic}[{number}] (a writer holds it)...")
        lock.acquire()
    try:
        _stats, problems, scans = check_partition(topic, number, pdir, compacted, deep, locked=True)
        for k, s in enumerate(scans):
            name = os.path.basename(s.path)
            reindex = bool(s.index_problems)
            if s.bad_pos is not None:
                fd = os.open(s.path, os.O_RDWR | os.O_CLOEXEC)
                try:
                    os.ftruncate(fd, s.end_pos)
                    os.fsync(fd)
                finally:
                    os.close(fd)
                if k + 1 < len(scans):
                    lost = f"offsets {s.next_offset}..{scans[k + 1].base - 1} lost"
                else:
                    lost = f"offsets from {s.next_offset} on lost"
                done.append(f"cut {topic}[{number}] {name} at position {s.end_pos} "
                            f"({u.human_size(s.size - s.end_pos)} removed; {lost})")
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


def _targets(ctx, names):
    log = ctx.log()
    topics = [ctx.topic(n) for n in names] if names else [log.topic(n) for n in log.topics()]
    out = []
    for t in topics:
        compacted = "compact" in t.config.cleanup_policy
        for n in range(t.config.partitions):
            out.append((t.name, n, os.path.join(t.dir, str(n)), compacted))
    return out


def _total_bytes(targets):
    total = 0
    for _t, _n, pdir, _c in targets:
        for b in _segment_bases(pdir):
            try:
                total += os.path.getsize(os.path.join(pdir, f"{b:020d}.log"))
            except FileNotFoundError:
                pass
    return total


def _verify_all(ctx, targets, deep):
    stats, problems = [], []
    with u.Progress("verifying", total=_total_bytes(targets), unit="bytes") as prog:
        for topic, n, pdir, compacted in targets:
            prog.update(0, label=f"verifying {topic}[{n}]")
            st, pr, _scans = check_partition(topic, n, pdir, compacted, deep, prog)
            st["status"] = ("error" if any(p.severity == "error" for p in pr) else
                            "warning" if any(p.severity == "warning" for p in pr) else "ok")
            stats.append(st)
            problems.extend(pr)
    return stats, problems


def cmd_verify(ctx, args):
    if args.yes and not args.repair:
        raise u.UsageError("--yes goes with --repair")
    targets = _targets(ctx, args.topics)
    started = time.monotonic()
    stats, problems = _verify_all(ctx, targets, args.deep)
    repairs = []
    fixable = [p for p in problems if p.repair]
    if args.repair and fixable:
        if not args.yes:
            if not ctx.json:
                _print_verify(ctx, stats, problems, targets, time.monotonic() - started)
            seen = set()
            for p in fixable:
                action = "cut the damaged bytes of" if p.repair == "cut" else "rebuild the indexes of"
                line = f"--repair would {action} {p.topic}[{p.partition}] {p.segment}"
                if line not in seen:
                    seen.add(line)
                    ctx.note(line)
            raise u.CliError("nothing was changed: add --yes to repair")
        parts = sorted({(p.topic, p.partition) for p in fixable})
        for topic, n, pdir, compacted in targets:
            if (topic, n) in parts:
                repairs.extend(repair_partition(ctx, topic, n, pdir, compacted, args.deep))
        for r in repairs:
            ctx.note("repaired: " + r)
        stats, problems = _verify_all(ctx, targets, args.deep)  # what is there now
    elapsed = time.monotonic() - started
    errors = sum(p.severity == "error" for p in problems)
    warnings = sum(p.severity == "warning" for p in problems)
    failed = errors or (args.strict and warnings)
    if ctx.json:
        u.print_json({"ok": not errors and not warnings, "errors": errors, "warnings": warnings,
                      "seconds": round(elapsed, 3), "partitions": stats,
                      "problems": [p.json() for p in problems], "repairs": repairs})
    else:
        _print_verify(ctx, stats, problems, targets, elapsed)
    return 1 if failed else 0


def _print_verify(ctx, stats, problems, targets, elapsed):
    s = ctx.style
    if stats:
        status = {"ok": s.green("ok"), "warning": s.yellow("warning"), "error": s.red("ERROR")}
        u.print_table([[st["topic"], st["partition"], st["segments"], u.human_count(st["batches"]),
                        u.human_count(st["records"]), u.human_size(st["bytes"]), status[st["status"]]]
                       for st in stats],
                      [("TOPIC", "<"), ("PARTITION", ">"), ("SEGMENTS", ">"), ("BATCHES", ">"),
                       ("RECORDS", ">"), ("SIZE", ">"), ("STATUS", "<")], style=s)
    if problems:
        ctx.out.write("\n")
        for p in problems:
            ctx.out.write(p.text(s) + "\n")
    errors = sum(p.severity == "error" for p in problems)
    warnings = sum(p.severity == "warning" for p in problems)
    ntopics = len({t for t, *_ in targets})
    ctx.out.write(f"\nverified {u.plural(ntopics, 'topic')}, {u.plural(len(stats), 'partition')}, "
                  f"{u.plural(sum(st['segments'] for st in stats), 'segment')}, "
                  f"{u.human_size(sum(st['bytes'] for st in stats))} in {u.human_seconds(elapsed)}: "
                  f"{u.plural(errors, 'error')}, {u.plural(warnings, 'warning')}\n")


# -- dump --------------------------------------------------------------------------------------

_FLAGS = ((_codec.NO_KEYS, "no-keys"), (_codec.UNIFORM_TS, "uniform-ts"), (_codec.HAS_HEADERS, "headers"),
          (_codec.OFFSET_DELTAS, "offset-deltas"), (_codec.HAS_NULLS, "nulls"), (_codec.COMPACTED, "compacted"))


def _flags(attrs):
    return [name for bit, name in _FLAGS if attrs & bit]


def _codec_name(attrs):
    c = attrs & _codec.CODEC_MASK
    return {_codec.CODEC_NONE: "none", _codec.CODEC_ZSTD: "zstd"}.get(c, f"codec-{c}")


def cmd_dump(ctx, args):
    path = args.file
    if not os.path.exists(path):
        raise u.CliError(f"no such file: {path}")
    if os.path.isdir(path):
        raise u.CliError(f"{path} is a directory: give a segment file (.log, .index or .timeindex)")
    name = os.path.basename(path)
    if name.endswith(".index") or name.endswith(".timeindex"):
        return _dump_index(ctx, path, name.endswith(".timeindex"))
    return _dump_log(ctx, args, path)


def _seg_base(path):
    stem = os.path.basename(path).split(".")[0]
    return int(stem) if len(stem) == 20 and stem.isdigit() else None


def _dump_log(ctx, args, path):
    from ._cli_io import headers_json, record_json
    base = _seg_base(path)
    expect = base
    out = ctx.out
    s = ctx.style
    limit = args.max_value or 1 << 62
    batches = records = 0
    problems = 0
    with open(path, "rb") as f:
        fd = f.fileno()
        size = os.fstat(fd).st_size
        if not ctx.json:
            out.write(f"{s.bold(path)}: {u.human_size(size)}" + (f", base offset {base}" if base is not None else "") + "\n")
        pos = 0
        while pos < size:
            head = os.pread(fd, HEADER_SIZE, pos)
            if len(head) < HEADER_SIZE:
                _dump_bad(ctx, pos, f"a partial batch header ({len(head)} bytes) at the end")
                problems += 1
                break
            try:
                info = _codec.peek(head, 0)
            except CorruptBatchError as e:
                _dump_bad(ctx, pos, f"not a batch header ({e}); {u.human_size(size - pos)} not shown")
                problems += 1
                break
            data = os.pread(fd, info.length, pos)
            whole = len(data) == info.length
            crc_ok = whole and _codec.check(data, 0, info)
            notes = []
            if not whole:
                notes.append(f"partial: {len(data)} of {info.length} bytes")
            elif not crc_ok:
                notes.append("CRC MISMATCH")
            if expect is not None and not _codec.continues(info, expect):
                notes.append(f"sequence break: expected base offset {expect}")
            problems += bool(notes)
            recs = None
            if args.records and crc_ok:
                try:
                    cols = _codec.decode_columns(data, 0, info)
                    recs = list(zip(*cols))
                except CorruptBatchError as e:
                    notes.append(f"records do not decode: {e}")
                    problems += 1
            batches += 1
            records += info.count
            if ctx.json:
                doc = {"position": pos, "base_offset": info.base_offset, "last_offset": info.last_offset,
                       "count": info.count, "length": info.length, "crc_ok": crc_ok,
                       "first_timestamp_ms": info.first_timestamp, "max_timestamp_ms": info.max_timestamp,
                       "codec": _codec_name(info.attributes), "flags": _flags(info.attributes),
                       "section_bytes": info.section_len, "problems": notes}
                if recs is not None:
                    from .record import Record
                    doc["records"] = []
                    for o, ts, k, v, h in recs:
                        r = record_json(Record("", -1, o, ts, k, v, tuple(h)))
                        for x in ("topic", "partition"):
                            r.pop(x)
                        doc["records"].append(r)
                out.write(u.json_line(doc) + "\n")
            else:
                rng = (f"offsets {info.base_offset}..{info.last_offset}" if info.last_offset != info.base_offset
                       else f"offset {info.base_offset}")
                flags = ",".join(_flags(info.attributes)) or "-"
                status = s.green("crc ok") if crc_ok else s.red("; ".join(notes) or "bad")
                if crc_ok and notes:
                    status += " " + s.red("; ".join(notes))
                out.write(f"batch @{pos}: {rng} ({u.plural(info.count, 'record')}), "
                          f"{u.human_size(info.length)}, {status}, codec {_codec_name(info.attributes)}, "
                          f"max ts {u.human_time(info.max_timestamp)}, flags {flags}\n")
                for o, ts, k, v, h in recs or ():
                    hs = ""
                    if h:
                        hj = headers_json(h)
                        hs = "  headers " + (u.json_line(hj))
                    out.write(f"  offset {o}  ts {ts}  key {u.show_bytes(k, limit)}  "
                              f"value {u.show_bytes(v, limit)}{hs}\n")
            if not whole:
                break
            pos += info.length
            expect = info.next_offset
    if not ctx.json:
        out.write(f"{u.plural(batches, 'batch', 'batches')}, {u.plural(records, 'record')}"
                  f"{'' if not problems else ', ' + s.red(u.plural(problems, 'problem'))}\n")
    return 1 if problems else 0


def _dump_bad(ctx, pos, msg):
    if ctx.json:
        ctx.out.write(u.json_line({"position": pos, "problems": [msg]}) + "\n")
    else:
        ctx.out.write(f"@{pos}: {ctx.style.red(msg)}\n")


def _dump_index(ctx, path, timeindex):
    data = _read(path) or b""
    size = _TIDX.size if timeindex else _IDX.size
    base = _seg_base(path) or 0
    log_path = os.path.join(os.path.dirname(path), os.path.basename(path).split(".")[0] + ".log")
    logf = open(log_path, "rb") if os.path.exists(log_path) else None
    out = ctx.out
    bad = 0
    try:
        if not ctx.json:
            out.write(f"{ctx.style.bold(path)}: {u.plural(len(data) // size, 'entry', 'entries')}"
                      + (f" and a torn entry of {len(data) % size} bytes" if len(data) % size else "") + "\n")
        prev = None
        for i in range(len(data) // size):
            if timeindex:
                ts, rel, pos = _TIDX.unpack_from(data, i * size)
            else:
                rel, pos = _IDX.unpack_from(data, i * size)
                ts = None
            notes = []
            if prev is not None and (rel <= prev[0] or pos <= prev[1] or (timeindex and ts < prev[2])):
                notes.append("out of order")
            if logf is not None:
                head = os.pread(logf.fileno(), HEADER_SIZE, pos)
                try:
                    info = _codec.peek(head, 0)
                except CorruptBatchError:
                    info = None
                if info is None or info.base_offset != base + rel:
                    notes.append("no batch of that offset at that position in the .log")
            bad += bool(notes)
            prev = (rel, pos, ts if ts is not None else 0)
            if ctx.json:
                doc = {"entry": i, "offset": base + rel, "position": pos, "problems": notes}
                if timeindex:
                    doc["max_timestamp_ms"] = ts
                out.write(u.json_line(doc) + "\n")
            else:
                t = f"max ts {ts} ({u.human_time(ts)})  " if timeindex else ""
                note = ("  " + ctx.style.red("; ".join(notes))) if notes else ""
                out.write(f"entry {i}: {t}offset {base + rel}  position {pos}{note}\n")
    finally:
        if logf is not None:
            logf.close()
    return 1 if bad or len(data) % size else 0


# -- maintain ----------------------------------------------------------------------------------

def cmd_maintain(ctx, args):
    log = ctx.log()
    if not hasattr(log, "maintain"):
        raise u.CliError("maintain is not available in this version of eventlog (it has no log.maintain()): "
                         "retention and compaction are not implemented yet")
    topics = None
    if args.topics:
        topics = [ctx.topic(name).name for name in dict.fromkeys(args.topics)]  # unknown: an error
    started = time.monotonic()
    result = _with_spinner("maintaining", lambda: log.maintain(topics))
    elapsed = time.monotonic() - started
    rows = [dict({"topic": tp.topic, "partition": tp.partition}, **u.jsonable(stats))
            for tp, stats in sorted(result.items())]
    if ctx.json:
        u.print_json({"seconds": round(elapsed, 3), "partitions": rows})
        return 0
    _print_generic(ctx, rows)
    ctx.out.write(f"maintenance done in {u.human_seconds(elapsed)}\n")
    return 0


def _with_spinner(label, fn):
    prog = u.Progress(label)
    if not prog.enabled:
        return fn()
    stop = threading.Event()

    def spin():
        while not stop.wait(0.1):
            prog.update(0)

    th = threading.Thread(target=spin, daemon=True)
    th.start()
    try:
        return fn()
    finally:
        stop.set()
        th.join()
        prog.close()


def _print_generic(ctx, doc):
    """People-readable rendering of a JSON-like result: a table for a list of flat objects,
    aligned 'name: value' lines for a flat object, indented JSON otherwise."""
    if doc is None:
        return
    if isinstance(doc, dict) and doc and all(isinstance(v, dict) for v in doc.values()):
        # {topic[p] or name: {...}}: one row per key
        doc = [dict({"name": k}, **v) for k, v in doc.items()]
    if isinstance(doc, list) and doc and all(isinstance(d, dict) for d in doc) and \
            all(not isinstance(v, (dict, list)) for d in doc for v in d.values()):
        cols = []
        for d in doc:
            for k in d:
                if k not in cols:
                    cols.append(k)
        u.print_table([[_cell(d.get(c), c) for c in cols] for d in doc],
                      [(c.upper().replace("_", " "), ">" if all(isinstance(d.get(c), (int, float)) for d in doc) else "<")
                       for c in cols], style=ctx.style)
    elif isinstance(doc, dict) and all(not isinstance(v, (dict, list)) for v in doc.values()):
        w = max((len(k) for k in doc), default=0)
        for k, v in doc.items():
            ctx.out.write(f"{str(k).ljust(w)}  {_cell(v, k)}\n")
    elif isinstance(doc, list) and not doc:
        ctx.out.write("nothing to do\n")
    else:
        u.print_json(doc, ctx.out)


def _cell(v, name=""):
    if v is None:
        return "-"
    if isinstance(v, int) and not isinstance(v, bool) and "bytes" in str(name):
        return u.human_size(v)
    if isinstance(v, int) and not isinstance(v, bool):
        return u.human_count(v)
    return str(v)
