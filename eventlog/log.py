"""The Log: a root directory holding topics (and consumer groups), shared by processes.

Owns the directory layout (`eventlog.json`, `topics/`, `groups/`), topic creation and
deletion, the cache of Topic handles, and the bound on open descriptors (partitions not
used recently have their files closed; they reopen lazily).

Invariants: `open` makes a log only of a missing or empty directory; any other path that
is not already a log (a file, a directory holding other things, a URL) is refused, never
written to. Nothing is scanned at open (opening costs the same for 1 or 10,000 topics);
topic handles are re-validated against `topic.json` on lookup so a topic deleted, re-created
or altered by another process is seen; a Log is not usable in a child after fork().
"""
import collections
import os
import re
import secrets
import shutil
import threading

import weakref

from eventlog._os.clock import check_clock
from eventlog._os.fs import atomic_write_json, check_usable, fork_generation, fsync_dir, read_json, wrap_public_methods
from eventlog.maintenance import schedule as _schedule
from eventlog.offsets import FileOffsetStore
from eventlog.storage.names import is_valid_topic_name
from eventlog.storage.topic import Topic, TopicConfig, new_topic_id, topic_document, topic_id_of, validate_topic_name
from eventlog.errors import (EventLogError, ForkedProcessError, InvalidArgumentError, LogClosedError,
                     NotALogDirectoryError, TopicExistsError, UnknownTopicError)

FORMAT = "eventlog"
FORMAT_VERSION = 1
MARKER = "eventlog.json"
_URL = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://")
SUPPORTED_LOCATIONS = ("a directory path: an existing log, or a missing or empty directory to "
                       "make one in (eventlog.open('data/'))")


def check_location(path):
    """Return `path` (str, bytes or os.PathLike) as a str, or raise InvalidArgumentError for an
    empty path (it would be the current directory) or a URL (`scheme://...`)."""
    try:
        p = os.fspath(path)
    except TypeError:
        raise InvalidArgumentError(f"the log location must be a directory path (str or os.PathLike), "
                                   f"got {type(path).__name__}: {path!r}") from None
    text = os.fsdecode(p)
    if not text.strip():
        raise InvalidArgumentError(
            f"empty log path {path!r}: name the log directory (for the current directory, pass "
            "'.' explicitly)")
    m = _URL.match(text)
    if m:
        raise InvalidArgumentError(
            f"cannot open {text!r}: it is a URL ({m.group(1)}://), and a log is either "
            f"{SUPPORTED_LOCATIONS} or a Kafka cluster, eventlog.open('kafka://host:port') (for a "
            f"directory really named like that, write './{text}')")
    return text


@wrap_public_methods(names={"__init__": "eventlog.open()"})
class Log:
    """A log directory. Create with `eventlog.open(path)`; a context manager."""

    def __init__(self, path, *, fsync=None, max_open_partitions=256, background_maintenance=False, clock=None):
        if fsync not in (None, "never", "batch"):
            raise InvalidArgumentError(f"fsync must be 'never' or 'batch' (or None: each topic's setting), got {fsync!r}")
        if type(max_open_partitions) is not int or max_open_partitions < 1:
            raise InvalidArgumentError(f"max_open_partitions must be an int >= 1, got {max_open_partitions!r}")
        self.path = os.path.abspath(check_location(path))
        self.fsync = fsync
        #: the one store of committed offsets every consumer, group and admin call uses,
        #: with one fsync policy: fsynced commits when the log is opened with fsync="batch"
        self.offset_store = FileOffsetStore(self.path, fsync=(fsync == "batch"))
        self._lock = threading.RLock()
        self._topics = {}
        self._open = collections.OrderedDict()
        self._max_open = max_open_partitions
        self._closed = False
        self._fork = fork_generation()
        #: the clock of maintenance schedules and of producers' linger (`eventlog._os.clock`)
        self.clock = check_clock(clock)
        self._producers = weakref.WeakSet()  # closed with the log (a producer's thread keeps it alive)
        self._init_dir()
        self._maintenance = None
        if background_maintenance:
            self._start_maintenance(background_maintenance)

    def _init_dir(self):
        """Make sure `self.path` is a log: use it if it is one, make it one if it is missing
        or empty, refuse (NotALogDirectoryError, writing nothing) otherwise."""
        path = self.path
        marker = os.path.join(path, MARKER)
        try:
            entries = os.listdir(path)
        except FileNotFoundError:
            entries = None
        except NotADirectoryError:
            what = "it is a file" if os.path.lexists(path) else "a parent of it is a file"
            raise NotALogDirectoryError(
                f"cannot open a log at {path}: {what}, not a directory; eventlog.open takes "
                f"{SUPPORTED_LOCATIONS}") from None
        if entries is not None and MARKER not in entries:
            # two processes may initialise one empty directory at once: ignore what the other
            # leaves on the way (its temp file of the marker, the empty topics/ and groups/)
            other = sorted(e for e in entries if not self._init_leftover(e))
            if other:
                shown = ", ".join(repr(e) for e in other[:5]) + (f", ... ({len(other)} entries)" if len(other) > 5 else "")
                raise NotALogDirectoryError(
                    f"{path} is not an eventlog directory: it has no {MARKER} and is not empty (it "
                    f"holds {shown}); eventlog only makes a log in a missing or empty directory. "
                    "Check the path, or choose a new directory")
        if entries is None or MARKER not in entries:
            os.makedirs(path, exist_ok=True)
            atomic_write_json(marker, {"format": FORMAT, "version": FORMAT_VERSION})
        else:
            try:
                meta = read_json(marker)
            except FileNotFoundError:
                raise NotALogDirectoryError(f"{marker} vanished while opening the log; open it again") from None
            except IsADirectoryError:
                raise NotALogDirectoryError(f"{path} is not an eventlog directory: {marker} is a directory") from None
            except ValueError as e:
                raise NotALogDirectoryError(f"{marker} is not valid JSON ({e}); is {path} an eventlog directory?") from None
            if not isinstance(meta, dict) or meta.get("format") != FORMAT:
                raise NotALogDirectoryError(f"{path} is not an eventlog directory ({marker} says {meta!r})")
            version = meta.get("version", 0)
            if not isinstance(version, int) or version > FORMAT_VERSION:
                raise EventLogError(f"{path} uses format version {version!r}; this eventlog "
                                    f"reads up to {FORMAT_VERSION}: upgrade eventlog")
        made = False
        for sub in ("topics", "groups"):
            try:
                os.mkdir(os.path.join(path, sub))
                made = True
            except FileExistsError:
                pass
        if made:
            # their entries must survive a power cut before anything durable is put under
            # them: topics made and records acknowledged with fsync="batch", offsets committed
            # with a syncing store (which syncs only the directories it makes itself)
            fsync_dir(path)

    def _init_leftover(self, name):
        """True for what initialising a log leaves in its directory before the marker is in
        place (the marker's temp file, empty topics/ and groups/)."""
        if name.startswith(f".{MARKER}.") and name.endswith(".tmp"):
            return True
        if name in ("topics", "groups"):
            try:
                return os.path.isdir(os.path.join(self.path, name)) and not os.listdir(os.path.join(self.path, name))
            except OSError:
                return False
        return False

    def __repr__(self):
        return f"<eventlog.Log {self.path!r}>"

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _check(self):
        check_usable(self._closed, self._fork, self._closed_error, self._forked_error)

    def _closed_error(self):
        return LogClosedError(f"the log at {self.path} is closed")

    def _forked_error(self):
        return ForkedProcessError(f"the log at {self.path} was opened before fork(); "
                                  "call eventlog.open() again in the child process")

    def close(self):
        """Flush producers made from this log, stop background work and close every file."""
        if self._closed:
            return
        for p in list(self._producers):
            try:
                p.close()
            except Exception:
                pass
        if self._maintenance is not None:
            self._maintenance.stop()
        with self._lock:
            self._closed = True
            for t in self._topics.values():
                t.close(final=True)
            self._open.clear()

    # -- topics ----------------------------------------------------------------------------
    def _topic_dir(self, name):
        return os.path.join(self.path, "topics", name)

    def create_topic(self, name, partitions=1, **settings):
        """Create a topic and return it. Settings (Kafka's names and units): retention_ms,
        retention_bytes, segment_bytes, segment_ms, cleanup_policy ("delete" | "compact" |
        "compact,delete" | "delete,compact" | "": kept forever), compression ("none" | "zstd"),
        compression_level, max_record_bytes, fsync ("never" | "batch"), delete_retention_ms,
        min_compaction_lag_ms, min_cleanable_dirty_ratio, client_configs ({Kafka config name:
        str}: kept and described, not acted on).

        Raises TopicExistsError if it exists (in any process), InvalidTopicError for a bad name.
        """
        self._check()
        validate_topic_name(name)
        if self.fsync is not None and "fsync" not in settings:
            settings["fsync"] = self.fsync
        config = TopicConfig.make(partitions=partitions, **settings)
        final = self._topic_dir(name)
        if os.path.exists(os.path.join(final, "topic.json")):
            raise TopicExistsError(f"topic {name!r} already exists in {self.path}")
        # "~" cannot appear in a topic name, so work directories never look like (or hide) a topic
        tmp = os.path.join(self.path, "topics", f"~creating~{name[:200]}~{secrets.token_hex(6)}")
        os.makedirs(tmp)
        try:
            for i in range(partitions):
                os.mkdir(os.path.join(tmp, str(i)))
            atomic_write_json(os.path.join(tmp, "topic.json"), topic_document(config, new_topic_id()),
                              fsync=config.fsync == "batch")
            try:
                os.rename(tmp, final)
            except OSError:
                raise TopicExistsError(f"topic {name!r} already exists in {self.path}") from None
        finally:
            if os.path.exists(tmp):
                shutil.rmtree(tmp, ignore_errors=True)
        if config.fsync == "batch":
            fsync_dir(os.path.dirname(final))
        return self.topic(name)

    def topic(self, name):
        """The topic `name`; UnknownTopicError if it does not exist."""
        self._check()
        t = self._topics.get(name)
        if t is None:
            validate_topic_name(name)
        path = os.path.join(self._topic_dir(name) if t is None else t.dir, "topic.json")
        try:
            st = os.stat(path)
        except FileNotFoundError:
            self._topics.pop(name, None)
            raise UnknownTopicError(f"unknown topic {name!r} in {self.path}; create it with "
                                    f"log.create_topic({name!r}, partitions=...)") from None
        stamp = (st.st_ino, st.st_mtime_ns, st.st_size)
        if t is not None and t.stamp == stamp:
            return t
        with self._lock:
            try:
                doc = read_json(path)
                config = TopicConfig.from_json(doc)
                dir_ino = os.stat(os.path.dirname(path)).st_ino
            except FileNotFoundError:
                raise UnknownTopicError(f"unknown topic {name!r} in {self.path}") from None
            if t is not None and t.dir_ino == dir_ino and t.topic_id == topic_id_of(doc):
                # same topic, settings changed (a re-created topic may reuse the inode number,
                # never the topic id)
                t.config = config
                t.stamp = stamp
                return t
            if t is not None:  # deleted and re-created by someone: a new topic
                t.close()
            t = Topic(self, name, config, stamp, topic_id_of(doc), on_touch=self._touch, on_roll=self._on_roll)
            t.dir_ino = dir_ino
            self._topics[name] = t
            return t

    def topics(self):
        """Names of all topics, sorted."""
        self._check()
        root = os.path.join(self.path, "topics")
        return sorted(n for n in os.listdir(root)
                      if is_valid_topic_name(n) and os.path.exists(os.path.join(root, n, "topic.json")))

    def delete_topic(self, name, *, progress=None):
        """Delete a topic, all its data and every group's committed offsets of it.
        UnknownTopicError if absent. Processes that have it open notice on their next
        lookup; a topic created again under the name is a new incarnation (a new
        `topic_id`), which no offset of this one applies to.

        The topic is gone for every process at once (its directory is renamed away); its
        files are removed after that. `progress(done, total)`, if given, is called as the
        partition directories are removed (a topic of many partitions takes a while)."""
        self._check()
        validate_topic_name(name)
        final = self._topic_dir(name)
        if not os.path.exists(os.path.join(final, "topic.json")):
            raise UnknownTopicError(f"unknown topic {name!r} in {self.path}")
        # Its committed offsets go first, while no newer incarnation of the name can exist
        # (a commit racing with this keeps the deleted topic id, so it is never read).
        self.offset_store.forget_topic(name)
        grave = os.path.join(self.path, "topics", f"~deleted~{name[:200]}~{secrets.token_hex(6)}")
        try:
            os.rename(final, grave)
        except FileNotFoundError:
            raise UnknownTopicError(f"unknown topic {name!r} in {self.path}") from None
        with self._lock:
            t = self._topics.pop(name, None)
            if t is not None:
                t.close()
        if progress is not None:
            try:
                entries = [e.path for e in os.scandir(grave) if e.is_dir(follow_symlinks=False)]
            except OSError:
                entries = []
            for i, path in enumerate(entries, 1):
                shutil.rmtree(path, ignore_errors=True)
                progress(i, len(entries))
        shutil.rmtree(grave, ignore_errors=True)

    # -- clients ---------------------------------------------------------------------------
    def producer(self, **options):
        """A new Producer writing to this log (see `eventlog.clients.producer.Producer` for options)."""
        self._check()
        if options.get("transactional_id") is not None:
            from eventlog.clients.transactional import TransactionalProducer
            return TransactionalProducer(self, self.transaction_coordinator(), member_check=self._check_member,
                                         **options)
        options.pop("transactional_id", None)
        from eventlog.clients.producer import Producer
        options.setdefault("clock", self.clock)
        p = Producer(self, **options)
        self._producers.add(p)
        return p

    def consumer(self, **options):
        """A new Consumer reading this log (see `eventlog.clients.consumer.Consumer` for options)."""
        self._check()
        from eventlog.clients.consumer import Consumer
        if options.get("isolation_level") == "read_committed":
            options.setdefault("transaction_coordinator", self.transaction_coordinator())
        return Consumer(self, _coordinator_factory=self._group_membership, **options)

    def _group_membership(self, control, **subscription):
        """The consumers' group coordinator factory (see `Consumer`): the group layer is
        imported on the first `subscribe`, so a consumer of assigned partitions never loads it
        (3-11 ms on the first consumer of a process)."""
        from eventlog.groups.membership import coordinator_factory
        return coordinator_factory(self.offset_store, self.clock)(control, **subscription)

    def transaction_coordinator(self, *, clock=None, fault=None):
        """The transaction coordinator of this log (`eventlog.transactions.coordinator`):
        `list()` / `open_transactions()` show the state of every transactional id, `abort(id)`
        aborts a stuck transaction. `clock` (ms) and `fault` are for tests."""
        self._check()
        from eventlog.transactions.coordinator import TransactionCoordinator
        kw = {} if clock is None else {"clock": clock}
        return TransactionCoordinator(self.path, lambda t, p: self.topic(t).partition(p),
                                      self.offset_store, fault=fault, **kw)

    def group(self, group_id):
        """The consumer group `group_id` (a `ConsumerGroup`: members, assignment, committed
        offsets, lag, reset_offsets, delete); it need not exist yet."""
        self._check()
        from eventlog.groups.admin import ConsumerGroup
        return ConsumerGroup(self, group_id, self.offset_store)

    def _check_member(self, group_id, member_id, generation):
        self.group(group_id).check_member(member_id, generation)

    def groups(self):
        """Ids of the consumer groups with committed offsets or members, sorted."""
        self._check()
        from eventlog.groups.admin import list_groups
        return list_groups(self.path, self.offset_store)

    # -- descriptor budget -----------------------------------------------------------------
    def _touch(self, partition):
        od = self._open
        try:
            od.move_to_end(partition)
        except KeyError:
            with self._lock:
                od[partition] = None
                while len(od) > self._max_open:
                    old, _ = od.popitem(last=False)
                    old.release_idle()

    # -- callbacks given to partitions --------------------------------------------------------
    def _on_roll(self, partition):
        """A writer rolled `partition` (it holds the append lock): retention, best effort."""
        _schedule.on_roll(partition, self.clock)

    def maintain(self, topics=None, *, _stop=None):
        """Apply retention and compaction now to every partition (or those of `topics`).

        Returns {TopicPartition: {"segments_deleted", "bytes_freed", "records_cleaned",
        "segments_cleaned", "skipped"}} (skipped is "busy" when a run in another process or
        thread holds that partition). Safe while other processes read and write."""
        self._check()
        names = self.topics() if topics is None else ([topics] if isinstance(topics, str) else list(topics))
        out = {}
        for name in names:
            try:
                t = self.topic(name)
            except UnknownTopicError:
                continue  # deleted meanwhile
            for p in t.partitions:
                if _stop is not None and _stop.is_set():
                    return out
                if not os.path.isdir(p.dir):
                    continue
                out[p.tp] = _schedule.maintain_partition(p, stop=_stop, clock=self.clock)
        return out

    def verify(self, topics=None, *, deep=False):
        """Check every partition of `topics` (a name or names; None: all) against the storage
        invariants (see `Partition.check`) and return a `VerifyReport`: `.ok` (no error),
        `.problems` (every `Problem` found), `.partitions` (a `PartitionReport` each) and
        totals (`segments`, `records`, `bytes`, `quarantine_files`, `quarantined_bytes`).
        Committed offsets are checked too (`eventlog.offsets.check_committed_offsets`): one
        of another topic incarnation, of a missing partition or past the end offset is an
        error; one before the start offset is "info" (normal after retention).
        `eventlog verify` prints the same report."""
        self._check()
        from eventlog.storage import check as _check
        return _check.verify_log(self, topics, deep=deep, sources=VERIFY_SOURCES)

    def _start_maintenance(self, interval):
        """`background_maintenance=True` (every 60 s) or a number of seconds (of `self.clock`)."""
        if interval is True:
            interval = 60.0
        if isinstance(interval, bool) or not isinstance(interval, (int, float)) or interval <= 0:
            raise InvalidArgumentError(
                f"background_maintenance must be True, False or a number of seconds > 0, got {interval!r}")
        self._maintenance = _schedule.Maintainer(
            lambda stop: self.maintain(_stop=stop), float(interval), is_closed=lambda: self._closed,
            clock=self.clock)


# -- checks the api layer adds to `verify` (storage must not import the layers above it) -------

_OFFSET_SEVERITY = {"before-start": "info"}  # normal after retention; every other kind: error


def committed_offset_problems(log, topic_names=None):
    """`eventlog.offsets.check_committed_offsets` as storage `Problem`s (a `verify` source):
    of the topics named (None: every committed offset, also of topics that no longer exist)."""
    from eventlog.offsets import check_committed_offsets
    from eventlog.storage.check import Problem
    wanted = None if topic_names is None else set(topic_names)
    return [Problem(_OFFSET_SEVERITY.get(p.kind, "error"), p.tp.topic, p.tp.partition,
                    f"{p.message} ({p.kind})", offsets=(p.offset, p.offset))
            for p in check_committed_offsets(log) if wanted is None or p.tp.topic in wanted]


#: The checks `Log.verify` and `eventlog verify` run beside the storage checker.
VERIFY_SOURCES = (committed_offset_problems,)
