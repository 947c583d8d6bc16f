"""`eventlog produce` and `eventlog consume`: records between stdin/stdout and a topic.

produce: one record per line of stdin. Every line is parsed and checked (JSON, key
separator, size against `max_record_bytes`, a key on compacted topics, the partition) before
its record is handed to the producer, so a bad line is reported with its number and stops
the command: the records of the lines before it are written (flushed before exiting),
nothing from the bad line on is. `--all-or-nothing` reads and checks all of stdin first and
writes nothing if any line is bad.

consume: records to stdout, raw bytes in `--format`, or JSON lines (`--json`) where keys,
values and header values are strings when they are UTF-8 and base64 (`key_b64`,
`value_b64`, `{"b64": ...}`) when not, so `consume --json | produce --json` is lossless.
With `--group`, the offsets committed are only those of records already written to stdout
(and flushed): a closed pipe or Ctrl-C never commits past what the reader got.
"""
import base64
import json
import signal
import sys
import time

from eventlog.cli import util as u
from eventlog.errors import CommitFailedError, EventLogError
from eventlog.record import TopicPartition

_CHECK_EVERY = 20_000      # records between flush + delivery checks while producing
_RECORD_OVERHEAD = 8       # what the producer adds to key + value when it checks sizes


class _BadLine(Exception):
    def __init__(self, lineno, message):
        super().__init__(message)
        self.lineno = lineno


class _Stop(Exception):
    """SIGTERM: stop consuming as Ctrl-C does."""


# -- produce ----------------------------------------------------------------------------------

def _parse_header_opts(items):
    out = []
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise u.UsageError(f"--header takes NAME=VALUE, got {item!r}")
        out.append((name, value.encode("utf-8")))
    return tuple(out)


def _text_bytes(obj, field, lineno):
    """A JSON value as the bytes to store: strings as UTF-8, null as None, anything else
    (objects, numbers, ...) as its compact JSON text."""
    if obj is None:
        return None
    if isinstance(obj, str):
        try:
            return obj.encode("utf-8")
        except UnicodeEncodeError:
            raise _BadLine(lineno, f'"{field}" is not valid Unicode (a lone surrogate?); '
                                   f'use "{field}_b64" for binary data') from None
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _b64(obj, field, lineno):
    if obj is None:
        return None
    if not isinstance(obj, str):
        raise _BadLine(lineno, f'"{field}" must be a base64 string or null')
    try:
        return base64.b64decode(obj, validate=True)
    except ValueError:
        raise _BadLine(lineno, f'"{field}" is not valid base64') from None


def _json_headers(obj, lineno):
    if obj is None:
        return ()
    if isinstance(obj, dict):
        pairs = list(obj.items())
    elif isinstance(obj, list):
        pairs = []
        for h in obj:
            if not (isinstance(h, list) and len(h) == 2):
                raise _BadLine(lineno, '"headers" must be an object {name: value} or a list of [name, value] pairs')
            pairs.append((h[0], h[1]))
    else:
        raise _BadLine(lineno, '"headers" must be an object {name: value} or a list of [name, value] pairs')
    out = []
    for name, v in pairs:
        if not isinstance(name, str):
            raise _BadLine(lineno, f"header names must be strings, got {name!r}")
        if isinstance(v, dict) and set(v) == {"b64"}:
            v = _b64(v["b64"], f"headers.{name}.b64", lineno)
        else:
            v = _text_bytes(v, f"headers.{name}", lineno)
        out.append((name, v))
    return tuple(out)


_JSON_FIELDS = ("key", "value", "key_b64", "value_b64", "headers", "partition", "timestamp_ms",
                "timestamp", "topic", "offset")


def _parse_json(lineno, raw):
    text = raw.strip()
    if not text:
        return None  # blank lines are allowed between JSON lines
    try:
        obj = json.loads(text)
    except UnicodeDecodeError:
        raise _BadLine(lineno, "not UTF-8 text") from None
    except ValueError as e:
        raise _BadLine(lineno, f"malformed JSON: {e}") from None
    if not isinstance(obj, dict):
        raise _BadLine(lineno, f"expected a JSON object like {{\"key\": ..., \"value\": ...}}, got {type(obj).__name__}")
    unknown = [k for k in obj if k not in _JSON_FIELDS]
    if unknown:
        raise _BadLine(lineno, f"unknown field {unknown[0]!r} (fields: key, value, key_b64, value_b64, "
                               "headers, partition, timestamp_ms)")
    if "value" in obj and "value_b64" in obj or "key" in obj and "key_b64" in obj:
        raise _BadLine(lineno, 'give "value" or "value_b64" (and "key" or "key_b64"), not both')
    if "value" in obj:
        value = _text_bytes(obj["value"], "value", lineno)
    elif "value_b64" in obj:
        value = _b64(obj["value_b64"], "value_b64", lineno)
    else:
        raise _BadLine(lineno, 'no "value" (use "value": null for a tombstone)')
    key = _b64(obj["key_b64"], "key_b64", lineno) if "key_b64" in obj else _text_bytes(obj.get("key"), "key", lineno)
    headers = _json_headers(obj.get("headers"), lineno)
    part = obj.get("partition")
    if part is not None and (type(part) is not int or part < 0):
        raise _BadLine(lineno, f'"partition" must be an integer >= 0, got {part!r}')
    ts = obj.get("timestamp_ms", obj.get("timestamp"))
    if ts is not None and (type(ts) is not int or ts < 0):
        raise _BadLine(lineno, f'"timestamp_ms" must be an integer >= 0 (ms since the epoch), got {ts!r}')
    return key, value, headers, part, ts


def cmd_produce(ctx, args):
    if args.json and (args.key_separator is not None or args.key is not None):
        raise u.UsageError("--json takes keys from each line: drop --key-separator/--key")
    if args.key_separator is not None and args.key is not None:
        raise u.UsageError("give --key-separator or --key, not both")
    sep = None
    if args.key_separator is not None:
        sep = u.unescape(args.key_separator).encode("utf-8")
        if not sep:
            raise u.UsageError("--key-separator must not be empty")
    fixed_key = args.key.encode("utf-8") if args.key is not None else None
    extra_headers = _parse_header_opts(args.header)
    t = ctx.topic(args.topic)
    log = ctx.log()
    cfg = t.config
    nparts = cfg.partitions
    if args.partition is not None and args.partition >= nparts:
        raise u.CliError(f"topic {t.name!r} has no partition {args.partition}; it has {nparts} (0..{nparts - 1})")
    compacted = "compact" in cfg.cleanup_policy
    limit = cfg.max_record_bytes
    topic = t.name

    def parse(lineno, raw):
        if raw.endswith(b"\n"):
            raw = raw[:-1]
        if args.json:
            rec = _parse_json(lineno, raw)
            if rec is None:
                return None
            key, value, headers, part, ts = rec
        else:
            headers, part, ts = (), None, None
            if sep is not None:
                i = raw.find(sep)
                if i < 0:
                    raise _BadLine(lineno, f"no key separator {args.key_separator!r} in the line")
                key, value = raw[:i], raw[i + len(sep):]
            else:
                key, value = fixed_key, raw
        if extra_headers:
            headers = tuple(headers) + extra_headers
        if args.partition is not None:
            part = args.partition
        elif part is not None and part >= nparts:
            raise _BadLine(lineno, f"partition {part}, but topic {topic!r} has {nparts} (0..{nparts - 1})")
        size = (len(key) if key is not None else 0) + (len(value) if value is not None else 0) + _RECORD_OVERHEAD
        if headers:
            size += sum(len(n.encode("utf-8")) + (len(v) if v is not None else 0) + 8 for n, v in headers)
        if size > limit:
            raise _BadLine(lineno, f"the record is about {size} bytes, over max_record_bytes={limit} "
                                   f"of topic {topic!r}")
        if key is None and compacted:
            raise _BadLine(lineno, f"topic {topic!r} is compacted: every record needs a key")
        return key, value, headers or None, part, ts

    producer = log.producer(linger_ms=args.linger_ms, batch_size=256 << 10, fsync=args.fsync)
    pending = []
    written = 0
    bad = None
    started = time.monotonic()
    stdin = sys.stdin.buffer
    if u.is_tty(sys.stdin):
        ctx.note(f"writing to {topic}: one record per line; Ctrl-D to finish")

    def check():
        nonlocal written, pending
        producer.flush()
        for f in pending:
            e = f.exception()
            if e is not None:
                raise u.CliError(f"writing to {topic!r} failed after {written} records: {e}")
            written += 1
        pending = []

    interrupted = False
    try:
        send = producer.send
        if args.all_or_nothing:
            buffered = []
            try:
                for lineno, raw in enumerate(stdin, 1):
                    rec = parse(lineno, raw)
                    if rec is not None:
                        buffered.append(rec)
            except _BadLine as e:
                raise u.CliError(f"stdin line {e.lineno}: {e}; nothing was written (--all-or-nothing)") from None
            for key, value, headers, part, ts in buffered:
                pending.append(send(topic, value=value, key=key, headers=headers, partition=part, timestamp_ms=ts))
                if len(pending) >= _CHECK_EVERY:
                    check()
        else:
            try:
                for lineno, raw in enumerate(stdin, 1):
                    rec = parse(lineno, raw)
                    if rec is None:
                        continue
                    key, value, headers, part, ts = rec
                    pending.append(send(topic, value=value, key=key, headers=headers, partition=part, timestamp_ms=ts))
                    if len(pending) >= _CHECK_EVERY:
                        check()
            except _BadLine as e:
                bad = e
        check()
    except KeyboardInterrupt:
        interrupted = True
        check()  # complete lines read before Ctrl-C are written
    finally:
        producer.close()
    if bad is not None:
        before = (f"the {u.plural(written, 'record')} before it {'was' if written == 1 else 'were'} written"
                  if written else "nothing was written")
        raise u.CliError(f"stdin line {bad.lineno}: {bad}; {before}, nothing from line {bad.lineno} on")
    if args.verbose or u.is_tty(sys.stderr):
        ctx.note(f"produced {u.plural(written, 'record')} to {topic} in "
                 f"{u.human_seconds(time.monotonic() - started)}")
    return 130 if interrupted else 0


# -- consume ----------------------------------------------------------------------------------

def _hdr_text(headers):
    return b",".join(n.encode("utf-8", "backslashreplace") + b"=" + (b"null" if v is None else v)
                     for n, v in headers)


_NULL = b"null"
_FIELDS = {
    "k": lambda r: _NULL if r.key is None else r.key,
    "v": lambda r: _NULL if r.value is None else r.value,
    "s": lambda r: _NULL if r.value is None else r.value,   # kcat's letter for the value
    "o": lambda r: str(r.offset).encode(),
    "p": lambda r: str(r.partition).encode(),
    "t": lambda r: r.topic.encode(),
    "T": lambda r: str(r.timestamp_ms).encode(),
    "d": lambda r: u.iso_time(r.timestamp_ms).encode(),
    "h": lambda r: _hdr_text(r.headers),
    "K": lambda r: b"-1" if r.key is None else str(len(r.key)).encode(),
    "S": lambda r: b"-1" if r.value is None else str(len(r.value)).encode(),
}


def compile_format(fmt):
    """A function record -> bytes for a --format string."""
    fmt = u.unescape(fmt)
    if not fmt.endswith("\n"):
        fmt += "\n"
    parts = []
    lit = []
    i = 0
    while i < len(fmt):
        c = fmt[i]
        if c == "%":
            code = fmt[i + 1] if i + 1 < len(fmt) else ""
            if code == "%":
                lit.append("%")
            elif code in _FIELDS:
                if lit:
                    parts.append("".join(lit).encode("utf-8"))
                    lit = []
                parts.append(_FIELDS[code])
            else:
                raise u.UsageError(f"unknown format code '%{code}' in --format; codes: "
                                   "%k %v (or %s) %o %p %t %T %d %h %K %S %%")
            i += 2
            continue
        lit.append(c)
        i += 1
    if lit:
        parts.append("".join(lit).encode("utf-8"))
    if len(parts) == 2 and parts[0] is _FIELDS["v"] and parts[1] == b"\n":
        return lambda r: (_NULL if r.value is None else r.value) + b"\n"
    join = b"".join
    return lambda r: join([p if p.__class__ is bytes else p(r) for p in parts])


def _put_bytes(d, name, b):
    if b is None:
        d[name] = None
        return
    try:
        d[name] = b.decode("utf-8")
    except UnicodeDecodeError:
        d[name + "_b64"] = base64.b64encode(b).decode("ascii")


def _hdr_value(v):
    if v is None:
        return None
    try:
        return v.decode("utf-8")
    except UnicodeDecodeError:
        return {"b64": base64.b64encode(v).decode("ascii")}


def headers_json(headers):
    """{name: value} when names are unique, else [[name, value], ...] (order kept)."""
    if not headers:
        return {}
    names = [n for n, _ in headers]
    if len(set(names)) == len(names):
        return {n: _hdr_value(v) for n, v in headers}
    return [[n, _hdr_value(v)] for n, v in headers]


def record_json(r):
    d = {"topic": r.topic, "partition": r.partition, "offset": r.offset, "timestamp_ms": r.timestamp_ms}
    _put_bytes(d, "key", r.key)
    _put_bytes(d, "value", r.value)
    d["headers"] = headers_json(r.headers)
    return d


def _start_positions(ctx, c, t, tps, args):
    """Seek for --offset / --since (without a group)."""
    if args.offset is not None:
        spec = args.offset.strip().lower()
        for tp in tps:
            p = t.partition(tp.partition)
            start, end = p.start_offset, p.end_offset
            if spec in ("earliest", "beginning", "first"):
                off = start
            elif spec in ("latest", "end", "last"):
                off = end
            elif spec.startswith("s@"):
                try:
                    when = int(spec[2:])
                except ValueError:
                    raise u.UsageError(f"bad --offset {args.offset!r}: s@ takes milliseconds since the "
                                       "epoch, e.g. s@1767225600000") from None
                found = p.offset_for_time(when)
                off = end if found is None else found
            else:
                try:
                    n = int(spec)
                except ValueError:
                    raise u.UsageError(f"bad --offset {args.offset!r}: use a number, -N (N before the end), "
                                       "earliest, latest or s@MS") from None
                if n < 0:
                    off = max(start, end + n)
                else:
                    if not start <= n <= end:
                        raise u.CliError(f"offset {n} is out of range for {t.name}[{tp.partition}]: "
                                         f"valid offsets are {start}..{end}")
                    off = n
            c.seek(tp, off)
    elif args.since is not None:
        try:
            when = int(time.time() * 1000) - u.parse_duration_ms(args.since)
        except Exception:
            try:
                when = u.parse_datetime_ms(args.since)
            except Exception:
                raise u.UsageError(f"bad --since {args.since!r}: use a date-time such as 2026-01-01T12:00 "
                                   "or a duration ago such as 1h") from None
        for tp in tps:
            off = t.partition(tp.partition).offset_for_time(when)
            if off is None:
                c.seek_to_end([tp])
            else:
                c.seek(tp, off)


def cmd_consume(ctx, args):
    if args.group is not None and (args.partition or args.offset is not None or args.since is not None):
        raise u.UsageError("--group cannot be combined with --partition, --offset or --since: the group "
                           "assigns partitions and resumes from its committed offsets "
                           "(use 'groups reset-offsets' to move them)")
    if args.offset is not None and args.since is not None:
        raise u.UsageError("give --offset or --since, not both")
    render = None if ctx.json else compile_format(args.format if args.format is not None else "%v")
    t = ctx.topic(args.topic)
    log = ctx.log()
    nparts = t.config.partitions
    for p in args.partition or ():
        if p >= nparts:
            raise u.CliError(f"topic {t.name!r} has no partition {p}; it has {nparts} (0..{nparts - 1})")
    parts = sorted(set(args.partition)) if args.partition else list(range(nparts))
    tps = [TopicPartition(t.name, p) for p in parts]
    reset = "earliest" if args.from_beginning else "latest"
    use_group = args.group is not None and hasattr(log, "group")
    c = log.consumer(group_id=args.group, auto_offset_reset=reset, enable_auto_commit=False,
                     client_id="eventlog-console-consumer")
    out = sys.stdout.buffer
    count = 0
    limit = args.max
    follow = args.follow
    old_term = None
    stopped = False
    try:
        old_term = signal.signal(signal.SIGTERM, _raise_stop)
    except (ValueError, OSError):  # not the main thread
        pass
    try:
        if use_group:
            c.subscribe([t.name])
        else:
            c.assign(tps)
            _start_positions(ctx, c, t, tps, args)
            if args.offset is None and args.since is None and not args.from_beginning \
                    and u.is_tty(sys.stderr):
                _say_where_it_starts(ctx, t, parts, follow)
        waited_since = last_progress = time.monotonic()
        while limit is None or count < limit:
            want = 500 if limit is None else min(500, limit - count)
            recs = c.poll(timeout=0.5 if (follow or (use_group and not c.assignment())) else 0.0,
                          max_records=want)
            if recs:
                if render is None:
                    data = "".join([u.json_line(record_json(r)) + "\n" for r in recs]).encode("utf-8")
                else:
                    data = b"".join(map(render, recs))
                out.write(data)
                out.flush()
                count += len(recs)
                last_progress = time.monotonic()
                if args.group is not None:
                    try:
                        c.commit()
                    except CommitFailedError as e:
                        ctx.warn(f"commit refused: {e}")
                continue
            if follow:
                continue
            if use_group and not c.assignment():
                if time.monotonic() - waited_since > args.timeout:
                    ctx.warn(f"no partitions of {t.name!r} were assigned to this member of group "
                             f"{args.group!r} within {args.timeout:g}s (other members hold them?)")
                    break
                continue
            if not use_group or _caught_up(c, t) or time.monotonic() - last_progress > 2.0:
                break  # an empty poll(0) of assigned partitions means "at the end"
            time.sleep(0.05)
    except (KeyboardInterrupt, _Stop):
        stopped = True
    except BrokenPipeError:
        u.quiet_stdout()
        stopped = True
    finally:
        if old_term is not None:
            try:
                signal.signal(signal.SIGTERM, old_term)
            except (ValueError, OSError):
                pass
        try:
            c.close(autocommit=False)
        except EventLogError:
            pass
    if u.is_tty(sys.stderr) and (stopped or count):
        ctx.note(f"Processed a total of {u.plural(count, 'record')}")
    return 0


def _say_where_it_starts(ctx, t, parts, follow):
    """On a terminal: consume starts at the end (as Kafka's console consumer), which prints
    nothing for a topic that already has records; say so, and how to start elsewhere."""
    before = sum(t.partition(p).end_offset - t.partition(p).start_offset for p in parts)
    until = "waiting for new records (Ctrl-C to stop)" if follow else \
        "and stops there: nothing to print unless records arrive (--follow waits for them)"
    ctx.note(f"starting at the end of {t.name} ({u.plural(before, 'earlier record')}) {until}; "
             f"use --from-beginning (-b), --offset N / -N, or --since 1h to read earlier records")


def _caught_up(c, t):
    for tp in c.assignment():
        try:
            if c.position(tp) < t.partition(tp.partition).end_offset:
                return False
        except EventLogError:
            return True
    return True


def _raise_stop(signum, frame):
    raise _Stop()
