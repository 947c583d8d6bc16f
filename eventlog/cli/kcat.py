r"""`eventlog kcat`: kcat's own flags over a log directory, so kcat muscle memory works.

    eventlog kcat -b data -P -t orders -K :        # produce lines "key:value" from stdin
    eventlog kcat -b data -C -t orders -e          # print every value, exit at the end
    eventlog kcat -b data -C -t orders -o -10 -e -f '%p/%o %k=%s\n'
    eventlog kcat -b data -C -t orders -J -e       # kcat's JSON envelope
    eventlog kcat -b data -G billing orders -e     # as a member of a consumer group
    eventlog kcat -b data -L                       # metadata listing

Rules kept here:
- Arguments are parsed as kcat parses them (POSIX getopt with GNU permutation, the same
  option letters), and what is printed follows kcat 1.7: the `-f` tokens and escapes, the
  default output `%s\n` (`%k<delim>%s\n` with `-K`), the `-J` envelope field names, `-L`'s
  layout, and kcat's "% ..." notes on stderr (silenced by `-q`). Where a log directory has
  no equivalent (broker ids, replicas) the output says broker 0.
- `-b` is interpreted in one place (`resolve_backend`): a log directory, or a `kafka://` URL
  for the Kafka back end; a bare `host:port` (a broker address typed from habit) is named as
  such instead of becoming a path.
- Flags kcat has but this mode does not implement are refused by name, never ignored
  silently; flags that only tune librdkafka (-X, -z, -m, -E, -u, -d) are accepted and have
  no effect, with a note when they would change behaviour (-X, -z).
- Nothing is written except through the public producer; consuming with `-G` commits only
  offsets of records already written to stdout and flushed.
"""
import getopt
import json
import os
import random
import re
import sys

from eventlog.cli import util as u
from eventlog.errors import CommitFailedError, EventLogError
from eventlog.record import TopicPartition

# kcat 1.7.1's getopt string; letters after the colon-less ones take an argument
OPTSTRING = "PCG:LQM:t:p:b:z:o:eED:K:k:H:Od:qvF:X:c:Tuf:ZlVhs:r:Jm:U"
UNSUPPORTED = {
    "Q": "query mode (-Q); use 'eventlog consume TOPIC --since WHEN' or Partition.offset_for_time",
    "M": "the mock cluster (-M); a log directory needs no broker",
    "s": "deserializers (-s)",
    "r": "schema registry (-r)",
    "F": "kcat config files (-F)",
    "O": "-O (print offsets with the -K delimiter); use -f '%o...'",
    "U": "kcat's unit tests (-U)",
}
NO_EFFECT = {"E", "u", "m", "d", "v"}
VERSION_LINE = "eventlog kcat: kcat 1.7-compatible flags over an eventlog directory"

HELP = """\
Usage: eventlog kcat <options> [file1 file2 .. | topic1 topic2 ..]
kcat's flags over an eventlog directory (see docs/cli.md, "eventlog kcat").

Modes:
  -C                 Consume (default start: the beginning, as kcat)
  -P                 Produce lines (or files) from stdin
  -G <group-id>      Consume as a member of a consumer group; topics follow the options
  -L                 Metadata list
General:
  -b <dir>           The log directory (default: --dir or $EVENTLOG_DIR).
                     kafka://host:port selects the Kafka back end.
  -t <topic>         Topic to consume from, produce to, or list
  -p <partition>     Partition (-P: -1 = a random partition per message)
  -D <delim>         Message delimiter (default \\n); escapes \\n \\t \\r \\xNN
  -K <delim>         Key delimiter (-P: split input; -C: print key<delim>value)
  -c <cnt>           Stop after this many messages
  -q                 No '% ...' notes on stderr
Producer:
  -k <str>           The same key for every message (a -K key takes precedence)
  -H <name=value>    Add a header (repeatable; "-H name" for a null value)
  -l                 Messages are the delimited lines of the one file given
  -T                 Echo what is produced to stdout
  -Z                 Send empty keys and values as null
  file1 file2 ..     Each file is one message (unless -l)
Consumer:
  -o <offset>        beginning | end | stored | <offset> | -<n> (n before the end) |
                     s@<ts ms> (start at time) | e@<ts ms> (stop before time)
  -e                 Exit when the end of every partition is reached
  -f <fmt>           Output format: %s value, %S value length (-1 null), %k key,
                     %K key length, %t topic, %p partition, %o offset, %T timestamp (ms),
                     %h headers (n=v,..), %% a '%'; escapes \\n \\t \\r \\xNN
  -J                 JSON envelope per message: topic, partition, offset, tstype, ts,
                     broker, headers ([name, value, ..], only when present), key, payload
  -Z                 Print null keys and values as NULL
Accepted with no effect: -X prop=val, -z codec (compression is a topic setting), -m, -E,
-u, -d, -v.  Not supported: -Q, -M, -s, -r, -F, -O.
"""


class KcatOptions:
    """kcat's settings after parsing (names follow kcat's `conf` struct where it has one)."""

    def __init__(self):
        self.mode = None
        self.group = None
        self.topic = None
        self.partition = None
        self.broker = None
        self.offset = None          # ("beginning"|"end"|"stored"|"abs"|"tail"|"time", n)
        self.stop_ts = None
        self.exit_eof = False
        self.delim = "\n"
        self.key_delim = None
        self.fixed_key = None
        self.headers = []
        self.count = None
        self.fmt = None
        self.json = False
        self.null = False
        self.tee = False
        self.lines = False
        self.quiet = False
        self.args = []
        self.ignored = []


def parse_args(argv):
    """KcatOptions from kcat-style arguments; UsageError names a bad or unsupported flag."""
    argv = ["-h" if a == "--help" else a for a in argv]
    try:
        opts, rest = getopt.gnu_getopt(list(argv), OPTSTRING)
    except getopt.GetoptError as e:
        raise u.UsageError(f"kcat: {e} (see 'eventlog kcat -h')") from None
    o = KcatOptions()
    o.args = rest
    for flag, val in opts:
        f = flag[1:]
        if f in "PCLG":
            if o.mode and o.mode != f:
                raise u.UsageError(f"kcat: do not mix modes: -{f} seen when -{o.mode} already set")
            o.mode = f
            if f == "G":
                o.group = val
        elif f in UNSUPPORTED:
            raise u.UsageError(f"kcat: {UNSUPPORTED[f]} is not supported by 'eventlog kcat'")
        elif f == "h":
            o.mode = "h"
        elif f == "V":
            o.mode = "V"
        elif f == "t":
            o.topic = val
        elif f == "p":
            o.partition = _int(val, "-p <partition>")
        elif f == "b":
            o.broker = val
        elif f == "o":
            o.offset, stop = _parse_offset(val)
            if stop is not None:
                o.stop_ts, o.offset = stop, None
        elif f == "e":
            o.exit_eof = True
        elif f == "D":
            o.delim = val
        elif f == "K":
            o.key_delim = val
        elif f == "k":
            o.fixed_key = val
        elif f == "H":
            name, sep, value = val.partition("=")
            if not name:
                raise u.UsageError('kcat: expected -H "name=value.." or -H "name"')
            o.headers.append((name, value.encode("utf-8") if sep else None))
        elif f == "c":
            o.count = _int(val, "-c <cnt>")
        elif f == "f":
            o.fmt = val
        elif f == "J":
            o.json = True
        elif f == "Z":
            o.null = True
        elif f == "T":
            o.tee = True
        elif f == "l":
            o.lines = True
        elif f == "q":
            o.quiet = True
        elif f in ("X", "z"):
            o.ignored.append(f"-{f} {val}")
        elif f in NO_EFFECT:
            pass
    return o


def _int(text, what):
    try:
        return int(text, 10)
    except ValueError:
        raise u.UsageError(f"kcat: {what} takes a whole number, got {text!r}") from None


def _parse_offset(val):
    """(offset spec, stop timestamp or None) of a -o value."""
    if val in ("beginning", "end", "stored"):
        return (val, None), None
    if val.startswith("s@"):
        return ("time", _int(val[2:], "-o s@<timestamp ms>")), None
    if val.startswith("e@"):
        return None, _int(val[2:], "-o e@<timestamp ms>")
    try:
        n = int(val, 10)
    except ValueError:
        raise u.UsageError(f"kcat: bad -o {val!r}: use beginning, end, stored, an offset, -<n> "
                           "(n before the end), s@<timestamp ms> or e@<timestamp ms>") from None
    return (("tail", -n) if n < 0 else ("abs", n)), None


def unescape(text):
    r"""kcat's escapes in -f, -D and -K: \n \t \r, \xHH.. (hex), \NNN (a number, C style:
    0-prefixed octal, else decimal), any other \c is c. Returns bytes."""
    src = text.encode("utf-8", "surrogateescape")
    out = bytearray()
    i = 0
    while i < len(src):
        c = src[i]
        if c == 0x5C and i + 1 < len(src):  # backslash
            n = chr(src[i + 1])
            if n in "tnr":
                out.append({"t": 9, "n": 10, "r": 13}[n])
                i += 2
                continue
            if n == "x":
                m = re.match(rb"[0-9a-fA-F]+", src[i + 2:])
                if m:
                    out.append(int(m.group(), 16) & 0xFF)
                    i += 2 + m.end()
                    continue
                out.append(0)
                i += 3
                continue
            if n.isdigit():
                m = re.match(rb"0[0-7]*|[1-9][0-9]*", src[i + 1:])
                digits = m.group()
                out.append(int(digits, 8 if digits.startswith(b"0") else 10) & 0xFF)
                i += 1 + m.end()
                continue
            out.append(src[i + 1])
            i += 2
            continue
        out.append(c)
        i += 1
    return bytes(out)


# -- output formats ---------------------------------------------------------------------------

def _headers_csv(r):
    return b",".join(n.encode("utf-8", "surrogateescape") + b"=" + (b"NULL" if v is None else v)
                     for n, v in r.headers)


def compile_format(fmt, null=False):
    """A function record -> bytes for a kcat -f string (no newline is added, as in kcat).
    Null (and, as in kcat, empty) keys and values print as nothing, or NULL with -Z."""
    nullstr = b"NULL" if null else b""
    tokens = {
        "s": lambda r: r.value if r.value else nullstr,
        "S": lambda r: b"-1" if r.value is None else str(len(r.value)).encode(),
        "k": lambda r: r.key if r.key else nullstr,
        "K": lambda r: b"-1" if r.key is None else str(len(r.key)).encode(),
        "t": lambda r: r.topic.encode("utf-8"),
        "p": lambda r: str(r.partition).encode(),
        "o": lambda r: str(r.offset).encode(),
        "T": lambda r: str(r.timestamp_ms).encode(),
        "h": _headers_csv,
    }
    parts = []
    s = fmt
    while s:
        i = s.find("%")
        if i < 0:
            parts.append(unescape(s))
            break
        if i:
            parts.append(unescape(s[:i]))
        code = s[i + 1:i + 2]
        if code == "%":
            parts.append(b"%")
        elif code in tokens:
            parts.append(tokens[code])
        elif not code:
            raise u.UsageError("kcat: -f: empty formatter (a '%' at the end; '%%' prints one)")
        else:
            raise u.UsageError(f"kcat: -f: unsupported formatter: %{code} (tokens: %s %S %k %K "
                               "%t %p %o %T %h %%)")
        s = s[i + 2:]
    join = b"".join
    return lambda r: join([p if p.__class__ is bytes else p(r) for p in parts])


def _json_str(b):
    """Bytes as a JSON string as kcat writes it: the bytes themselves (not re-encoded), with
    JSON's escapes for quotes, backslashes and control characters."""
    return json.dumps(b.decode("utf-8", "surrogateescape"), ensure_ascii=False)


def json_envelope(delim):
    """A function record -> bytes: kcat's -J envelope followed by the message delimiter."""
    def render(r):
        parts = [f'{{"topic":{json.dumps(r.topic, ensure_ascii=False)},"partition":{r.partition},'
                 f'"offset":{r.offset},"tstype":"create","ts":{r.timestamp_ms},"broker":0']
        if r.headers:
            items = []
            for n, v in r.headers:
                items.append(json.dumps(n, ensure_ascii=False))
                items.append("null" if v is None else _json_str(v))
            parts.append(',"headers":[' + ",".join(items) + "]")
        parts.append(',"key":' + ("null" if r.key is None else _json_str(r.key)))
        parts.append(',"payload":' + ("null" if r.value is None else _json_str(r.value)) + "}")
        return "".join(parts).encode("utf-8", "surrogateescape") + delim
    return render


# -- the back end: one place that reads -b -----------------------------------------------------

_HOSTPORT = re.compile(r"^[A-Za-z0-9_.\-\[\]:]+:\d{1,5}(,[A-Za-z0-9_.\-\[\]:]+:\d{1,5})*$")


def resolve_backend(ctx, broker):
    """Point `ctx` at what -b names: a log directory, or a `kafka://` URL for the Kafka back
    end. Raises a UsageError that says what was given."""
    if broker is None:
        if not ctx.dir:
            raise u.UsageError("kcat: -b <log directory> missing (or pass --dir / set EVENTLOG_DIR)")
        return ctx
    scheme = re.match(r"^([A-Za-z][A-Za-z0-9+.\-]*)://", broker)
    if scheme:
        if scheme.group(1).lower() == "kafka":
            ctx.dir = broker   # the Kafka back end (pip install 'eventlog[kafka]')
            return ctx
        raise u.UsageError(f"-b {broker}: unknown scheme {scheme.group(1)!r}; give a log directory "
                           "or a kafka://host:port URL")
    if _HOSTPORT.match(broker) and not os.path.exists(broker):
        raise u.UsageError(f"-b {broker}: that looks like a Kafka broker address; 'eventlog kcat' "
                           f"takes a log directory, or write -b kafka://{broker} for the Kafka back end")
    ctx.dir = broker
    return ctx


# -- entry point --------------------------------------------------------------------------------

def run(ctx, argv):
    """Run `eventlog kcat ARGV` with `ctx` (the CLI's Context); returns the exit status."""
    o = parse_args(argv)
    if o.mode == "h":
        sys.stdout.write(HELP)
        return 0
    if o.mode == "V":
        sys.stdout.write(VERSION_LINE + "\n")
        return 0
    info = _Info(ctx, o.quiet)
    for flag in o.ignored:
        info(f"{flag} has no effect on a log directory (ignored)")
    resolve_backend(ctx, o.broker)
    if o.mode is None:
        o.mode = "C" if u.is_tty(sys.stdin) else "P"
        info(f"Auto-selecting {'Consumer' if o.mode == 'C' else 'Producer'} mode (use -P or -C to override)")
    if o.mode in "CP" and not o.topic:
        raise u.UsageError("kcat: -t <topic> missing")
    if o.mode == "L":
        return _metadata(ctx, o)
    if o.mode == "P":
        return _produce(ctx, o, info)
    if o.mode == "G" and not o.args:
        raise u.UsageError("kcat: -G <group-id> expects the topics to subscribe to after the options")
    return _consume(ctx, o, info)


class _Info:
    """kcat's "% ..." notes on stderr (verbosity 1; -q silences them)."""

    def __init__(self, ctx, quiet):
        self.ctx = ctx
        self.quiet = quiet

    def __call__(self, text):
        if not self.quiet:
            self.ctx.err.write(f"% {text}\n")
            self.ctx.err.flush()


# -- -L ---------------------------------------------------------------------------------------------

def _metadata(ctx, o):
    log = ctx.log()
    names = [o.topic] if o.topic else log.topics()
    origin = f"{log.path}/0"
    topics = []
    for name in names:
        try:
            n = log.topic(name).config.partitions
            topics.append((name, n, None))
        except EventLogError:
            topics.append((name, 0, "Broker: Unknown topic or partition"))
    out = ctx.out
    if o.json:
        doc = {"originating_broker": {"id": 0, "name": origin},
               "query": {"topic": o.topic or "*"}, "controllerid": 0,
               "brokers": [{"id": 0, "name": log.path}],
               "topics": [dict({"topic": name}, **({"error": err} if err else {}),
                               partitions=[{"partition": p, "leader": 0, "replicas": [{"id": 0}],
                                            "isrs": [{"id": 0}]} for p in range(n)])
                          for name, n, err in topics]}
        out.write(json.dumps(doc, ensure_ascii=False, separators=(",", ":")) + "\n")
        return 0
    out.write(f"Metadata for {o.topic or 'all topics'} (from broker 0: {origin}):\n")
    out.write(" 1 brokers:\n")
    out.write(f"  broker 0 at {log.path} (controller)\n")
    out.write(f" {len(topics)} topics:\n")
    for name, n, err in topics:
        out.write(f'  topic "{name}" with {n} partitions:{" " + err if err else ""}\n')
        for p in range(n):
            out.write(f"    partition {p}, leader 0, replicas: 0, isrs: 0\n")
    return 0


# -- -P ---------------------------------------------------------------------------------------------

_CHECK_EVERY = 20_000


def _split_stream(stream, delim):
    """The messages of a binary stream split at `delim` (the last one needs no delimiter)."""
    tail = b""
    while True:
        chunk = stream.read1(1 << 16) if hasattr(stream, "read1") else stream.read(1 << 16)
        if not chunk:
            break
        parts = (tail + chunk).split(delim)
        tail = parts.pop()
        yield from parts
    if tail:
        yield tail


def _produce(ctx, o, info):
    delim = unescape(o.delim)
    if not delim:
        raise u.UsageError("kcat: message delimiter -D must not be empty when producing")
    key_delim = unescape(o.key_delim) if o.key_delim is not None else None
    if key_delim == b"":
        key_delim = None
    fixed_key = o.fixed_key.encode("utf-8", "surrogateescape") if o.fixed_key is not None else None
    t = ctx.topic(o.topic)
    log = ctx.log()
    nparts = t.config.partitions
    if o.partition is not None and not -1 <= o.partition < nparts:
        raise u.CliError(f"topic {t.name!r} has no partition {o.partition}; it has {nparts} (0..{nparts - 1}; "
                         "-p -1 picks one at random per message)")
    headers = tuple(o.headers) or None
    topic = t.name

    def messages():
        if o.args and not o.lines:
            for path in o.args:  # each file is one message
                with open(path, "rb") as f:
                    data = f.read()
                if data:
                    yield data, fixed_key
            return
        if o.lines and len(o.args) > 1:
            raise u.UsageError("kcat: -l takes one file")
        stream = open(o.args[0], "rb") if o.args else sys.stdin.buffer
        try:
            for msg in _split_stream(stream, delim):
                if not msg:
                    continue  # kcat skips empty messages
                key = None
                if key_delim is not None:
                    i = msg.find(key_delim)
                    if i >= 0:
                        key, msg = msg[:i], msg[i + len(key_delim):]
                        if o.null:
                            key = key or None
                            msg = msg or None
                if key is None and fixed_key is not None:
                    key = fixed_key
                yield msg, key
        finally:
            if stream is not sys.stdin.buffer:
                stream.close()

    producer = log.producer(linger_ms=5, batch_size=256 << 10)
    pending = []
    written = 0
    tee = sys.stdout.buffer if o.tee else None

    def check():
        nonlocal written, pending
        producer.flush()
        for f in pending:
            e = f.exception()
            if e is not None:
                raise u.CliError(f"kcat: failed to produce message to {topic!r} after {written} "
                                 f"messages: {e}")
            written += 1
        pending = []

    interrupted = False
    try:
        for value, key in messages():
            part = o.partition
            if part == -1:
                part = random.randrange(nparts)
            pending.append(producer.send(topic, value=value, key=key, headers=headers, partition=part))
            if tee is not None:
                tee.write((value or b"") + delim)
            if len(pending) >= _CHECK_EVERY:
                check()
            if o.count is not None and written + len(pending) >= o.count:
                break
        check()
    except KeyboardInterrupt:
        interrupted = True
        check()
    finally:
        producer.close()
        if tee is not None:
            tee.flush()
    return 130 if interrupted else 0


# -- -C and -G -----------------------------------------------------------------------------------

class _Listener:
    """Rebalance notes as kcat prints them, and -o applied to newly assigned partitions."""

    def __init__(self, run):
        self.run = run

    def on_partitions_assigned(self, assigned):
        r = self.run
        r.info(f"Group {r.o.group} rebalanced: assigned: {_tp_list(assigned)}")
        for tp in sorted(assigned):
            r.eof.pop(tp, None)
            if r.o.offset is not None and r.o.offset[0] != "stored":
                r.seek_start(tp)

    def on_partitions_revoked(self, revoked):
        r = self.run
        r.commit()
        r.info(f"Group {r.o.group} rebalanced: revoked: {_tp_list(revoked)}")
        for tp in revoked:
            r.eof.pop(tp, None)

    def on_partitions_lost(self, lost):
        self.on_partitions_revoked(lost)


def _tp_list(tps):
    return ", ".join(f"{tp.topic} [{tp.partition}]" for tp in sorted(tps))


class _ConsumeRun:
    def __init__(self, ctx, o, info):
        self.ctx = ctx
        self.o = o
        self.info = info
        self.log = ctx.log()
        self.eof = {}           # tp -> True once its end was reported (and not left since)
        self.stopped = set()    # tps past the -o e@ stop timestamp
        self.consumer = None

    def seek_start(self, tp):
        kind, n = self.o.offset
        p = self.log.topic(tp.topic).partition(tp.partition)
        start, end = p.start_offset, p.end_offset
        c = self.consumer
        if kind == "beginning":
            c.seek(tp, start)
        elif kind == "end":
            c.seek(tp, end)
        elif kind == "abs":
            if not start <= n <= end:
                self.info(f"Offset {n} is out of range for {tp.topic} [{tp.partition}] "
                          f"(valid: {start}..{end}): starting at {min(max(n, start), end)}")
            c.seek(tp, min(max(n, start), end))
        elif kind == "tail":
            c.seek(tp, max(start, end - n))
        elif kind == "time":
            off = p.offset_for_time(n)
            c.seek(tp, end if off is None else off)

    def commit(self):
        if self.o.group is not None and self.consumer is not None:
            try:
                self.consumer.commit()
            except CommitFailedError as e:
                self.ctx.warn(f"commit refused: {e}")


def _consume(ctx, o, info):
    if o.offset is not None and o.offset[0] == "stored" and o.mode == "C":
        raise u.UsageError("kcat: -o stored needs a group: use -G <group-id> (it resumes from the "
                           "group's committed offsets)")
    r = _ConsumeRun(ctx, o, info)
    log = r.log
    if o.json:
        render = json_envelope(unescape(o.delim) if o.fmt is None else unescape(o.fmt))
    elif o.fmt is not None:
        render = compile_format(o.fmt, o.null)
    else:
        d = o.delim.replace("%", "%%")
        fmt = f"%k{o.key_delim.replace('%', '%%')}%s{d}" if o.key_delim is not None else f"%s{d}"
        render = compile_format(fmt, o.null)
    if o.mode == "G":
        for name in o.args:
            ctx.topic(name)  # an unknown topic is an error naming the topics there are
        c = r.consumer = log.consumer(group_id=o.group, auto_offset_reset="latest",
                                      enable_auto_commit=False, client_id="eventlog-kcat")
        info("Waiting for group rebalance")
        c.subscribe(list(o.args), listener=_Listener(r))
    else:
        t = ctx.topic(o.topic)
        n = t.config.partitions
        if o.partition is not None and not 0 <= o.partition < n:
            raise u.CliError(f"Topic {t.name} (with partitions 0..{n - 1}): partition {o.partition} "
                             "does not exist")
        parts = [o.partition] if o.partition is not None else range(n)
        tps = [TopicPartition(t.name, p) for p in parts]
        c = r.consumer = log.consumer(auto_offset_reset="earliest", client_id="eventlog-kcat")
        c.assign(tps)
        if o.offset is None:
            o.offset = ("beginning", None)
        for tp in tps:
            r.seek_start(tp)
    out = sys.stdout.buffer
    count = 0
    status = 0
    try:
        while o.count is None or count < o.count:
            want = 500 if o.count is None else min(500, o.count - count)
            idle = 0 if o.exit_eof and c.assignment() else 0.2
            recs = c.poll(timeout=idle, max_records=want)
            if recs:
                if o.stop_ts is not None:
                    recs = _before_stop(r, recs)
                data = b"".join(map(render, recs))
                out.write(data)
                out.flush()
                count += len(recs)
                for rec in recs:
                    r.eof.pop(TopicPartition(rec.topic, rec.partition), None)
                r.commit()
            if _check_eof(r, c, final=o.exit_eof):
                break
    except KeyboardInterrupt:
        status = 0
    except BrokenPipeError:
        u.quiet_stdout()
    finally:
        try:
            r.commit()
            c.close(autocommit=False)
        except EventLogError:
            pass
    return status


def _before_stop(r, recs):
    """Drop records at or after -o e@<ts>, stopping their partitions (as kcat)."""
    keep = []
    for rec in recs:
        tp = TopicPartition(rec.topic, rec.partition)
        if tp in r.stopped:
            continue
        if rec.timestamp_ms >= r.o.stop_ts:
            r.stopped.add(tp)
            r.consumer.pause([tp])
            r.info(f"Reached stop timestamp for topic {rec.topic} [{rec.partition}] at offset "
                   f"{rec.offset}")
            continue
        keep.append(rec)
    return keep


def _check_eof(r, c, final):
    """Report partitions that reached their end (once each time); True when every assigned
    partition is at its end or stopped and -e was given."""
    assigned = c.assignment()
    if not assigned:
        return False
    for tp in sorted(assigned):
        if tp in r.eof or tp in r.stopped:
            continue
        end = r.log.topic(tp.topic).partition(tp.partition).end_offset
        pos = c.position(tp)
        if pos >= end:
            r.eof[tp] = True
            done = final and all(x in r.eof or x in r.stopped for x in assigned)
            r.info(f"Reached end of topic {tp.topic} [{tp.partition}] at offset {pos}"
                   f"{': exiting' if done else ''}")
    return final and all(x in r.eof or x in r.stopped for x in assigned)
