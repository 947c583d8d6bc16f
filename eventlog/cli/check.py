"""`eventlog dump`, `eventlog verify [--repair]` and `eventlog maintain`.

verify and --repair are `eventlog.storage.check` (the code behind `Log.verify()` and
`Partition.check()`); this module only prints what it finds. Findings:
- error: corrupt bytes of a closed segment or bytes followed by valid data in the newest one,
  a CRC-valid batch whose records do not decode (--deep), overlapping or missing offsets
  between segments, an end offset that disagrees with the data;
- warning: a torn tail of the newest segment (an interrupted write: readers wait there and
  the next writer cuts it), indexes that disagree with the log (they are hints and are
  checked before use).
Quarantine files (damaged bytes moved aside) are counted. Exit status 1 if there is an
error (or, with --strict, a warning).

--repair --yes, per damaged partition and holding its `append.lock` flock (writers in every
process wait meanwhile): moves the bytes of each segment past its last valid batch to a
quarantine file beside it (a torn tail of the newest segment is cut, as a writer would),
covers the offsets they held with an empty batch so offsets stay dense and are never
reused, and rebuilds the indexes of segments it changed or whose indexes disagree.
Overlapping segments are reported, never "repaired".
"""
import os
import threading
import time

from eventlog.storage import check as _check
from eventlog.cli import util as u
from eventlog.storage import codec as _codec
from eventlog.storage.segment import list_segment_bases
from eventlog.storage.codec import HEADER_SIZE, CorruptBatchError
from eventlog.storage.segment import _IDX, _TIDX
from eventlog.log import VERIFY_SOURCES



def _problem_text(p, style):
    where = f"{p.topic}[{p.partition}]"
    if p.file:
        where += f" {p.file}"
    if p.position is not None:
        where += f" @{p.position}"
    sev = style.red("error  ") if p.severity == "error" else (
        style.yellow("warning") if p.severity == "warning" else "info   ")
    return f"  {sev} {where}: {p.message}"


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
        for b in list_segment_bases(pdir):
            try:
                total += os.path.getsize(os.path.join(pdir, f"{b:020d}.log"))
            except FileNotFoundError:
                pass
    return total


def _verify_all(ctx, targets, deep):
    """The VerifyReport of the targets' topics: the same code as `Log.verify`."""
    names = sorted({t for t, *_ in targets})
    with u.Progress("verifying", total=_total_bytes(targets), unit="bytes") as prog:
        return _check.verify_log(
            ctx.log(), names, deep, progress=prog.update, sources=VERIFY_SOURCES,
            wait=lambda t, n: ctx.note(f"waiting for the append lock of {t}[{n}] (a writer holds it)..."))


def _stats(report):
    return [{"topic": r.topic, "partition": r.partition, "segments": r.segments, "batches": r.batches,
             "records": r.records, "bytes": r.bytes, "start_offset": r.start_offset,
             "end_offset": r.end_offset, "quarantine_files": r.quarantine_files,
             "quarantined_bytes": r.quarantined_bytes, "status": r.status} for r in report.partitions]


def cmd_verify(ctx, args):
    if args.yes and not args.repair:
        raise u.UsageError("--yes goes with --repair")
    targets = _targets(ctx, args.topics)
    started = time.monotonic()
    report = _verify_all(ctx, targets, args.deep)
    stats, problems = _stats(report), report.problems
    repairs = []
    fixable = [p for p in problems if p.repair]
    if args.repair and fixable:
        if not args.yes:
            if not ctx.json:
                _print_verify(ctx, stats, problems, targets, time.monotonic() - started)
            seen = set()
            for p in fixable:
                action = ("move the damaged bytes to a quarantine file of" if p.repair == "cut"
                          else "rebuild the indexes of")
                line = f"--repair would {action} {p.topic}[{p.partition}] {p.file}"
                if line not in seen:
                    seen.add(line)
                    ctx.note(line)
            raise u.CliError("nothing was changed: add --yes to repair")
        parts = sorted({(p.topic, p.partition) for p in fixable})
        for topic, n, pdir, compacted in targets:
            if (topic, n) in parts:
                repairs.extend(_check.repair_partition(
                    topic, n, pdir, compacted, args.deep,
                    wait=lambda: ctx.note(f"waiting for the append lock of {topic}[{n}] (a writer holds it)...")))
        for r in repairs:
            ctx.note("repaired: " + r)
        report = _verify_all(ctx, targets, args.deep)  # what is there now
        stats, problems = _stats(report), report.problems
    elapsed = time.monotonic() - started
    errors = sum(p.severity == "error" for p in problems)
    warnings = sum(p.severity == "warning" for p in problems)
    failed = errors or (args.strict and warnings)
    if ctx.json:
        u.print_json({"ok": not errors and not warnings, "errors": errors, "warnings": warnings,
                      "quarantine_files": report.quarantine_files,
                      "quarantined_bytes": report.quarantined_bytes,
                      "seconds": round(elapsed, 3), "partitions": stats,
                      "problems": [p.json() for p in problems], "repairs": repairs,
                      "open_transactions": _open_transactions(ctx)})
    else:
        _print_verify(ctx, stats, problems, targets, elapsed)
        _print_open_transactions(ctx)
    return 1 if failed else 0


def _open_transactions(ctx):
    """[{transactional_id, state, partitions, started_ms}] of transactions not yet complete
    (information: an open transaction holds read_committed readers at its first offset)."""
    return [{"transactional_id": t["transactional_id"], "state": t["state"], "started_ms": t["started_ms"],
             "partitions": t["partitions"]} for t in ctx.log().transaction_coordinator().open_transactions()]


def _print_open_transactions(ctx):
    txns = _open_transactions(ctx)
    if txns:
        ids = ", ".join(f"{t['transactional_id']} ({t['state']})" for t in txns[:10])
        ctx.out.write(f"{u.plural(len(txns), 'open transaction')}: {ids}{', ...' if len(txns) > 10 else ''} "
                      "(read_committed readers wait at their first offset; see `eventlog transactions`)\n")


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
            ctx.out.write(_problem_text(p, s) + "\n")
    errors = sum(p.severity == "error" for p in problems)
    warnings = sum(p.severity == "warning" for p in problems)
    ntopics = len({t for t, *_ in targets})
    ctx.out.write(f"\nverified {u.plural(ntopics, 'topic')}, {u.plural(len(stats), 'partition')}, "
                  f"{u.plural(sum(st['segments'] for st in stats), 'segment')}, "
                  f"{u.human_size(sum(st['bytes'] for st in stats))} in {u.human_seconds(elapsed)}: "
                  f"{u.plural(errors, 'error')}, {u.plural(warnings, 'warning')}\n")
    nq = sum(st["quarantine_files"] for st in stats)
    if nq:
        ctx.out.write(f"{u.plural(nq, 'quarantine file')} "
                      f"({u.human_size(sum(st['quarantined_bytes'] for st in stats))}) hold damaged data moved "
                      "aside (never deleted; see docs/storage.md)\n")


# -- dump --------------------------------------------------------------------------------------

_FLAGS = ((_codec.NO_KEYS, "no-keys"), (_codec.UNIFORM_TS, "uniform-ts"), (_codec.HAS_HEADERS, "headers"),
          (_codec.OFFSET_DELTAS, "offset-deltas"), (_codec.HAS_NULLS, "nulls"), (_codec.COMPACTED, "compacted"),
          (_codec.TRANSACTIONAL, "transactional"), (_codec.CONTROL, "control"), (_codec.COMMIT, "commit"))


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
    from eventlog.cli.io import headers_json, record_json
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
                    from eventlog.record import Record
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
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        data = b""
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
