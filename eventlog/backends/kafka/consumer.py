"""KafkaConsumer: eventlog's Consumer API (assign, subscribe with a listener, poll returning
eventlog Records, seek, commit, pause) over a confluent-kafka Consumer.

Rules it keeps (the directory Consumer's semantics, not librdkafka's defaults):
- A partition's position is exact and pinned: a partition not fetched yet gets its committed
  offset, else `auto_offset_reset`, resolved when first asked (position, commit) and sought
  to, so a later append does not move a "latest" position that was already reported.
- Commits carry positions (the next offset to read) as the directory's do; auto-commit is
  done here in poll() every `auto_commit_interval_ms` and in close(), never by librdkafka
  (its stored-offset commits would ignore seeks).
- While iterating (`for rec in consumer`) only yielded records count as consumed: the rest
  of a fetched batch is sought back to before the next poll, seek or commit.
- poll(timeout) returns as soon as records are there (at most max_records), not after the
  timeout (librdkafka's batch consume waits for a full batch).
- Rebalance callbacks run inside poll() and get sorted lists of TopicPartition, never empty.
"""
import re
import threading
import time
import uuid

from eventlog.backends.kafka._client import ck, map_error, unsupported
from eventlog.backends.kafka._client import NO_GROUP_PREFIX, records_from
from eventlog.backends.kafka.transactional import group_metadata_of
from eventlog.clients.consumer import as_topic_partitions, check_consumer_options
from eventlog.errors import (ConsumerClosedError, EventLogError, IllegalStateError, InvalidArgumentError,
                             SerializationError,
                             InvalidTypeError, NoOffsetForPartitionError, UnknownPartitionError)
from eventlog.record import TopicPartition
from eventlog.transactions import isolation as _isolation

_STRATEGIES = {"cooperative-sticky": "cooperative-sticky", "range": "range", "roundrobin": "roundrobin",
               "round_robin": "roundrobin", "sticky": "cooperative-sticky"}


class KafkaConsumer:
    """Reads records from a KafkaLog. Create with `log.consumer(...)`; a context manager.

    Options (the directory Consumer's): group_id, auto_offset_reset ("latest", "earliest",
    "error"), enable_auto_commit (default: on with a group_id), auto_commit_interval_ms,
    key_deserializer / value_deserializer, max_poll_records, fetch_max_bytes,
    partition_assignment_strategy, max_poll_interval_ms, group_instance_id,
    session_timeout_ms, client_id. Kafka-only: config (raw librdkafka settings).
    isolation_level ("read_uncommitted", the default as in Kafka, or "read_committed" ->
    `isolation.level`). `offset_store=` raises UnsupportedOperationError (the group
    coordinator stores offsets)."""

    def __init__(self, log, *, group_id=None, auto_offset_reset="latest", enable_auto_commit=None,
                 auto_commit_interval_ms=5000, key_deserializer=None, value_deserializer=None,
                 offset_store=None, max_poll_records=500, fetch_max_bytes=50 << 20,
                 partition_assignment_strategy="cooperative-sticky", max_poll_interval_ms=300_000,
                 group_instance_id=None, session_timeout_ms=45_000, client_id=None,
                 isolation_level="read_uncommitted", config=None):
        if offset_store is not None:
            raise unsupported("offset_store=", "a Kafka cluster keeps committed offsets in its group "
                              "coordinator (__consumer_offsets); commit with consumer.commit()")
        check_consumer_options(group_id, enable_auto_commit, auto_offset_reset, auto_commit_interval_ms,
                               max_poll_records, fetch_max_bytes, max_poll_interval_ms, session_timeout_ms,
                               key_deserializer, value_deserializer, isolation_level)
        if not isinstance(partition_assignment_strategy, str):
            raise unsupported(f"partition_assignment_strategy={partition_assignment_strategy!r}",
                              f"librdkafka runs one of its own assignors: {', '.join(sorted(_STRATEGIES))} "
                              "(custom Python assignors run only on a directory)")
        if partition_assignment_strategy not in _STRATEGIES:
            raise InvalidArgumentError(f"partition_assignment_strategy must be one of "
                                       f"{', '.join(map(repr, _STRATEGIES))}, got {partition_assignment_strategy!r}")
        self._log = log
        self.group_id = group_id
        self.isolation_level = isolation_level
        self._committed_only = isolation_level == _isolation.READ_COMMITTED
        self.auto_offset_reset = auto_offset_reset
        self.enable_auto_commit = group_id is not None and enable_auto_commit is not False
        self.auto_commit_interval = auto_commit_interval_ms / 1000.0
        self.max_poll_records = max_poll_records
        self._kdes = key_deserializer
        self._vdes = value_deserializer
        self._strategy = _STRATEGIES[partition_assignment_strategy]
        conf = log.client_config(**{
            "group.id": group_id if group_id is not None else NO_GROUP_PREFIX + uuid.uuid4().hex,
            "enable.auto.commit": False, "enable.auto.offset.store": False,
            "auto.offset.reset": auto_offset_reset,
            # as in Kafka, a fetch returns at least one batch however small fetch.max.bytes is;
            # librdkafka wants fetch.max.bytes >= message.max.bytes (>= 1000)
            "fetch.max.bytes": max(1000, fetch_max_bytes), "message.max.bytes": min(1_000_000, max(1000, fetch_max_bytes)),
            "partition.assignment.strategy": self._strategy,
            "max.poll.interval.ms": max_poll_interval_ms, "session.timeout.ms": session_timeout_ms,
            # set always: librdkafka's default is read_committed, Kafka's (and a directory's) is not
            "isolation.level": isolation_level})
        self._group_instance_id = group_instance_id
        if group_instance_id is not None:
            conf["group.instance.id"] = group_instance_id
        if client_id is not None:
            conf["client.id"] = client_id
        if config:
            conf.update(config)
        self._c = ck().Consumer(conf)
        self._mode = None            # None | "assign" | "subscribe"
        self._start = {}             # assign mode: tp -> offset it was (re)assigned at
        self._paused = set()
        self._listener = None
        self._topics = ()
        self._closed = False
        self._last_commit = time.monotonic()
        self._iter_rest = None       # records fetched but not yet yielded by __iter__
        self._iter_i = 0             # ... and how many of them were yielded
        self._lock = threading.RLock()
        log.add_client(self)

    # -- lifecycle ---------------------------------------------------------------------------------
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self):
        return f"<KafkaConsumer {self._log.url!r} group={self.group_id!r}>"

    def _check(self):
        if self._closed:
            raise ConsumerClosedError("the consumer is closed; create a new one with log.consumer()")

    def close(self, autocommit=True):
        """Commit positions (with enable_auto_commit), leave the group, release the client."""
        if self._closed:
            return
        try:
            if autocommit and self.enable_auto_commit and self._mode is not None:
                try:
                    self.commit()
                except EventLogError:
                    pass
        finally:
            self._closed = True
            try:
                self._c.close()
            except (RuntimeError, ck().KafkaException):
                pass
            self._log.remove_client(self)

    # -- assignment --------------------------------------------------------------------------------
    def _validate(self, tps):
        counts = {}
        for tp in tps:
            n = counts.get(tp.topic)
            if n is None:
                n = counts[tp.topic] = self._log.partition_count(tp.topic)  # UnknownTopicError
            if not 0 <= tp.partition < n:
                raise UnknownPartitionError(f"topic {tp.topic!r} has no partition {tp.partition}; "
                                            f"it has {n} (0..{n - 1})")

    def assign(self, partitions):
        """Take exactly these partitions (no group membership). Positions start at the committed
        offset (with a group_id) or `auto_offset_reset`."""
        self._check()
        if self._mode == "subscribe":
            raise IllegalStateError("assign() after subscribe(): call unsubscribe() first")
        tps = list(dict.fromkeys(as_topic_partitions(partitions, "assign")))
        self._validate(tps)
        self._sync_iter()
        keep = self._positions([tp for tp in tps if tp in self._start]) if self._start else {}
        self._start = {tp: keep.get(tp, ck().OFFSET_INVALID) for tp in tps}
        self._paused &= set(tps)
        self._apply()
        self._mode = "assign" if tps else None

    def _apply(self):
        T = ck().TopicPartition
        try:
            self._c.assign([T(tp.topic, tp.partition, off) for tp, off in self._start.items()])
            if self._paused:
                self._c.pause([T(tp.topic, tp.partition) for tp in self._paused])
        except ck().KafkaException as e:
            raise map_error(e, "assign") from e

    def unassign(self):
        self._check()
        self._c.unassign()
        self._start = {}
        self._paused = set()
        if self._mode == "assign":
            self._mode = None

    def assignment(self):
        """The set of assigned TopicPartitions."""
        self._check()
        if self._mode == "assign":
            return set(self._start)
        return {TopicPartition(t.topic, t.partition) for t in self._c.assignment()}

    def subscribe(self, topics=None, pattern=None, listener=None):
        """Join the consumer group `group_id` (the cluster's group coordinator assigns the
        partitions); `listener` gets on_partitions_revoked / assigned / lost inside poll()."""
        self._check()
        if self.group_id is None:
            raise IllegalStateError("subscribe() needs a group_id; use assign() without a group")
        if self._mode == "assign":
            raise IllegalStateError("subscribe() after assign(): call unassign() first")
        if (topics is None) == (pattern is None):
            raise InvalidArgumentError("subscribe takes topics=[...] or pattern='regex' (one of them)")
        if pattern is not None:
            pat = pattern.pattern if isinstance(pattern, re.Pattern) else pattern
            if not isinstance(pat, str):
                raise InvalidTypeError(f"pattern must be a str or re.Pattern, got {pattern!r}")
            subs = ["^" + pat.lstrip("^")]
        else:
            if isinstance(topics, str) or not hasattr(topics, "__iter__"):
                raise InvalidTypeError(f"topics must be a list of topic names, got {topics!r}")
            subs = list(topics)
            if not subs:
                raise InvalidArgumentError("subscribe(topics=[]): name at least one topic (or unsubscribe())")
        if listener is not None and not any(hasattr(listener, n) for n in (
                "on_partitions_revoked", "on_partitions_assigned", "on_partitions_lost")):
            raise InvalidTypeError("listener must have on_partitions_revoked / on_partitions_assigned / "
                                   f"on_partitions_lost methods (a ConsumerRebalanceListener), got {listener!r}")
        self._listener = listener
        self._topics = tuple(subs)
        try:
            self._c.subscribe(subs, on_assign=self._on_assign, on_revoke=self._on_revoke, on_lost=self._on_lost)
        except ck().KafkaException as e:
            raise map_error(e, "subscribe") from e
        self._mode = "subscribe"

    def _call(self, name, parts):
        tps = sorted(TopicPartition(p.topic, p.partition) for p in parts)
        if not tps or self._listener is None:
            return
        fn = getattr(self._listener, name, None)
        if fn is None and name == "on_partitions_lost":
            fn = getattr(self._listener, "on_partitions_revoked", None)
        if fn is not None:
            fn(tps)

    def _on_assign(self, _c, parts):
        self._call("on_partitions_assigned", parts)

    def _on_revoke(self, _c, parts):
        if self.enable_auto_commit and parts:
            try:
                self.commit({tp: o for tp, o in self._positions(
                    [TopicPartition(p.topic, p.partition) for p in parts]).items()})
            except EventLogError:
                pass
        self._paused -= {TopicPartition(p.topic, p.partition) for p in parts}
        self._call("on_partitions_revoked", parts)

    def _on_lost(self, _c, parts):
        self._paused -= {TopicPartition(p.topic, p.partition) for p in parts}
        self._call("on_partitions_lost", parts)

    def unsubscribe(self):
        self._check()
        if self._mode == "subscribe":
            self._c.unsubscribe()
            self._mode = None
        else:
            self.unassign()

    def subscription(self):
        self._check()
        return set(self._topics) if self._mode == "subscribe" else set()

    # -- positions ---------------------------------------------------------------------------------
    def _require(self, tps, what):
        have = self.assignment()
        for tp in tps:
            if tp not in have:
                raise IllegalStateError(f"{what}: {tp} is not assigned to this consumer "
                                        f"(assigned: {sorted(have) or 'nothing'})")

    def _positions(self, tps):
        """{tp: exact position} (resolving and pinning partitions not fetched yet)."""
        if not tps:
            return {}
        T = ck().TopicPartition
        try:
            got = self._c.position([T(tp.topic, tp.partition) for tp in tps])
        except ck().KafkaException as e:
            raise map_error(e, "position") from e
        out = {}
        for t in got:
            tp = TopicPartition(t.topic, t.partition)
            off = t.offset
            if off < 0:
                off = self._start.get(tp, -1001) if self._mode == "assign" else -1001
            if off < 0:
                off = self._resolve(tp)
                self._seek(tp, off)
            out[tp] = off
        return out

    def _resolve(self, tp):
        if self.group_id is not None:
            c = self._committed([tp]).get(tp)
            if c is not None:
                return c
        lo, hi = self._watermarks(tp)
        if self.auto_offset_reset == "earliest":
            return lo
        if self.auto_offset_reset == "latest":
            return hi
        raise NoOffsetForPartitionError(f"{tp} has no committed offset and auto_offset_reset='error'; seek() first")

    def position(self, tp):
        """The offset of the next record poll will return for `tp`."""
        self._check()
        tp = as_topic_partitions([tp], "position")[0]
        self._require([tp], "position")
        self._sync_iter()
        return self._positions([tp])[tp]

    def _seek(self, tp, offset):
        T = ck().TopicPartition
        if self._mode == "assign":
            self._start[tp] = offset
        try:
            self._c.seek(T(tp.topic, tp.partition, offset))
            return
        except ck().KafkaException as e:
            err = e.args[0] if e.args else None
            if not (isinstance(err, ck().KafkaError) and err.code() == ck().KafkaError._STATE):
                raise map_error(e, f"seek {tp} to {offset}") from e
        # not fetching yet: assign it again at the offset
        if self._mode == "assign":
            keep = self._c.position([T(t.topic, t.partition) for t in self._start if t != tp])
            for t in keep:
                if t.offset >= 0:
                    self._start[TopicPartition(t.topic, t.partition)] = t.offset
            self._apply()
        elif self._strategy == "cooperative-sticky":
            self._c.incremental_unassign([T(tp.topic, tp.partition)])
            self._c.incremental_assign([T(tp.topic, tp.partition, offset)])
        else:
            raise IllegalStateError(f"seek {tp}: the partition is not being fetched yet; poll() once first")

    def seek(self, tp, offset):
        """Make the next poll of `tp` start at `offset`."""
        self._check()
        if type(offset) is not int or offset < 0:
            raise InvalidArgumentError(f"seek offset must be an int >= 0, got {offset!r}")
        tp = as_topic_partitions([tp], "seek")[0]
        self._require([tp], "seek")
        self._sync_iter()
        self._seek(tp, offset)

    def _targets(self, partitions, what):
        if partitions is None or partitions == ():
            return sorted(self.assignment())
        tps = as_topic_partitions(partitions, what)
        self._require(tps, what)
        return tps

    def seek_to_beginning(self, partitions=None):
        """Seek `partitions` (default: all assigned) to their start offsets."""
        self._check()
        self._sync_iter()
        for tp in self._targets(partitions, "seek_to_beginning"):
            self._seek(tp, self._log.watermarks(tp)[0])

    def seek_to_end(self, partitions=None):
        """Seek `partitions` (default: all assigned) to their end offsets."""
        self._check()
        self._sync_iter()
        for tp in self._targets(partitions, "seek_to_end"):
            self._seek(tp, self._watermarks(tp)[1])

    def pause(self, partitions):
        self._check()
        tps = self._targets(partitions, "pause")
        self._sync_iter()
        self._c.pause([ck().TopicPartition(tp.topic, tp.partition) for tp in tps])
        self._paused.update(tps)

    def resume(self, partitions):
        self._check()
        tps = self._targets(partitions, "resume")
        self._c.resume([ck().TopicPartition(tp.topic, tp.partition) for tp in tps])
        self._paused.difference_update(tps)

    def paused(self):
        self._check()
        return set(self._paused)

    # -- offsets of the log ------------------------------------------------------------------------
    def beginning_offsets(self, partitions):
        self._check()
        return {tp: self._log.watermarks(tp)[0] for tp in as_topic_partitions(partitions, "beginning_offsets")}

    def _watermarks(self, tp):
        """(start, end) of `tp` as this consumer's isolation level sees it: for read_committed
        the end is the last stable offset (Kafka's ListOffsets with READ_COMMITTED)."""
        return self._log.watermarks(tp, self._c if self._committed_only else None)

    def end_offsets(self, partitions):
        """{tp: end offset}: the high watermark, or for a read_committed consumer the last
        stable offset (the first offset of the oldest open transaction), as Kafka's."""
        self._check()
        return {tp: self._watermarks(tp)[1] for tp in as_topic_partitions(partitions, "end_offsets")}

    def offsets_for_times(self, timestamps):
        """{tp: first offset with timestamp >= ts, or None} for {tp: ts_ms}."""
        self._check()
        return self._log.offsets_for_times({as_topic_partitions([tp], "offsets_for_times")[0]: ts for tp, ts in timestamps.items()})

    def partitions_for_topic(self, topic):
        self._check()
        return set(range(self._log.partition_count(topic)))

    def topics(self):
        self._check()
        return self._log.topics()

    # -- commits -----------------------------------------------------------------------------------
    def group_metadata(self):
        """This consumer's group for `send_offsets_to_transaction`: the group id and, once it
        joined a subscribed group, its generation and member id (KIP-447: the broker refuses
        offsets of an older generation). Needs a group_id."""
        self._check()
        if self.group_id is None:
            raise IllegalStateError("group_metadata() needs a group_id: create the consumer with group_id=...")
        return group_metadata_of(self._c, self.group_id, self._group_instance_id)

    def commit(self, offsets=None, *, _async=False):
        """Commit `offsets` ({tp: next offset to read}), or the positions of all assigned
        partitions. Needs a group_id."""
        self._check()
        if self.group_id is None:
            raise IllegalStateError("commit() needs a group_id: create the consumer with group_id=...")
        if offsets is None:
            self._sync_iter()
            offsets = self._positions(sorted(self.assignment()))
        else:
            if not hasattr(offsets, "items"):
                raise InvalidTypeError(f"commit(offsets) takes a dict {{TopicPartition: offset}}, got {offsets!r}")
            offsets = {TopicPartition(*tp): getattr(o, "offset", o) for tp, o in offsets.items()}
            for tp, o in offsets.items():
                if type(o) is not int or o < 0:
                    raise InvalidArgumentError(f"commit offset for {tp} must be an int >= 0, got {o!r}")
        if not offsets:
            return
        T = ck().TopicPartition
        try:
            self._c.commit(offsets=[T(tp.topic, tp.partition, o) for tp, o in offsets.items()],
                           asynchronous=_async)
        except ck().KafkaException as e:
            err = e.args[0] if e.args else None
            if isinstance(err, ck().KafkaError) and err.code() == ck().KafkaError._NO_OFFSET:
                return
            raise map_error(e, f"commit of group {self.group_id!r}") from e
        self._last_commit = time.monotonic()

    def _committed(self, tps):
        T = ck().TopicPartition
        try:
            got = self._c.committed([T(tp.topic, tp.partition) for tp in tps], timeout=self._log.timeout)
        except ck().KafkaException as e:
            raise map_error(e, "committed") from e
        return {TopicPartition(t.topic, t.partition): (t.offset if t.offset >= 0 else None) for t in got}

    def committed(self, tp):
        """The committed offset of `tp` for this group, or None."""
        self._check()
        if self.group_id is None:
            return None
        tp = as_topic_partitions([tp], "committed")[0]
        return self._committed([tp])[tp]

    # -- fetching ----------------------------------------------------------------------------------
    def poll(self, timeout=0.0, max_records=None):
        """Return the next records of the assigned partitions (a list, possibly empty), as soon
        as there are some; waits up to `timeout` seconds (None: forever)."""
        self._check()
        if max_records is None:
            max_records = self.max_poll_records
        elif type(max_records) is not int or max_records < 1:
            raise InvalidArgumentError(f"max_records must be an int >= 1, got {max_records!r}")
        if timeout is not None and (not isinstance(timeout, (int, float)) or timeout < 0):
            raise InvalidArgumentError(f"timeout must be seconds >= 0 or None, got {timeout!r}")
        if self._mode is None:
            raise IllegalStateError("poll() with no partitions: call assign([...]) or subscribe([...]) first")
        self._sync_iter()
        if self.enable_auto_commit and getattr(self, "_consumed", False) \
                and time.monotonic() - self._last_commit >= self.auto_commit_interval:
            self._consumed = False      # only positions that records were returned up to
            try:
                self.commit(_async=True)
            except EventLogError:
                pass
        c = self._c
        try:
            msgs = c.consume(max_records, 0)
            if not msgs:
                deadline = None if timeout is None else time.monotonic() + timeout
                while True:
                    left = 1.0 if deadline is None else max(0.0, deadline - time.monotonic())
                    m = c.poll(min(left, 1.0))
                    if m is not None:
                        msgs = [m]
                        if max_records > 1:
                            msgs += c.consume(max_records - 1, 0)
                        break
                    if self._closed or (deadline is not None and time.monotonic() >= deadline):
                        return []
        except RuntimeError:
            if self._closed:
                return []
            raise
        recs = records_from(msgs)
        if self._kdes is not None or self._vdes is not None:
            recs = self._deserialize(recs)
        if recs:
            self._consumed = True
        return recs

    def _deserialize(self, recs):
        """Deserialized records; at a record that fails, the records before it are returned
        and every partition is put back at its first record not returned (the failing one is
        fetched again, so the next poll raises SerializationError naming it): nothing lost."""
        out = []
        kdes, vdes = self._kdes, self._vdes
        for i, r in enumerate(recs):
            what = "key"
            try:
                k = kdes(r.key) if kdes is not None and r.key is not None else r.key
                what = "value"
                v = vdes(r.value) if vdes is not None and r.value is not None else r.value
            except Exception as e:
                firsts = {}
                for x in recs[i:]:
                    firsts.setdefault(TopicPartition(x.topic, x.partition), x.offset)
                for tp, off in firsts.items():
                    self._seek(tp, off)
                if out:
                    return out
                fn = kdes if what == "key" else vdes
                err = SerializationError(
                    f"{what} deserializer {getattr(fn, '__name__', fn)!r} failed for {r.topic}[{r.partition}] "
                    f"at offset {r.offset}: {type(e).__name__}: {e} (seek past it to skip the record)")
                err.topic_partition, err.offset = TopicPartition(r.topic, r.partition), r.offset
                raise err from e
            out.append(r._replace(key=k, value=v))
        return out

    def __iter__(self):
        """Yield records forever (blocking), until closed. A record counts as consumed (for
        position and commit) once it has been yielded."""
        self._check()
        return self._iterate()

    def _iterate(self):
        while not self._closed:
            try:
                buf = self.poll(timeout=0.5)
            except ConsumerClosedError:
                return
            self._iter_rest = buf
            i = 0
            while self._iter_rest is buf and i < len(buf):
                r = buf[i]
                i += 1
                self._iter_i = i
                yield r
            if self._iter_rest is buf:
                self._iter_rest = None

    def _sync_iter(self):
        """Seek partitions back to their first record fetched by __iter__ and not yielded."""
        buf = self._iter_rest
        if buf is None:
            return
        self._iter_rest = None
        first = {}
        for r in buf[self._iter_i:]:
            first.setdefault(TopicPartition(r.topic, r.partition), r.offset)
        for tp, off in first.items():
            self._seek(tp, off)
