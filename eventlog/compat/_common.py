"""What both client facades share: where `bootstrap_servers` points, one shared `Log` per
directory, config checking, and `_Fetcher` (record hand-out with client-visible positions).

Where a client's records go (first match wins):

1. a server entry ``eventlog:///abs/path`` (or ``eventlog:relative/path``) in
   `bootstrap_servers` / ``bootstrap.servers``; query parameters set the "cluster"
   defaults: ``?num_partitions=3&auto_create_topics=false``;
2. the log set with `eventlog.compat.use_log(...)` (the pytest plugin's fixtures set it);
3. the ``EVENTLOG_BOOTSTRAP_DIR`` environment variable.

Any other server list (``localhost:9092``, ``kafka:29092``...) is redirected to 2 or 3, so
an application configured for a real broker runs unchanged; with neither set, creating a
client fails with the client's "no brokers" error, saying how to point it at a log.

Invariants: one `Log` object per (process, directory), shared by every facade client in that
process and closed when the last client that opened it closes (a log handed to `use_log` as a
`Log` object is never closed here); a child process after fork opens its own. Records handed
to the application are exactly those `_Fetcher` took from the consumer, in order, and the
positions a facade reports or commits are those of the next record not yet handed out.
"""
from __future__ import annotations

import collections
import contextlib
import os
import threading
import time
import urllib.parse

from eventlog import log as _logmod
from eventlog.storage.topic import validate_topic_name
from eventlog.errors import EventLogError, InvalidTopicError, UnknownTopicError
from eventlog.record import TopicPartition

ENV_DIR = "EVENTLOG_BOOTSTRAP_DIR"
ENV_PARTITIONS = "EVENTLOG_NUM_PARTITIONS"
ENV_AUTO_CREATE = "EVENTLOG_AUTO_CREATE_TOPICS"
SCHEME = "eventlog:"

_lock = threading.RLock()
_defaults = []              # stack of _Target set by use_log()
_shared = {}                # (pid, path) -> [Log, refcount]


class NoLogConfigured(EventLogError):
    """No log directory for a client (each facade raises its own client's error type)."""


class _Target:
    """A resolved destination: a directory (opened and shared on demand) or a Log object."""

    __slots__ = ("path", "log", "num_partitions", "auto_create")

    def __init__(self, path=None, log=None, num_partitions=1, auto_create=True):
        self.path = os.path.abspath(path) if path is not None else log.path
        self.log = log
        self.num_partitions = num_partitions
        self.auto_create = auto_create


def _truthy(v, what):
    s = str(v).strip().lower()
    if s in ("1", "true", "yes", "on"):
        return True
    if s in ("0", "false", "no", "off"):
        return False
    raise NoLogConfigured(f"{what} must be true or false, got {v!r}")


def _partitions(v, what):
    try:
        n = int(v)
    except (TypeError, ValueError):
        n = 0
    if n < 1:
        raise NoLogConfigured(f"{what} must be an int >= 1, got {v!r}")
    return n


def _env_settings():
    n = os.environ.get(ENV_PARTITIONS)
    a = os.environ.get(ENV_AUTO_CREATE)
    return (_partitions(n, ENV_PARTITIONS) if n else 1,
            _truthy(a, ENV_AUTO_CREATE) if a else True)


def parse_url(url):
    """``eventlog:///abs/path?num_partitions=3`` -> _Target, or None if not an eventlog URL."""
    if not isinstance(url, str) or not url.strip().lower().startswith(SCHEME):
        return None
    url = url.strip()
    rest = url[len(SCHEME):]
    rest, _, query = rest.partition("?")
    if rest.startswith("//"):
        rest = rest[2:]
        host, slash, path = rest.partition("/")
        if host not in ("", "localhost"):
            raise NoLogConfigured(
                f"{url!r}: an eventlog URL names a local directory, eventlog:///abs/path "
                f"(three slashes) or eventlog:relative/path; got host {host!r}")
        path = "/" + path
    else:
        path = rest
    path = urllib.parse.unquote(path)
    if not path:
        raise NoLogConfigured(f"{url!r} names no directory: use eventlog:///abs/path")
    n, auto = _env_settings()
    for k, v in urllib.parse.parse_qsl(query, keep_blank_values=True):
        if k in ("num_partitions", "partitions"):
            n = _partitions(v, f"{url!r}: {k}")
        elif k in ("auto_create_topics", "auto_create"):
            auto = _truthy(v, f"{url!r}: {k}")
        else:
            raise NoLogConfigured(f"{url!r}: unknown parameter {k!r} (known: num_partitions, "
                                  f"auto_create_topics)")
    return _Target(path=os.path.expanduser(path), num_partitions=n, auto_create=auto)


def _servers(bootstrap):
    if bootstrap is None:
        return []
    if isinstance(bootstrap, str):
        return [s for s in (x.strip() for x in bootstrap.split(",")) if s] if not \
            bootstrap.strip().lower().startswith(SCHEME) else [bootstrap.strip()]
    out = []
    for s in bootstrap:
        out += _servers(s)
    return out


def resolve(bootstrap):
    """The _Target for a client configured with `bootstrap` (see the module docstring)."""
    for s in _servers(bootstrap):
        t = parse_url(s)
        if t is not None:
            return t
    with _lock:
        if _defaults:
            return _defaults[-1]
    d = os.environ.get(ENV_DIR)
    if d:
        t = parse_url(d)
        if t is not None:
            return t
        n, auto = _env_settings()
        return _Target(path=os.path.expanduser(d), num_partitions=n, auto_create=auto)
    raise NoLogConfigured(
        f"bootstrap servers {bootstrap!r} do not name an eventlog directory: use "
        f"'eventlog:///abs/path', set {ENV_DIR}=/abs/path, call "
        f"eventlog.compat.use_log(path), or use the pytest plugin's eventlog_log fixture")


@contextlib.contextmanager
def _noop():
    yield


class use_log:
    """Send every facade client whose servers are not an ``eventlog:`` URL to this log.

    `log` is a directory path or an open `eventlog.Log`. Usable as a plain call (stays in
    force until `.close()`/`stop()`) or as a context manager. Nested uses stack.
    ``num_partitions`` is the partition count of automatically created topics and of
    ``NewTopic`` with no count (Kafka's broker default is 1); ``auto_create_topics=False``
    makes producing to an unknown topic fail as with ``auto.create.topics.enable=false``.
    """

    def __init__(self, log, *, num_partitions=None, auto_create_topics=None):
        n, auto = _env_settings()
        if num_partitions is not None:
            n = _partitions(num_partitions, "num_partitions")
        if auto_create_topics is not None:
            auto = bool(auto_create_topics)
        if isinstance(log, _logmod.Log):
            self.target = _Target(log=log, num_partitions=n, auto_create=auto)
        else:
            t = parse_url(os.fspath(log)) if isinstance(log, str) else None
            self.target = t if t is not None else _Target(path=os.fspath(log), num_partitions=n,
                                                          auto_create=auto)
        with _lock:
            _defaults.append(self.target)
        self._active = True

    @property
    def path(self):
        return self.target.path

    def stop(self):
        with _lock:
            if self._active:
                self._active = False
                try:
                    _defaults.remove(self.target)
                except ValueError:
                    pass

    close = stop

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def current_target():
    """The log clients would use now when given no eventlog URL (or None)."""
    try:
        return resolve(None)
    except NoLogConfigured:
        return None


# -- one Log per directory per process ----------------------------------------------------------

class LogRef:
    """A client's hold on its Log; `release()` once (closes the shared Log at the last)."""

    __slots__ = ("log", "target", "_key", "_released")

    def __init__(self, target):
        self.target = target
        self._released = False
        if target.log is not None:
            self.log = target.log
            self._key = None
            return
        key = (os.getpid(), target.path)
        with _lock:
            entry = _shared.get(key)
            if entry is None or entry[0]._closed:
                entry = _shared[key] = [_logmod.Log(target.path), 0]
            entry[1] += 1
        self.log = entry[0]
        self._key = key

    def release(self):
        if self._released:
            return
        self._released = True
        if self._key is None or self._key[0] != os.getpid():
            return
        with _lock:
            entry = _shared.get(self._key)
            if entry is None or entry[0] is not self.log:
                return
            entry[1] -= 1
            if entry[1] <= 0:
                del _shared[self._key]
                try:
                    self.log.close()
                except Exception:
                    pass

    # topics, with the "broker's" auto-creation
    def topic(self, name, create=False):
        try:
            return self.log.topic(name)
        except UnknownTopicError:
            if not (create and self.target.auto_create):
                raise
        try:
            return self.log.create_topic(name, partitions=self.target.num_partitions)
        except EventLogError:
            return self.log.topic(name)  # created by someone else meanwhile


def open_log(bootstrap):
    return LogRef(resolve(bootstrap))


# -- configuration ------------------------------------------------------------------------------

def split_config(conf, known, network, refused, client):
    """Check `conf` keys: `known` are returned for the facade to use, `network` (only tune a
    network client) are accepted and ignored, `refused` {key: reason} raise, anything else
    raises too. Returns {key: value} of the known ones. Raises ValueError(message)."""
    used = {}
    for k, v in conf.items():
        if k in refused:
            why = refused[k]
            if callable(why):
                why = why(v)
            if why:
                raise ValueError(f"{client}: {k}={v!r} is not supported by eventlog: {why}")
            continue
        if k in known:
            used[k] = v
        elif k in network or any(k.startswith(p) for p in network if p.endswith((".", "_"))):
            continue
        else:
            raise ValueError(f"{client}: unknown configuration {k!r}; eventlog's facade accepts "
                             f"the settings listed in docs/testing.md")
    return used


def valid_topic(name):
    """True if `name` is a legal Kafka topic name (the core's rule, `validate_topic_name`)."""
    try:
        validate_topic_name(name)
    except InvalidTopicError:
        return False
    return True


_GROUP_META_KEYS = {"member_id", "generation", "reset"}


def group_state(log, group_id):
    """Kafka's name for a group's state: Dead (unknown), Empty, PreparingRebalance, Stable."""
    g = log.group(group_id)
    members = g.members()
    if not members:
        return "Empty" if group_id in log.groups() else "Dead"
    assigned = {m.member_id: set(m.assignment) for m in members}
    owned = {m.member_id: set(m.owned) for m in members}
    if any(assigned[m] != owned[m] for m in assigned) or set(g.assignment()) != set(assigned):
        return "PreparingRebalance"
    return "Stable"


def group_protocol_type(log, group_id):
    """The group's protocol type as a broker reports it: "consumer" for a group that has run
    the consumer protocol (members now, or an assignor of a past generation), "" for an unknown
    group or one that only has offsets committed by assign()-mode consumers (a "simple" group)."""
    g = log.group(group_id)
    return "consumer" if g.members() or g.assignor else ""


def is_group_metadata(text):
    """True if a committed offset's metadata was written by eventlog's group layer (member id
    and generation of a fenced commit, or an admin reset) rather than by the application."""
    if not isinstance(text, str) or not text.startswith("{"):
        return False
    import json
    try:
        doc = json.loads(text)
    except ValueError:
        return False
    return isinstance(doc, dict) and bool(doc) and set(doc) <= _GROUP_META_KEYS


def facade_modules(package, real_name):
    """{real module name: module} for a facade `package` (a module name) and every public
    submodule of it already imported, under the real library's names: what `patch()` puts in
    sys.modules. Private submodules (``_x``) are the facade's own and stay unlisted."""
    import sys
    out = {}
    prefix = package + "."
    for name, mod in list(sys.modules.items()):
        if name == package or (name.startswith(prefix) and
                               not any(p.startswith("_") for p in name[len(prefix):].split("."))):
            out[real_name + name[len(package):]] = mod
    return out


# -- handing out records --------------------------------------------------------------------

class _Run:
    __slots__ = ("tp", "recs", "i")

    def __init__(self, tp, recs):
        self.tp = tp
        self.recs = recs
        self.i = 0


class Fetcher:
    """Wraps an eventlog Consumer: records are fetched in chunks and handed to the client one
    by one or a few at a time; `position(tp)` is the next record not handed out yet.

    The consumer's own positions run ahead of the client's by what is buffered here. Before
    anything that moves positions or changes the assignment, `sync()` seeks the consumer
    back to the first unhanded record of each partition and empties the buffer. Group
    rebalances happen only inside the consumer's `poll`, which is called only with an empty
    buffer: so buffered records always belong to the current assignment.
    """

    def __init__(self, consumer, chunk=500):
        self.c = consumer
        self.chunk = chunk
        self.runs = collections.deque()
        self.valid = set()      # partitions whose position is known (polled or seeked)

    def buffered(self):
        return sum(len(r.recs) - r.i for r in self.runs)

    def _first(self, tp):
        for r in self.runs:
            if r.tp == tp and r.i < len(r.recs):
                return r.recs[r.i].offset
        return None

    def position(self, tp):
        off = self._first(tp)
        if off is not None:
            return off
        return self.c.position(tp)

    def positions(self, tps=None):
        """{tp: client position} of the partitions whose position is known."""
        assigned = self.c.assignment()
        tps = assigned if tps is None else [tp for tp in tps if tp in assigned]
        out = {}
        for tp in tps:
            if tp in self.valid:
                out[tp] = self.position(tp)
        return out

    def sync(self, tps=None):
        """Give buffered records (of `tps`, default all) back to the consumer."""
        if not self.runs:
            return
        keep = collections.deque()
        done = set()
        assigned = None
        for r in self.runs:
            if r.i >= len(r.recs):
                continue
            if tps is not None and r.tp not in tps:
                keep.append(r)
                continue
            if r.tp not in done:
                done.add(r.tp)
                if assigned is None:
                    assigned = self.c.assignment()
                if r.tp in assigned:
                    self.c.seek(r.tp, r.recs[r.i].offset)
        self.runs = keep

    def forget(self, tps):
        """Drop buffered records of `tps` without seeking (they are no longer assigned)."""
        self.runs = collections.deque(r for r in self.runs if r.tp not in tps)
        self.valid -= set(tps)

    def fill(self, timeout, paused=frozenset()):
        """Fetch more records into the buffer when it is empty; return True if it has some."""
        if self.runs and any(r.i < len(r.recs) for r in self.runs):
            return True
        self.runs.clear()
        recs = self.c.poll(timeout=timeout, max_records=self.chunk)
        for tp in self.c.assignment():
            if tp not in paused:
                self.valid.add(tp)
        if not recs:
            return False
        start = 0
        tp = None
        for i, r in enumerate(recs):
            t = (r.topic, r.partition)
            if t != tp:
                if tp is not None:
                    self.runs.append(_Run(TopicPartition(*tp), recs[start:i]))
                tp, start = t, i
        self.runs.append(_Run(TopicPartition(*tp), recs[start:]))
        return True

    def take(self, n):
        """Up to `n` buffered records as [(tp, [records])] runs (in order)."""
        out = []
        while n > 0 and self.runs:
            r = self.runs[0]
            left = len(r.recs) - r.i
            if left <= 0:
                self.runs.popleft()
                continue
            k = min(left, n)
            out.append((r.tp, r.recs[r.i:r.i + k]))
            r.i += k
            n -= k
            if r.i >= len(r.recs):
                self.runs.popleft()
        return out

    def take_one(self):
        while self.runs:
            r = self.runs[0]
            if r.i < len(r.recs):
                rec = r.recs[r.i]
                r.i += 1
                if r.i >= len(r.recs):
                    self.runs.popleft()
                return rec
            self.runs.popleft()
        return None

    def unread(self, tp, rec):
        """Put back one record taken by take_one (a deserializer failed on it)."""
        self.runs.appendleft(_Run(tp, [rec]))


def deadline_after(timeout_s):
    return None if timeout_s is None else time.monotonic() + timeout_s


def left(deadline):
    return None if deadline is None else max(0.0, deadline - time.monotonic())


__all__ = ["use_log", "resolve", "parse_url", "open_log", "LogRef", "Fetcher", "NoLogConfigured",
           "ENV_DIR", "current_target", "split_config"]


# -- Kafka topic configs -> eventlog topic settings ----------------------------------------------

def _ms(v):
    n = int(v)
    return None if n < 0 else n


def _compression(v):
    v = str(v).lower()
    if v in ("uncompressed", "none", "producer"):
        return "none"
    if v in ("zstd", "gzip", "snappy", "lz4"):
        # eventlog compresses with zstd only; compression is invisible to readers
        return "zstd"
    raise ValueError(f"compression.type={v!r} is not a Kafka compression type")


_TOPIC_CONFIGS = {
    "retention.ms": ("retention_ms", _ms),
    "retention.bytes": ("retention_bytes", _ms),
    "segment.bytes": ("segment_bytes", int),
    "segment.ms": ("segment_ms", int),
    "cleanup.policy": ("cleanup_policy", lambda v: ",".join(sorted(x.strip() for x in str(v).split(",")))),
    "compression.type": ("compression", _compression),
    "max.message.bytes": ("max_record_bytes", int),
    "delete.retention.ms": ("delete_retention_ms", int),
    "min.compaction.lag.ms": ("min_compaction_lag_ms", int),
    "min.cleanable.dirty.ratio": ("min_cleanable_dirty_ratio", float),
}
# configs about replication, leaders, page cache or broker I/O: nothing to honour on one disk
_TOPIC_CONFIGS_IGNORED = {
    "min.insync.replicas", "unclean.leader.election.enable", "flush.messages", "flush.ms",
    "index.interval.bytes", "segment.index.bytes", "segment.jitter.ms", "preallocate",
    "file.delete.delay.ms", "follower.replication.throttled.replicas",
    "leader.replication.throttled.replicas", "message.downconversion.enable",
    "max.compaction.lag.ms", "message.timestamp.difference.max.ms",
    "message.timestamp.before.max.ms", "message.timestamp.after.max.ms", "local.retention.ms",
    "local.retention.bytes", "remote.storage.enable", "message.format.version",
}


def topic_settings(configs):
    """Kafka topic configs ({"retention.ms": "1000", ...}) -> eventlog create_topic settings.
    Raises ValueError naming a config that cannot be honoured."""
    out = {}
    for k, v in (configs or {}).items():
        if k in _TOPIC_CONFIGS:
            name, conv = _TOPIC_CONFIGS[k]
            try:
                out[name] = conv(v)
            except (TypeError, ValueError) as e:
                raise ValueError(f"topic config {k}={v!r}: {e}") from None
        elif k in _TOPIC_CONFIGS_IGNORED:
            continue
        elif k == "message.timestamp.type":
            if str(v) != "CreateTime":
                raise ValueError("message.timestamp.type=LogAppendTime is not supported: eventlog "
                                 "keeps the producer's timestamps (CreateTime)")
        else:
            raise ValueError(f"unknown topic config {k!r}")
    return out


def describe_topic_configs(config):
    """[(Kafka config name, value as str, set on the topic?)] of an eventlog TopicConfig, for the
    admin clients' describe_configs (a value differing from the default counts as set)."""
    from eventlog.storage.topic import TopicConfig
    default = TopicConfig(partitions=config.partitions)
    out = []
    for kafka_name, (name, _conv) in _TOPIC_CONFIGS.items():
        value = getattr(config, name)
        shown = {"none": "producer"}.get(value, value) if name == "compression" else value
        shown = -1 if shown is None else shown
        out.append((kafka_name, str(shown), value != getattr(default, name)))
    return out


def list_config_op(current, value, append):
    """APPEND (or SUBTRACT) the comma-separated `value` to (from) a list-valued config's
    `current` value, as a broker's IncrementalAlterConfigs does; returns the new value."""
    items = [x for x in str(current or "").split(",") if x]
    vals = [x for x in str(value or "").split(",") if x]
    items = items + [v for v in vals if v not in items] if append else [x for x in items if x not in vals]
    return ",".join(items)


def replace_topic_configs(topic, current, new, apply=True):
    """Make `new` ({Kafka config name: value}) the topic's set configs: each is checked and
    converted (ValueError naming a bad one), configs in `current` (the set ones) that `new`
    lacks go back to their defaults; nothing changes when one is bad, or when not `apply`."""
    target = topic_settings(new)
    defaults = default_topic_settings(set(topic_settings(current)) - set(target))
    if apply:
        topic.alter(**defaults, **target)


def max_timestamp(part, chunk=1000):
    """(offset, timestamp) of the partition's record with the largest timestamp (the first
    such record), or (-1, -1) when it has none: Kafka's OffsetSpec.max_timestamp()."""
    best_off, best_ts = -1, -1
    pos, end = part.start_offset, part.end_offset
    while pos < end:
        recs = part.read(pos, max_records=chunk)
        if not recs:
            break
        for r in recs:
            if r.timestamp_ms > best_ts:
                best_off, best_ts = r.offset, r.timestamp_ms
        pos = recs[-1].offset + 1
    return best_off, best_ts


def default_topic_settings(names):
    """{eventlog setting: default value} for the given eventlog setting names."""
    from eventlog.storage.topic import TopicConfig
    default = TopicConfig(partitions=1)
    return {n: getattr(default, n) for n in names}
