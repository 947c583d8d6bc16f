"""`eventlog mirror SRC DST`: copy topics (and consumer groups' offsets) between any two of a log
directory and a Kafka cluster, once or following new records.

Rules it keeps:
- Partition for partition, in order, with keys, values, headers and timestamps; a topic
  missing on the destination is created with the source's partition count and settings.
- The destination's own data says where to resume, so a mirror killed at any moment (kill -9)
  and started again copies nothing twice and skips nothing: each destination partition holds
  a prefix of what the mirror sent it (one producer, per-partition order, idempotent on Kafka),
  and the source offset of its last record is that record's offset, or, where the two differ
  (a source with gaps or a non-zero start, a destination that was not empty), the value of
  its `eventlog.mirror.offset` header. The header is added only to records whose offsets
  differ (or that carry such a header from an earlier mirror), so a fresh copy of a gapless
  source is record-for-record identical, offsets included.
- The mirror must be the only writer of the destination partitions it copies into.
- `--groups`: each group's committed offsets are translated to destination offsets (the
  destination offset of the first copied record at or after the committed source offset)
  and set on the destination group, which must have no running members.
- Progress goes to stderr on a terminal only; `--json` prints one summary object on stdout.
"""
import json
import re
import signal
import sys
import time

import eventlog
from eventlog.cli import util as u
from eventlog.errors import OffsetOutOfRangeError, UnknownTopicError
from eventlog.record import TopicPartition

HEADER = "eventlog.mirror.offset"
_SKIP_SETTINGS = ("fsync", "cleaner_buffer_bytes")


def add_parser(sub, cmd):
    """Register `mirror` on the CLI's subparsers (`cmd` is main's helper)."""
    p = cmd(sub, "mirror", "copy topics and consumer groups between directories and Kafka clusters",
            cmd_mirror,
            description="Copy topics (partition for partition: keys, values, headers, timestamps) "
                        "and, with --groups, committed offsets from SRC to DST. Each is a log "
                        "directory or kafka://host:port. Killed and started again, it resumes "
                        "where the destination's data ends: nothing lost, nothing twice.",
            epilog="examples:\n  eventlog mirror data/ kafka://127.0.0.1:9092 --topics 'orders|payments' --groups billing\n"
                   "  eventlog mirror kafka://127.0.0.1:9092 data/ --topics orders --follow\n"
                   "  eventlog mirror data/ backup/ --follow")
    p.add_argument("src", metavar="SRC", help="source: a log directory or kafka://host:port")
    p.add_argument("dst", metavar="DST", help="destination: a log directory or kafka://host:port")
    p.add_argument("--topics", default=".*", metavar="REGEX",
                   help="topics whose whole name matches this regex (default: all)")
    p.add_argument("--groups", metavar="REGEX",
                   help="also copy the committed offsets of the groups matching this regex (translated)")
    p.add_argument("--follow", action="store_true", help="keep copying new records (and new topics) until stopped")
    p.add_argument("--batch", type=u.positive_int_arg, default=2000, help="records per poll (default 2000)")
    return p


def _regex(text, what):
    try:
        return re.compile(text)
    except re.error as e:
        raise u.CliError(f"--{what} {text!r} is not a valid regex: {e}")


def _settings(topic):
    """The source topic's settings as create_topic keywords (those every back end takes)."""
    import attrs
    d = attrs.asdict(topic.config)
    d.pop("partitions")
    for k in _SKIP_SETTINGS:
        d.pop(k, None)
    return d


def source_offset(rec):
    """The source offset a copied record came from."""
    for name, value in reversed(rec.headers):
        if name == HEADER and value is not None:
            return int(value)
    return rec.offset


def resume_offset(dst_part, src_start):
    """The next source offset to copy into `dst_part`: after the source offset of its last record."""
    end = dst_part.end_offset
    if end == 0:
        return src_start
    try:
        last = dst_part.read(end - 1, 1)
    except OffsetOutOfRangeError:   # everything deleted (delete_records): offsets are the source's
        return max(src_start, end)
    if not last:
        return max(src_start, end)
    return max(src_start, source_offset(last[-1]) + 1)


def translate(dst_part, src_offset):
    """The destination offset of the first copied record whose source offset is >= src_offset
    (the destination's end if there is none): a binary search, one single-record read a step."""
    lo, hi = dst_part.start_offset, dst_part.end_offset
    while lo < hi:
        mid = (lo + hi) // 2
        recs = dst_part.read(mid, 1)
        if not recs:
            hi = mid
            continue
        r = recs[0]
        if source_offset(r) >= src_offset:
            hi = mid if r.offset == mid else min(mid, r.offset)
        else:
            lo = r.offset + 1
    return lo


class Mirror:
    """One mirroring run from `src` to `dst` (opened logs)."""

    def __init__(self, src, dst, topics_re, batch, progress=None):
        self.src, self.dst = src, dst
        self.topics_re = topics_re
        self.batch = batch
        self.progress = progress
        self.copied = {}            # topic -> records copied in this run
        self.partitions = {}        # topic -> partition count
        self.created = []
        self._stop = False
        self._producer = dst.producer(linger_ms=5)
        self._consumer = src.consumer()
        self._next = {}             # tp -> next source offset to copy
        self._started = time.monotonic()

    def stop(self, *_):
        self._stop = True

    def topics(self):
        return [t for t in self.src.topics() if self.topics_re.fullmatch(t)]

    def prepare(self):
        """Create / grow destination topics, work out resume points, assign the source."""
        new = False
        for name in self.topics():
            if name in self.partitions:
                continue
            st = self.src.topic(name)
            n = st.partition_count
            try:
                dt = self.dst.topic(name)
                if dt.partition_count < n:
                    dt.add_partitions(n)
            except UnknownTopicError:
                dt = self.dst.create_topic(name, partitions=n, **_settings(st))
                self.created.append(name)
            self.partitions[name] = n
            self.copied.setdefault(name, 0)
            for i in range(n):
                sp = st.partition(i)
                self._next[TopicPartition(name, i)] = resume_offset(dt.partition(i), sp.start_offset)
            new = True
        if new:
            self._consumer.assign(list(self._next))
            for tp, off in self._next.items():
                lo, hi = self._consumer.beginning_offsets([tp])[tp], self._consumer.end_offsets([tp])[tp]
                self._consumer.seek(tp, min(max(off, lo), hi))
        return new

    def _send(self, recs):
        send = self._producer.send
        dst_end = self._dst_end
        for r in recs:
            tp = (r.topic, r.partition)
            want = dst_end[tp]
            headers = r.headers
            if r.offset != want or any(h[0] == HEADER for h in headers):
                headers = headers + ((HEADER, str(r.offset).encode()),)
            send(r.topic, value=r.value, key=r.key, headers=list(headers) or None, partition=r.partition,
                 timestamp_ms=r.timestamp_ms)
            dst_end[tp] = want + 1
            self._next[TopicPartition(*tp)] = r.offset + 1
            self.copied[r.topic] += 1

    def run(self, follow):
        self.prepare()
        # where each destination partition ends now (the mirror is its only writer)
        self._dst_end = {}
        for tp in self._next:
            self._dst_end[(tp.topic, tp.partition)] = self.dst.topic(tp.topic).partition(tp.partition).end_offset
        targets = None if follow else self._consumer.end_offsets(list(self._next))
        last_scan = time.monotonic()
        last_report = 0.0
        while not self._stop:
            if targets is not None and all(self._next[tp] >= end for tp, end in targets.items()):
                break
            if not self._next:
                if not follow:
                    break
            recs = self._consumer.poll(timeout=0.5, max_records=self.batch) if self._next else []
            if targets is not None:
                recs = [r for r in recs if r.offset < targets[TopicPartition(r.topic, r.partition)]]
            if recs:
                self._send(recs)
            elif targets is not None:
                # records below a target that never come (compacted away): stop there
                for tp, end in targets.items():
                    if self._next[tp] < end and self._consumer.position(tp) >= end:
                        self._next[tp] = end
            now = time.monotonic()
            if follow and now - last_scan > 5:
                last_scan = now
                before = set(self._next)
                if self.prepare():
                    for tp in set(self._next) - before:
                        self._dst_end[(tp.topic, tp.partition)] = \
                            self.dst.topic(tp.topic).partition(tp.partition).end_offset
            if self.progress is not None and now - last_report > 0.5:
                last_report = now
                self.progress(self.total(), now - self._started)
        self._producer.flush()

    def total(self):
        return sum(self.copied.values())

    def copy_groups(self, groups_re):
        """Translate and set the committed offsets of the matching groups; {group: {tp: offset}}."""
        out = {}
        for g in self.src.groups():
            if not groups_re.fullmatch(g):
                continue
            plan = {}
            for tp, off in self.src.group(g).committed().items():
                if tp.topic not in self.partitions:
                    continue
                plan[tp] = translate(self.dst.topic(tp.topic).partition(tp.partition), off)
            if plan:
                self.dst.group(g).reset_offsets(plan)
            out[g] = {f"{tp.topic}[{tp.partition}]": o for tp, o in sorted(plan.items())}
        return out

    def close(self):
        try:
            self._producer.close()
        finally:
            self._consumer.close()


def cmd_mirror(ctx, args):
    topics_re = _regex(args.topics, "topics")
    groups_re = _regex(args.groups, "groups") if args.groups else None
    src = eventlog.open(args.src)
    try:
        dst = eventlog.open(args.dst)
    except BaseException:
        src.close()
        raise
    tty = ctx.err.isatty() and not ctx.json
    progress = None
    if tty:
        def progress(n, secs):
            ctx.err.write(f"\rmirrored {n:,} records ({n / max(secs, 1e-9):,.0f}/s)   ")
            ctx.err.flush()
    m = Mirror(src, dst, topics_re, args.batch, progress)
    old = {s: signal.signal(s, m.stop) for s in (signal.SIGTERM,)}
    started = time.monotonic()
    groups = {}
    try:
        try:
            m.run(args.follow)
        except KeyboardInterrupt:
            m.stop()
        if groups_re is not None:
            groups = m.copy_groups(groups_re)
    finally:
        for s, h in old.items():
            signal.signal(s, h)
        try:
            m.close()
        finally:
            dst.close()
            src.close()
    secs = time.monotonic() - started
    summary = {"source": args.src, "destination": args.dst, "records": m.total(),
               "seconds": round(secs, 3), "created_topics": m.created,
               "topics": {t: {"partitions": m.partitions[t], "records": m.copied.get(t, 0)} for t in sorted(m.partitions)},
               "groups": groups}
    if tty:
        ctx.err.write("\n")
    if ctx.json:
        ctx.out.write(json.dumps(summary) + "\n")
    else:
        ctx.err.write(f"mirrored {m.total():,} records of {len(m.partitions)} topic(s) from {args.src} to "
                      f"{args.dst} in {secs:.1f} s" + (f"; groups: {', '.join(groups)}" if groups else "") + "\n")
    return 0
