"""The Consumer: reads assigned partitions, tracks positions, commits offsets.

Owns: the assignment (manual `assign`, or given by the group layer through `subscribe`),
one fetch position per assigned partition, pausing, resolving a missing or out-of-range
position (`auto_offset_reset`), waiting for data (inotify wake-ups, any process's appends),
and committing positions to an `OffsetStore`.

Invariants:
- A position only moves past records `poll` returned (or by an explicit seek/reset).
- The committed offset is the offset of the next record to read, as in Kafka.
- `poll` takes from every assigned, unpaused partition in turn (the starting partition
  rotates), so no partition starves another; at most `max_records` and about
  `fetch_max_bytes` are returned, and no more than one read chunk per partition is held.
- A consumer is used by one thread at a time (as Kafka's); `close` may come from another.
- Iterating (`for rec in consumer`) counts a record as returned when it is yielded: while an
  iteration is under way, `position` and `commit()` stop at the first record not yet yielded,
  and anything that changes positions (poll, seek, pause, assign, ...) first moves the
  positions back to the records not yet yielded (and ends that iteration's buffer).

The group seam: this module never imports the group layer. `subscribe` calls the coordinator
factory the Log passed in (`_coordinator_factory`) with an `AssignmentControl`, the narrow
interface through which a group coordinator drives this consumer (sets its assignment,
reads positions, commits, watches its wake-up directory). A Consumer made without a
factory cannot subscribe (it can `assign`).
"""
import gc
import itertools
import os
import threading
import time

from eventlog.offsets import accepts_topic_ids
from eventlog._os.fs import check_usable, fork_generation
from eventlog._os.fs import wrap_public_methods
from eventlog._os.wakeup import DirWatcher
from eventlog.storage.reader import FetchState
from eventlog.transactions import isolation as _isolation
from eventlog.errors import (ConsumerClosedError, CorruptLogError, EventLogError, ForkedProcessError,
                     IllegalStateError, InvalidArgumentError, InvalidTypeError, LogClosedError,
                     NoOffsetForPartitionError, OffsetOutOfRangeError,
                     SerializationError, UnknownTopicError)
from eventlog.record import Record, TopicPartition

_RESETS = ("earliest", "latest", "error")


def as_topic_partitions(partitions, what):
    """`partitions` (one TopicPartition, or an iterable of (topic, partition) pairs) as a list
    of TopicPartition; InvalidTypeError naming `what` otherwise. Shared by every back end's
    consumer."""
    if isinstance(partitions, TopicPartition):
        return [partitions]
    if isinstance(partitions, (str, bytes)) or not hasattr(partitions, "__iter__"):
        raise InvalidTypeError(f"{what} takes a list of TopicPartition, got {partitions!r}")
    out = []
    for tp in partitions:
        if not (isinstance(tp, tuple) and len(tp) == 2 and isinstance(tp[0], str) and type(tp[1]) is int):
            raise InvalidTypeError(f"{what}: expected TopicPartition(topic, partition), got {tp!r}")
        out.append(TopicPartition(tp[0], tp[1]))
    return out


class AssignmentControl:
    """What a group coordinator may do with the consumer that subscribed (its only way in).

    Public, documented, and not exported at the top level: the group layer (above this
    module) is its user. Made by `Consumer.subscribe` and given to the coordinator factory.

    Attributes: `group_id`, `enable_auto_commit`, `log_path` (the log's directory),
    `offset_store` (the consumer's store), `store_accepts_topic_ids`.
    Methods (on the consumer's thread, except as noted):
    - `assign(tps)`: replace the assignment with `tps` (positions of partitions that stay are
      kept), leaving out partitions whose topic no longer exists;
    - `assignment()`: the set of assigned partitions;
    - `positions(tps)`: {tp: position} of those of `tps` whose position is known;
    - `commit(offsets)`: `Consumer.commit(offsets)`;
    - `watch_wakeups(directory)` / `unwatch_wakeups(directory)`: a write in `directory`
      wakes a `poll` that sleeps (any thread may write there).
    """

    __slots__ = ("group_id", "enable_auto_commit", "log_path", "offset_store",
                 "store_accepts_topic_ids", "assign", "assignment", "positions", "commit",
                 "watch_wakeups", "unwatch_wakeups")

    def __init__(self, *, group_id, enable_auto_commit, log_path, offset_store,
                 store_accepts_topic_ids, assign, assignment, positions, commit,
                 watch_wakeups, unwatch_wakeups):
        self.group_id = group_id
        self.enable_auto_commit = enable_auto_commit
        self.log_path = log_path
        self.offset_store = offset_store
        self.store_accepts_topic_ids = store_accepts_topic_ids
        self.assign = assign
        self.assignment = assignment
        self.positions = positions
        self.commit = commit
        self.watch_wakeups = watch_wakeups
        self.unwatch_wakeups = unwatch_wakeups


class _Assigned:
    __slots__ = ("tp", "part", "state", "paused", "topic_id")

    def __init__(self, tp, part, topic_id):
        self.tp = tp
        self.part = part
        self.topic_id = topic_id  # the topic's incarnation the position belongs to
        self.state = None     # FetchState once the position is known
        self.paused = False


def check_consumer_options(group_id, enable_auto_commit, auto_offset_reset, auto_commit_interval_ms,
                           max_poll_records, fetch_max_bytes, max_poll_interval_ms, session_timeout_ms,
                           key_deserializer, value_deserializer, isolation_level):
    """Refuse bad consumer options (InvalidTypeError / InvalidArgumentError naming the value
    and what is allowed): the one check of the options every back end's consumer shares."""
    if group_id is not None and not isinstance(group_id, str):
        raise InvalidTypeError(f"group_id must be a str or None, got {type(group_id).__name__}")
    if enable_auto_commit is not None and not isinstance(enable_auto_commit, bool):
        raise InvalidTypeError(f"enable_auto_commit must be True, False or None (the default: on "
                               f"with a group_id), got {enable_auto_commit!r}")
    if enable_auto_commit and group_id is None:
        # Kafka's consumer refuses this too ("enable.auto.commit cannot be set to true when
        # default group id (null) is used"): there is no group to commit to
        raise InvalidArgumentError(
            "enable_auto_commit=True needs a group_id (commits belong to a consumer group): pass "
            "group_id=..., or leave enable_auto_commit unset / False for a consumer without a group")
    if auto_offset_reset not in _RESETS:
        raise InvalidArgumentError(f"auto_offset_reset must be one of {', '.join(map(repr, _RESETS))}; "
                                   f"got {auto_offset_reset!r}")
    for name, v, lo in (("auto_commit_interval_ms", auto_commit_interval_ms, 0),
                        ("max_poll_records", max_poll_records, 1), ("fetch_max_bytes", fetch_max_bytes, 1),
                        ("max_poll_interval_ms", max_poll_interval_ms, 1),
                        ("session_timeout_ms", session_timeout_ms, 1)):
        if type(v) is not int or v < lo:
            raise InvalidArgumentError(f"{name} must be an int >= {lo}, got {v!r}")
    for name, fn in (("key_deserializer", key_deserializer), ("value_deserializer", value_deserializer)):
        if fn is not None and not callable(fn):
            raise InvalidTypeError(f"{name} must be a callable (bytes -> object), got {fn!r}")
    if isolation_level not in _isolation.ISOLATION_LEVELS:
        raise InvalidArgumentError(f"isolation_level must be one of {', '.join(map(repr, _isolation.ISOLATION_LEVELS))}; "
                                   f"got {isolation_level!r}")


@wrap_public_methods(where=lambda c: getattr(getattr(c, "_log", None), "path", None))
class Consumer:
    """Reads records from a Log. Create with `log.consumer(...)`; a context manager.

    Options: group_id (None: no group, no commits), auto_offset_reset ("latest" as in Kafka,
    "earliest", "error"), enable_auto_commit (default: on with a group_id, off without one, as
    in Kafka; True without a group_id is refused, as Kafka refuses it),
    auto_commit_interval_ms (5000), key_deserializer / value_deserializer, offset_store
    (default: the log's file-backed store), max_poll_records (500), fetch_max_bytes
    (50 MiB); the group options (partition_assignment_strategy, max_poll_interval_ms,
    group_instance_id, session_timeout_ms) are used by `subscribe`; isolation_level
    ("read_uncommitted", Kafka's default: every record; "read_committed": only records of
    committed transactions, up to the last stable offset; docs/transactions.md).

    `_coordinator_factory` is the Log's: `factory(control, topics=, pattern=, listener=,
    **group options)` returns the group membership `subscribe` joins (see
    `AssignmentControl`). Without one, `subscribe` is refused.
    """

    def __init__(self, log, *, group_id=None, auto_offset_reset="latest", enable_auto_commit=None,
                 auto_commit_interval_ms=5000, key_deserializer=None, value_deserializer=None,
                 offset_store=None, max_poll_records=500, fetch_max_bytes=50 << 20,
                 partition_assignment_strategy="cooperative-sticky", max_poll_interval_ms=300_000,
                 group_instance_id=None, session_timeout_ms=45_000, client_id=None,
                 isolation_level="read_uncommitted", transaction_coordinator=None,
                 _coordinator_factory=None):
        check_consumer_options(group_id, enable_auto_commit, auto_offset_reset, auto_commit_interval_ms,
                               max_poll_records, fetch_max_bytes, max_poll_interval_ms, session_timeout_ms,
                               key_deserializer, value_deserializer, isolation_level)
        self._log = log
        self.group_id = group_id
        # transactions (docs/transactions.md): read_committed reads through a CommittedReader
        self.isolation_level = isolation_level
        self._committed_reader = None
        self._txn_coordinator = transaction_coordinator
        if isolation_level == _isolation.READ_COMMITTED:
            expire = None if transaction_coordinator is None else transaction_coordinator.expire
            self._committed_reader = _isolation.CommittedReader(expire)
        self.auto_offset_reset = auto_offset_reset
        self.enable_auto_commit = group_id is not None and enable_auto_commit is not False
        self.auto_commit_interval = auto_commit_interval_ms / 1000.0
        self._kdes = key_deserializer
        self._vdes = value_deserializer
        if offset_store is None and group_id is not None:
            offset_store = log.offset_store    # the Log's one store (one fsync policy)
        self._store = offset_store
        self._coordinator_factory = _coordinator_factory
        # whether commits and lookups can name the topic incarnation (stores made for 0.1 cannot)
        self._store_ids = offset_store is not None and accepts_topic_ids(offset_store)
        self.max_poll_records = max_poll_records
        self.fetch_max_bytes = fetch_max_bytes
        self.group_options = dict(partition_assignment_strategy=partition_assignment_strategy,
                                  max_poll_interval_ms=max_poll_interval_ms,
                                  group_instance_id=group_instance_id,
                                  session_timeout_ms=session_timeout_ms, client_id=client_id)
        self._assigned = {}           # tp -> _Assigned, in assignment order
        self._order = []              # list of _Assigned, for rotation
        self._rot = 0
        self._watcher = None
        self._closed = False
        self._last_commit = time.monotonic()
        self._iter_buf = None         # the records `for rec in consumer` is yielding,
        self._iter_it = None          # ... the list iterator it yields them from,
        self._iter_chunks = None      # ... and their [(tp, end index)] runs
        self._last_chunks = []        # [(tp, end index)] runs of the last _fetch's records
        self._group = None            # the group membership, when subscribed
        self._lock = threading.RLock()
        self._fork = fork_generation()
        self._pid = os.getpid()

    # -- lifecycle -------------------------------------------------------------------------
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _check_usable(self):
        check_usable(self._closed, self._fork, self._closed_error, self._forked_error)

    def _check(self):
        """Assert the consumer's invariants (tests call it after every step): each assigned
        partition's handle is that partition's; a known position is an offset >= 0, and one
        located in the log (a fetch or poll has been there) is at most the partition's end
        offset (ends never move back; a start offset may move past it, by retention or
        delete_records, until the next fetch resets it); the paused partitions are a subset
        of the assigned ones."""
        for tp, a in self._assigned.items():
            assert a.tp == tp and (a.part.topic, a.part.partition) == (tp.topic, tp.partition), (tp, a.tp)
            if a.state is not None:
                assert a.state.offset >= 0, (tp, a.state.offset)
                if a.state.seg is not None:
                    assert a.state.offset <= a.part.end_offset, (tp, a.state.offset, a.part.end_offset)
        assert self.paused() <= set(self._assigned)

    @staticmethod
    def _closed_error():
        return ConsumerClosedError("the consumer is closed; create a new one with log.consumer()")

    def _forked_error(self):
        return ForkedProcessError(
                f"this Consumer was created in process {self._pid} and used in forked child "
                f"{os.getpid()}; its files and group membership belong to the parent: open the "
                f"log in the child (eventlog.open) and create a new Consumer there")

    def close(self, autocommit=True):
        """Commit (with enable_auto_commit), leave the group, and release everything. In a
        forked child it only marks the consumer closed (all it holds is the parent's)."""
        if self._closed:
            return
        if self._fork != fork_generation():
            self._closed = True
            return
        try:
            if autocommit and self.enable_auto_commit and self._assigned:
                try:
                    self.commit()
                except EventLogError:
                    pass
        finally:
            try:
                if self._group is not None:  # before _closed: leaving may still use the consumer
                    self._group.close()
                    self._group = None
            finally:
                self._closed = True
                if self._watcher is not None:
                    self._watcher.close()
                    self._watcher = None

    # -- assignment ------------------------------------------------------------------------
    def assign(self, partitions):
        """Take exactly these partitions (no group membership). Positions start from the
        committed offset (with a group_id) or `auto_offset_reset`."""
        self._check_usable()
        if self._group is not None:
            raise IllegalStateError("assign() after subscribe(): call unsubscribe() first")
        tps = as_topic_partitions(partitions, "assign")
        self._set_assignment(tps)

    def _assign_existing(self, tps):
        """Set the assignment to `tps`, leaving out partitions whose topic vanished."""
        tps = sorted(tps)
        try:
            self._set_assignment(tps)
        except UnknownTopicError:
            ok = []
            for tp in tps:
                try:
                    self._log.topic(tp.topic).partition(tp.partition)
                except UnknownTopicError:
                    continue
                ok.append(tp)
            self._set_assignment(ok)

    def _known_positions(self, tps):
        out = {}
        for tp in tps:
            a = self._assigned.get(tp)
            if a is not None and a.state is not None:
                out[tp] = a.state.offset
        return out

    def _watch_wakeups(self, directory):
        w = self._watcher
        if w is None:
            w = self._watcher = DirWatcher()
        w.watch(directory)

    def _unwatch_wakeups(self, directory):
        w = self._watcher
        if w is not None and directory is not None:
            try:
                w.unwatch(directory)
            except Exception:
                pass

    def _assignment_control(self):
        return AssignmentControl(
            group_id=self.group_id, enable_auto_commit=self.enable_auto_commit,
            log_path=self._log.path, offset_store=self._store,
            store_accepts_topic_ids=self._store_ids, assign=self._assign_existing,
            assignment=lambda: set(self._assigned), positions=self._known_positions,
            commit=self.commit, watch_wakeups=self._watch_wakeups,
            unwatch_wakeups=self._unwatch_wakeups)

    def _set_assignment(self, tps):
        """Replace the assignment, keeping positions of partitions that stay."""
        parts = {}
        self._sync_iter()
        for tp in tps:
            if tp in parts:
                continue
            a = self._assigned.get(tp)
            if a is None:
                topic = self._log.topic(tp.topic)
                a = _Assigned(tp, topic.partition(tp.partition), topic.topic_id)
            parts[tp] = a
        old = set(self._assigned) - set(parts)
        self._assigned = parts
        self._order = list(parts.values())
        w = self._watcher
        if w is None and parts:
            w = self._watcher = DirWatcher()
        for a in parts.values():
            os.makedirs(a.part.dir, exist_ok=True)
            w.watch(a.part.dir)
        if w is not None:
            for tp in old:
                d = os.path.join(self._log.path, "topics", tp.topic, str(tp.partition))
                try:
                    w.unwatch(d)
                except (OSError, KeyError, ValueError):
                    pass

    def unassign(self):
        self._check_usable()
        self._set_assignment([])

    def assignment(self):
        """The set of assigned TopicPartitions."""
        self._check_usable()
        return set(self._assigned)

    def subscribe(self, topics=None, pattern=None, listener=None):
        """Join the consumer group `group_id` and consume the partitions it assigns to this
        member (see docs/groups.md).

        Subscribing again while a member of a cooperative group updates the subscription in
        place (KIP-429): only partitions of topics no longer subscribed are revoked, and only
        the new ones are assigned. With the eager protocol the member leaves and joins anew."""
        self._check_usable()
        if self.group_id is None:
            raise IllegalStateError("subscribe() needs a group_id; use assign() without a group")
        if self._coordinator_factory is None:
            raise IllegalStateError(
                "subscribe() needs a group coordinator, which the Log provides: create the "
                "consumer with log.consumer(group_id=...), not Consumer(log, ...) directly "
                "(or use assign())")
        if self._group is not None:
            if self._group.can_update_subscription():
                self._group.update_subscription(topics=topics, pattern=pattern, listener=listener)
                return
            self._group.close()
            self._group = None  # if joining anew fails, no closed membership is left behind
        self._group = self._coordinator_factory(
            self._assignment_control(), topics=topics, pattern=pattern, listener=listener,
            **self.group_options)

    @property
    def max_poll_exceeded(self):
        """True while this consumer is out of its group because `poll` was not called for
        max_poll_interval_ms (the next `poll` reports its partitions lost and joins again;
        a listener's `on_max_poll_interval_exceeded` is called first)."""
        return self._group is not None and self._group.poll_timed_out

    def unsubscribe(self):
        self._check_usable()
        if self._group is not None:
            self._group.close()
            self._group = None
        self._set_assignment([])

    def subscription(self):
        self._check_usable()
        return set(self._group.topics()) if self._group is not None else set()

    # -- positions -------------------------------------------------------------------------
    def _get(self, tp, what):
        a = self._assigned.get(tp)
        if a is None:
            raise IllegalStateError(f"{what}: {tp} is not assigned to this consumer "
                                    f"(assigned: {sorted(self._assigned) or 'nothing'})")
        return a

    def _resolve(self, a):
        """Give `a` a position: committed offset, else auto_offset_reset."""
        off = None
        if self._store is not None and self.group_id is not None:
            if self._store_ids:   # an offset of another incarnation of the topic is no offset
                off = self._store.committed(self.group_id, [a.tp],
                                            topic_ids={a.tp.topic: a.topic_id}).get(a.tp)
            else:
                off = self._store.committed(self.group_id, [a.tp]).get(a.tp)
        if off is None:
            off = self._reset_offset(a, None)
        a.state = FetchState(off)

    def _reset_offset(self, a, bad):
        policy = self.auto_offset_reset
        p = a.part
        if policy == "earliest":
            return p.start_offset
        if policy == "latest":
            return self._end_offset(a.tp, p)
        if bad is None:
            raise NoOffsetForPartitionError(
                f"{a.tp} has no committed offset and auto_offset_reset='error'; seek() first")
        raise OffsetOutOfRangeError(
            f"position {bad} of {a.tp} is out of range: valid offsets are "
            f"{p.start_offset}..{p.end_offset} (auto_offset_reset='error')")

    def position(self, tp):
        """The offset of the next record `poll` will return for `tp`."""
        self._check_usable()
        a = self._get(tp, "position")
        if self._iter_it is not None:
            off = self._iter_positions().get(a.tp)
            if off is not None:
                return off
        if a.state is None:
            self._resolve(a)
        return a.state.offset

    def seek(self, tp, offset):
        """Make the next poll of `tp` start at `offset`."""
        self._check_usable()
        if type(offset) is not int or offset < 0:
            raise InvalidArgumentError(f"seek offset must be an int >= 0, got {offset!r}")
        a = self._get(tp, "seek")
        self._sync_iter()
        a.state = FetchState(offset)

    def _targets(self, partitions, what):
        if partitions is None or partitions == ():
            return list(self._assigned.values())
        return [self._get(tp, what) for tp in as_topic_partitions(partitions, what)]

    def seek_to_beginning(self, partitions=None):
        """Seek `partitions` (default: all assigned) to their start offsets."""
        self._check_usable()
        self._sync_iter()
        for a in self._targets(partitions, "seek_to_beginning"):
            a.state = FetchState(a.part.start_offset)

    def seek_to_end(self, partitions=None):
        """Seek `partitions` (default: all assigned) to their end offsets (the last stable
        offset for a read_committed consumer, as in Kafka)."""
        self._check_usable()
        self._sync_iter()
        for a in self._targets(partitions, "seek_to_end"):
            a.state = FetchState(self._end_offset(a.tp, a.part))

    def pause(self, partitions):
        self._check_usable()
        targets = self._targets(partitions, "pause")
        self._sync_iter()  # records of a paused partition not yet yielded are fetched again later
        for a in targets:
            a.paused = True

    def resume(self, partitions):
        self._check_usable()
        for a in self._targets(partitions, "resume"):
            a.paused = False

    def paused(self):
        self._check_usable()
        return {a.tp for a in self._assigned.values() if a.paused}

    # -- offsets of the log ----------------------------------------------------------------
    def _partition(self, tp):
        tp = as_topic_partitions([tp], "offsets")[0]
        return tp, self._log.topic(tp.topic).partition(tp.partition)

    def beginning_offsets(self, partitions):
        self._check_usable()
        return {tp: p.start_offset for tp, p in map(self._partition, partitions)}

    def _end_offset(self, tp, part):
        """Where a poll of `tp` can reach: `part.end_offset`, or for read_committed the last
        stable offset (the first offset of the oldest open transaction). The end is read
        first, then the transaction coordinator asked: a transaction records its partitions
        there before writing to them, so when none lists `tp` the end is stable; else the
        committed reader's view of `tp` says (it scans only what was written since it last
        looked)."""
        if self._committed_reader is None:
            return part.end_offset
        end = part.end_offset
        coord = self._txn_coordinator
        if coord is not None and not any([tp.topic, tp.partition] in st["partitions"]
                                         for st in coord.open_transactions()):
            return end
        return self._committed_reader.end_offset(tp, part)

    def end_offsets(self, partitions):
        """{tp: end offset}: the offset the next record written will get; for a
        read_committed consumer the last stable offset, as Kafka's consumers report it."""
        self._check_usable()
        return {tp: self._end_offset(tp, p) for tp, p in map(self._partition, partitions)}

    def offsets_for_times(self, timestamps):
        """{tp: first offset with timestamp >= ts, or None} for {tp: ts_ms}."""
        self._check_usable()
        out = {}
        for tp, ts in timestamps.items():
            tp, p = self._partition(tp)
            out[tp] = p.offset_for_time(ts)
        return out

    def partitions_for_topic(self, topic):
        self._check_usable()
        return set(range(self._log.topic(topic).config.partitions))

    def topics(self):
        self._check_usable()
        return self._log.topics()

    # -- commits ---------------------------------------------------------------------------
    def group_metadata(self):
        """This consumer's group, for `send_offsets_to_transaction` (needs a group_id): the
        group id and, while subscribed, its member id and generation (KIP-447: offsets of a
        member of an older generation are refused)."""
        if self.group_id is None:
            raise IllegalStateError("group_metadata() needs a group_id: create the consumer with group_id=...")
        from eventlog.clients.transactional import GroupMetadata
        g = self._group
        if g is None:
            return GroupMetadata(self.group_id)
        return GroupMetadata(self.group_id, generation_id=g.generation, member_id=g.member_id,
                             group_instance_id=self.group_options["group_instance_id"])

    def commit(self, offsets=None, metadata=None):
        """Commit `offsets` ({tp: next offset to read}), or the current positions of all
        assigned partitions. Needs a group_id. `metadata` ({tp: str or None}, for partitions
        among `offsets`) is stored with the offsets (None: null metadata); values of
        `offsets` with `.offset` and `.metadata` (an OffsetAndMetadata) give both."""
        self._check_usable()
        if self.group_id is None:
            raise IllegalStateError("commit() needs a group_id: create the consumer with group_id=...")
        if offsets is None:
            offsets = {a.tp: a.state.offset for a in self._assigned.values() if a.state is not None}
            if self._iter_it is not None:  # iterating: only what was yielded counts as consumed
                for tp, off in self._iter_positions().items():
                    if tp in offsets:
                        offsets[tp] = off
        else:
            if not hasattr(offsets, "items"):
                raise InvalidTypeError(f"commit(offsets) takes a dict {{TopicPartition: offset}}, got {offsets!r}")
            given = offsets
            offsets = {TopicPartition(*tp): getattr(o, "offset", o) for tp, o in given.items()}
            if metadata is None and any(hasattr(o, "metadata") for o in given.values()):
                metadata = {TopicPartition(*tp): o.metadata for tp, o in given.items()
                            if hasattr(o, "metadata")}
        if metadata is not None:
            if not hasattr(metadata, "items"):
                raise InvalidTypeError(f"commit(metadata=...) takes a dict {{TopicPartition: str or None}}, "
                                       f"got {metadata!r}")
            metadata = {TopicPartition(*tp): m for tp, m in metadata.items()}
            extra = sorted(set(metadata) - set(offsets))
            if extra:
                raise InvalidArgumentError(f"commit: metadata given for {extra}, which are not being committed")
        if not offsets:
            return
        if self._group is not None:
            self._group.commit(offsets, self._topic_ids(offsets), metadata)
        elif self._store_ids:
            self._store.commit(self.group_id, offsets, metadata, topic_ids=self._topic_ids(offsets))
        else:
            self._store.commit(self.group_id, offsets, metadata)
        self._last_commit = time.monotonic()

    def _topic_ids(self, offsets):
        """{topic: incarnation id} of the assigned partitions among `offsets` (the store
        takes the live id for the others)."""
        ids = {}
        for tp in offsets:
            a = self._assigned.get(tp)
            if a is not None:
                ids[tp.topic] = a.topic_id
        return ids

    def committed(self, tp):
        """The committed offset of `tp` for this group, or None."""
        self._check_usable()
        if self.group_id is None:
            return None
        tp = as_topic_partitions([tp], "committed")[0]
        return self._store.committed(self.group_id, [tp]).get(tp)

    # -- fetching --------------------------------------------------------------------------
    def poll(self, timeout=0.0, max_records=None):
        """Return the next records of the assigned partitions (a list, possibly empty).

        Waits up to `timeout` seconds (None: forever) for records to arrive from any process.
        """
        self._check_usable()
        if max_records is None:
            max_records = self.max_poll_records
        elif type(max_records) is not int or max_records < 1:
            raise InvalidArgumentError(f"max_records must be an int >= 1, got {max_records!r}")
        if timeout is not None and (not isinstance(timeout, (int, float)) or timeout < 0):
            raise InvalidArgumentError(f"timeout must be seconds >= 0 or None, got {timeout!r}")
        if not self._assigned and self._group is None:
            raise IllegalStateError("poll() with no partitions: call assign([...]) or subscribe([...]) first")
        if self._iter_it is not None:
            self._sync_iter()
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            if self._group is not None:
                self._group.on_poll()
            if self.enable_auto_commit and time.monotonic() - self._last_commit >= self.auto_commit_interval:
                try:
                    self.commit()
                except EventLogError:
                    pass
            w = self._watcher
            if w is not None:
                try:
                    w.drain()
                except LogClosedError:  # close() from another thread
                    if self._closed:
                        return []
                    raise
            recs = self._fetch(max_records)
            if recs:
                return recs
            if self._closed:
                return []
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                return []
            # sleep until an append (inotify), bounded so group duties and new segments
            # are looked at now and then
            left = 0.5 if deadline is None else min(0.5, deadline - now)
            if self._group is not None:
                left = min(left, self._group.poll_interval())
            if w is None:
                time.sleep(left)
            else:
                try:
                    w.wait(left)
                except LogClosedError:
                    if self._closed:
                        return []
                    raise

    def _fetch(self, max_records):
        order = self._order
        n = len(order)
        if not n:
            return []
        out = []
        chunks = self._last_chunks = []
        budget = self.fetch_max_bytes
        start = self._rot % n
        self._rot += 1
        need = max_records
        # Records are tuple subclasses that the cyclic GC never untracks: building tens of
        # thousands of them would trigger collections that traverse them again and again
        # (measured: half of the read time). They hold no cycles, so collect afterwards.
        gc_was_enabled = gc.isenabled()
        if gc_was_enabled:
            gc.disable()
        try:
            out = self._fetch_from(order, start, n, need, budget, out, chunks)
        finally:
            if gc_was_enabled:
                gc.enable()
        if out and (self._kdes is not None or self._vdes is not None):
            out = self._deserialize(out, chunks)
        return out

    def _fetch_from(self, order, start, n, need, budget, out, chunks):
        for i in itertools.chain(range(start, n), range(0, start)):
            a = order[i]
            if a.paused:
                continue
            try:
                st = a.state
                if st is None:
                    self._resolve(a)
                    st = a.state
                recs = self._fetch_part(a, st, need, budget)
                if st.seg is None and not recs:
                    self._out_of_range(a)
                    recs = self._fetch_part(a, a.state, need, budget)
            except (OffsetOutOfRangeError, CorruptLogError):
                if out:
                    break  # return what other partitions gave (their positions moved); raise next time
                raise
            if recs:
                out += recs
                chunks.append((a.tp, len(out)))
                need -= len(recs)
                if need <= 0:
                    break
        return out

    def _fetch_part(self, a, st, need, budget):
        if self._committed_reader is not None:  # read_committed
            return self._committed_reader.fetch(a.tp, a.part, st, need, budget)
        recs = a.part.fetch(st, need, budget)
        if not recs and st.pending is None and st.seg is not None and st.expect > st.offset:
            st.offset = st.expect  # past transaction markers (they hold no record), as Kafka's position
        return recs

    def _rewind(self, recs, chunks, j):
        """Move positions back to recs[j:] (not returned after all); `chunks` are the
        [(tp, end index)] runs of `recs`. Returns the runs of recs[:j]."""
        kept = []
        start = 0
        for tp, end in chunks:
            if j < end:
                a = self._assigned.get(tp)
                if a is not None:
                    a.state = FetchState(recs[max(j, start)].offset)
                if start < j:
                    kept.append((tp, j))
            else:
                kept.append((tp, end))
            start = end
        return kept

    # -- iteration bookkeeping -----------------------------------------------------------------
    def _iter_positions(self):
        """{tp: offset of its first record that the running iteration has not yielded}."""
        buf = self._iter_buf
        idx = len(buf) - self._iter_it.__length_hint__()
        out = {}
        start = 0
        for tp, end in self._iter_chunks:
            if idx < end:
                out[tp] = buf[max(idx, start)].offset
            start = end
        return out

    def _sync_iter(self):
        """End the running iteration's buffer: positions go back to the records it has not
        yielded yet (they will be fetched again), and its generator polls anew."""
        it = self._iter_it
        if it is None:
            return
        buf = self._iter_buf
        idx = len(buf) - it.__length_hint__()
        chunks = self._iter_chunks
        self._iter_it = self._iter_buf = self._iter_chunks = None
        it.__setstate__(len(buf))  # exhausted: the generator's `yield from` ends
        if idx < len(buf):
            self._rewind(buf, chunks, idx)

    def _out_of_range(self, a):
        """The fetch found st.offset outside the log: an empty partition is fine, otherwise
        apply auto_offset_reset."""
        p = a.part
        off = a.state.offset
        start, end = p.start_offset, p.end_offset
        if start <= off <= end:
            return  # nothing there yet (an empty partition): try again later
        a.state = FetchState(self._reset_offset(a, off))

    def _deserialize(self, recs, chunks):
        """Deserialized copies of `recs`. If record j fails, recs[:j] are returned and the
        positions moved back to record j (so nothing is skipped); if j == 0, raises
        SerializationError (with `.topic_partition` and `.offset`): seek past it to go on."""
        kd, vd = self._kdes, self._vdes
        out = []
        for r in recs:
            try:
                k = r.key if kd is None or r.key is None else kd(r.key)
                v = r.value if vd is None or r.value is None else vd(r.value)
            except Exception as e:
                self._last_chunks = self._rewind(recs, chunks, len(out))
                if out:
                    return out  # the failing record comes first in the next poll, which raises
                err = SerializationError(
                    f"deserializing the record at {r.topic}[{r.partition}] offset {r.offset} failed: "
                    f"{type(e).__name__}: {e}; its position stays there: seek(tp, {r.offset + 1}) to skip it")
                err.topic_partition = TopicPartition(r.topic, r.partition)
                err.offset = r.offset
                raise err from e
            out.append(tuple.__new__(Record, (r.topic, r.partition, r.offset, r.timestamp_ms, k, v, r.headers)))
        return out

    def __iter__(self):
        """Yield records forever (blocking), until the consumer is closed. A record counts
        as consumed (for `position` and `commit()`) once it has been yielded."""
        self._check_usable()
        return self._iterate()

    def _iterate(self):
        while not self._closed:
            try:
                buf = self.poll(timeout=0.5)
            except ConsumerClosedError:  # closed from another thread
                return
            if buf:
                it = iter(buf)
                self._iter_buf, self._iter_chunks, self._iter_it = buf, self._last_chunks, it
                yield from it
                if self._iter_it is it:
                    self._iter_it = self._iter_buf = self._iter_chunks = None
