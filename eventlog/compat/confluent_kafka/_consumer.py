"""confluent_kafka.Consumer over an eventlog directory: subscription and assignment (also of
partitions whose topic does not exist yet, as librdkafka's local assign), fetching with
poll/consume (EOF, error and statistics events), and positions. Offsets and commits are in
_commits."""
from __future__ import annotations

import collections
import re
import time

from eventlog import errors as _el
from eventlog.record import TopicPartition as _TP
from eventlog.compat import _common
from eventlog.compat import _fetcher
from eventlog.compat.confluent_kafka._commits import CommitsMixin
from eventlog.compat.confluent_kafka._guard import closed_guard
from eventlog.compat.confluent_kafka._config import (_NETWORK_COMMON, _REFUSED_COMMON, _bool, _cfg_error, _int, _merge_conf, _open)
from eventlog.compat.confluent_kafka._metadata import _cluster_metadata
from eventlog.compat.confluent_kafka._stats import Stats
from eventlog.compat.confluent_kafka._types import (OFFSET_BEGINNING, OFFSET_END, OFFSET_INVALID, OFFSET_STORED, TIMESTAMP_NOT_AVAILABLE,
                     KafkaError, Message, TopicPartition, _ConsumerGroupMetadata, _exc, _from_el, _message, _tp)

_CONSUMER_KNOWN = {
    "group.id", "group.instance.id", "auto.offset.reset", "enable.auto.commit",
    "auto.commit.interval.ms", "enable.auto.offset.store", "enable.partition.eof",
    "session.timeout.ms", "max.poll.interval.ms", "partition.assignment.strategy", "on_commit",
    "offset_commit_cb", "isolation.level", "fetch.wait.max.ms", "fetch.min.bytes", "fetch.max.bytes",
    "fetch.message.max.bytes", "max.partition.fetch.bytes", "fetch.error.backoff.ms",
    "fetch.queue.backoff.ms", "queued.min.messages", "queued.max.messages.kbytes", "check.crcs",
    "heartbeat.interval.ms", "coordinator.query.interval.ms", "group.protocol",
    "group.remote.assignor", "consume.callback.max.messages", "auto.commit.enable",
    "offset.store.method", "enable.auto.offset.store", "rebalance_cb", "on_assign", "on_revoke",
}
_CONSUMER_REFUSED = dict(_REFUSED_COMMON, **{
    "offset.store.method": lambda v: None if v == "broker" else
    "only broker-side (group) offset storage exists in eventlog",
})
_WAIT_CHECK_S = 0.1        # how often poll looks for the topics of waiting partitions
# a Kafka broker's default group.min.session.timeout.ms / group.max.session.timeout.ms: a
# member asking for a session timeout outside them is refused (INVALID_SESSION_TIMEOUT)
_SESSION_TIMEOUT_MS = (6000, 1800000)
_JOIN_RETRY_S = 2.5        # how often librdkafka retries (and reports) a refused JoinGroup
_RESETS = {"smallest": "earliest", "earliest": "earliest", "beginning": "earliest",
           "largest": "latest", "latest": "latest", "end": "latest", "error": "error"}


def _pattern(topics):
    """confluent's subscription list (names, and regexes starting with ^) -> (names, pattern)."""
    names = [t for t in topics if not t.startswith("^")]
    regexes = [t for t in topics if t.startswith("^")]
    if not regexes:
        return names, None
    parts = [re.escape(n) for n in names] + [f".*(?:{r}).*" for r in regexes]
    return None, "|".join(f"(?:{p})" for p in parts)


class _Rebalance:
    """eventlog's rebalance callbacks -> confluent's on_assign / on_revoke / on_lost."""

    def __init__(self, cc, on_assign, on_revoke, on_lost):
        self.cc = cc
        self.on_assign = on_assign
        self.on_revoke = on_revoke
        self.on_lost = on_lost

    def _call(self, fn, tps):
        cc = self.cc
        parts = [TopicPartition(tp.topic, tp.partition) for tp in sorted(tps)]
        cc._in_cb = True
        cc._cb_offsets = {}
        try:
            fn(cc, parts)
        finally:
            cc._in_cb = False

    def on_partitions_assigned(self, tps):
        cc = self.cc
        for tp in tps:
            cc._app_pos.pop(tp, None)
            cc._eof.pop(tp, None)
        if self.on_assign is not None:
            self._call(self.on_assign, tps)
            for tp, off in cc._cb_offsets.items():
                if tp in tps:
                    cc._seek_raw(tp, off)
                    cc._asg_offsets[tp] = off
            cc._cb_offsets = {}

    def on_partitions_revoked(self, tps):
        cc = self.cc
        try:
            if self.on_revoke is not None:
                self._call(self.on_revoke, tps)
        finally:
            if cc._auto_commit:  # as librdkafka: after the callback, reported to on_commit
                cc._commit_stored(set(tps), sync=False, quiet=True, revoke=True)
            cc._forget(tps)

    def on_partitions_lost(self, tps):
        cc = self.cc
        try:
            fn = self.on_lost if self.on_lost is not None else self.on_revoke
            if fn is not None:
                self._call(fn, tps)
        finally:
            cc._forget(tps)


@closed_guard("Consumer closed", exempt=("close",), handle=("list_topics", "set_sasl_credentials"))
class Consumer(CommitsMixin):
    """confluent-kafka's Consumer reading an eventlog directory. After close(), and on an
    instance whose __init__ did not run, every method but close() raises RuntimeError
    ("Consumer closed"; librdkafka's handle methods: "Handle has been closed")."""

    def __init__(self, conf=None, **kwargs):
        c = _merge_conf(conf, kwargs, "Consumer")
        try:
            _common.split_config(c, _CONSUMER_KNOWN, _NETWORK_COMMON, _CONSUMER_REFUSED, "Consumer")
        except ValueError as e:
            raise _cfg_error(e) from None
        if not c.get("group.id"):
            raise ValueError("Failed to create consumer: group.id must be set")
        self._group = str(c["group.id"])
        reset = str(c.get("auto.offset.reset", "largest"))
        if reset not in _RESETS:
            raise _cfg_error(f'Invalid value "{reset}" for configuration property "auto.offset.reset"')
        strategy = [s.strip() for s in str(c.get("partition.assignment.strategy", "range,roundrobin")).split(",")]
        for s in strategy:
            if s not in ("range", "roundrobin", "cooperative-sticky"):
                raise _cfg_error(f'Failed to create consumer: Unsupported partition.assignment.strategy: {s}')
        self._cooperative = strategy[0] == "cooperative-sticky"
        self._auto_commit = _bool(c, "enable.auto.commit", _bool(c, "auto.commit.enable", True))
        self._auto_store = _bool(c, "enable.auto.offset.store", True)
        self._eof_enabled = _bool(c, "enable.partition.eof", False)
        self._commit_interval = _int(c, "auto.commit.interval.ms", 5000) / 1000.0
        self._on_commit = c.get("on_commit", c.get("offset_commit_cb"))
        self._error_cb = c.get("error_cb")
        self._stats = Stats(c.get("stats_cb"), _int(c, "statistics.interval.ms", 0),
                            str(c.get("client.id", "rdkafka")), "consumer")
        self._max_poll_ms = _int(c, "max.poll.interval.ms", 300000)
        self._last_poll = None           # when the application's last poll started
        self._max_poll_reported = False  # _MAX_POLL_EXCEEDED reported for this departure
        # librdkafka's default is read_committed (Kafka's Java client's is read_uncommitted)
        isolation = str(c.get("isolation.level", "read_committed"))
        if isolation not in ("read_committed", "read_uncommitted"):
            raise _cfg_error(f'Invalid value "{isolation}" for configuration property "isolation.level"')
        self._ref = _open(c, "Consumer")
        try:
            self._c = self._ref.log.consumer(
                isolation_level=isolation,
                group_id=self._group, auto_offset_reset=_RESETS[reset], enable_auto_commit=False,
                partition_assignment_strategy=strategy,
                max_poll_interval_ms=self._max_poll_ms,
                session_timeout_ms=_int(c, "session.timeout.ms", 45000),
                group_instance_id=c.get("group.instance.id") or None,
                client_id=str(c.get("client.id", "rdkafka")))
        except Exception:
            self._ref.release()
            raise
        self._store = self._ref.log.offset_store
        self._fetcher = _fetcher.Fetcher(self._c, chunk=500)
        self._stored = {}        # tp -> stored offset (to be committed)
        self._app_pos = {}       # tp -> offset after the last message returned
        self._eof = {}           # tp -> offset at which _PARTITION_EOF was last emitted
        self._events = collections.deque()   # (callback, args) served by poll
        self._pending_eof = collections.deque()
        self._paused = set()
        self._asg_offsets = {}   # tp -> the offset assignment() reports (as given to assign)
        # partitions assign() was given whose topic or partition does not exist yet: like
        # librdkafka's (local) assign they are part of the assignment, and start to be fetched
        # once they exist (checked by poll, at most every _WAIT_CHECK_S)
        self._waiting = set()
        self._waiting_checked = 0.0
        self._session_ms = _int(c, "session.timeout.ms", 45000)
        self._join_error = None      # a JoinGroup the "broker" refused: reported by poll
        self._join_retry_at = 0.0
        self._subscribed = False
        self._in_cb = False
        self._cb_offsets = {}
        self._next_commit = time.monotonic() + self._commit_interval
        self._closed = False

    def __repr__(self):
        return f"<eventlog.compat.confluent_kafka.Consumer {self._ref.log.path!r} group={self._group!r}>"

    # -- subscription and assignment -----------------------------------------------------------
    def subscribe(self, topics, on_assign=None, on_revoke=None, on_lost=None):
        if not isinstance(topics, list):
            raise TypeError("expected list of topic unicode strings")
        for t in topics:
            if not isinstance(t, str):
                raise TypeError("expected list of topic unicode strings")
        for name, cb in (("on_assign", on_assign), ("on_revoke", on_revoke), ("on_lost", on_lost)):
            if cb is not None and not callable(cb):
                raise TypeError(f"{name} expects a callable")
        names, pattern = _pattern(topics)
        self._fetcher.sync()
        self._forget(self._waiting)
        # a joined member subscribes again through the core, which updates a cooperative
        # member's subscription in place (only new partitions assigned, only partitions of
        # dropped topics revoked) and makes an eager one leave and join anew; an assign()
        # assignment is dropped first
        joined = self._subscribed and self._join_error is None
        if not joined and self._c.assignment():
            self._c.unsubscribe()
        self._subscribed = True
        if not _SESSION_TIMEOUT_MS[0] <= self._session_ms <= _SESSION_TIMEOUT_MS[1]:
            # a broker with default settings refuses the JoinGroup: the member never joins,
            # and poll reports the failure at every retry, as librdkafka does
            self._join_error = KafkaError(KafkaError.INVALID_SESSION_TIMEOUT,
                                          "JoinGroup failed: Broker: Invalid session timeout")
            self._join_retry_at = 0.0
            return
        self._join_error = None
        listener = _Rebalance(self, on_assign, on_revoke, on_lost)
        try:
            self._c.subscribe(topics=names, pattern=pattern, listener=listener)
        except _el.EventLogError as e:
            if joined:
                self._c.unsubscribe()
            self._subscribed = False
            raise _from_el(e) from e

    def unsubscribe(self):
        self._fetcher.sync()
        if self._subscribed and self._join_error is None:
            try:
                self._c.unsubscribe()
            except _el.EventLogError as e:
                raise _from_el(e) from e
        self._subscribed = False
        self._join_error = None

    def _set_offsets(self, parts):
        for p in parts:
            if p.offset != OFFSET_INVALID and p.offset != OFFSET_STORED:
                self._seek_raw(_tp(p), p.offset)

    def assign(self, partitions):
        parts = list(partitions)
        if self._in_cb:
            for p in parts:
                if p.offset not in (OFFSET_INVALID, OFFSET_STORED):
                    self._cb_offsets[_tp(p)] = p.offset
            return
        if self._subscribed:
            # librdkafka lets assign() override a subscription's assignment; eventlog's group
            # owns it, so only the offsets of partitions this member holds are applied
            self._fetcher.sync()
            owned = self._c.assignment()
            self._set_offsets([p for p in parts if _tp(p) in owned])
            return
        self._fetcher.sync()
        tps = [_tp(p) for p in parts]
        gone = (self._c.assignment() | self._waiting) - set(tps)
        self._forget(gone)
        present = [tp for tp in tps if self._exists(tp)]
        try:
            self._c.assign(present)
        except _el.EventLogError as e:
            raise _from_el(e) from e
        self._waiting = set(tps) - set(present)
        for tp in tps:
            self._app_pos.pop(tp, None)
            self._eof.pop(tp, None)
        self._asg_offsets = {_tp(p): p.offset for p in parts}
        self._set_offsets([p for p in parts if _tp(p) not in self._waiting])

    def _exists(self, tp):
        """Whether tp's topic and partition exist in the log (now)."""
        try:
            self._ref.log.topic(tp.topic).partition(tp.partition)
        except _el.EventLogError:
            return False
        return True

    def _assigned(self):
        """The assignment as the application sees it: what the core fetches plus the
        partitions waiting for their topic to be created."""
        return self._c.assignment() | self._waiting

    def _start_waiting(self, force=False):
        """Start fetching the waiting partitions whose topic has since been created (by any
        process); offsets given to assign() apply then."""
        if not self._waiting:
            return
        now = time.monotonic()
        if not force and now - self._waiting_checked < _WAIT_CHECK_S:
            return
        self._waiting_checked = now
        ready = [tp for tp in sorted(self._waiting) if self._exists(tp)]
        if not ready:
            return
        self._fetcher.sync()
        try:
            self._c.assign(sorted(self._c.assignment()) + ready)
        except _el.EventLogError:
            return        # deleted again in between: stays waiting
        self._waiting -= set(ready)
        for tp in ready:
            off = self._asg_offsets.get(tp, OFFSET_INVALID)
            if off not in (OFFSET_INVALID, OFFSET_STORED):
                self._seek_raw(tp, off)

    def incremental_assign(self, partitions):
        parts = list(partitions)
        if self._in_cb or self._subscribed:
            if self._in_cb:
                for p in parts:
                    if p.offset not in (OFFSET_INVALID, OFFSET_STORED):
                        self._cb_offsets[_tp(p)] = p.offset
            else:
                self._set_offsets([p for p in parts if _tp(p) in self._c.assignment()])
            return
        cur = self._c.assignment()
        new = [_tp(p) for p in parts]
        dup = [tp for tp in new if tp in cur or tp in self._waiting]
        if dup:
            raise _exc(KafkaError._CONFLICT, f"{len(dup)} partition(s) are already assigned")
        self._fetcher.sync()
        present = [tp for tp in new if self._exists(tp)]
        try:
            self._c.assign(sorted(cur) + present)
        except _el.EventLogError as e:
            raise _from_el(e) from e
        self._waiting |= set(new) - set(present)
        self._asg_offsets.update({_tp(p): p.offset for p in parts})
        self._set_offsets([p for p in parts if _tp(p) not in self._waiting])

    def incremental_unassign(self, partitions):
        if self._in_cb or self._subscribed:
            return
        drop = {_tp(p) for p in partitions}
        cur = self._c.assignment()
        if drop - cur - self._waiting:
            raise _exc(KafkaError._INVALID_ARG, "partition(s) not assigned")
        self._fetcher.sync()
        self._forget(drop)
        self._c.assign(sorted(cur - drop))

    def unassign(self):
        if self._in_cb or self._subscribed:
            return
        self._fetcher.sync()
        self._forget(self._assigned())
        self._c.assign([])

    def assignment(self):
        default = OFFSET_STORED if self._subscribed else OFFSET_INVALID
        return [TopicPartition(tp.topic, tp.partition, self._asg_offsets.get(tp, default))
                for tp in sorted(self._assigned())]

    def _forget(self, tps):
        tps = set(tps)
        self._fetcher.forget(tps)
        for d in (self._stored, self._app_pos, self._eof, self._asg_offsets):
            for tp in tps:
                d.pop(tp, None)
        self._paused -= tps
        self._waiting -= tps

    # -- fetching ---------------------------------------------------------------------------------
    def _serve_events(self):
        while self._events:
            fn, args = self._events.popleft()
            fn(*args)

    def _maybe_auto_commit(self):
        if self._auto_commit and time.monotonic() >= self._next_commit:
            self._next_commit = time.monotonic() + self._commit_interval
            self._commit_stored(None, sync=False, quiet=True)

    def _next(self, deadline):
        """The next Message (record or EOF event), or None at the deadline."""
        while True:
            self._serve_events()
            if self._join_error is not None and time.monotonic() >= self._join_retry_at:
                self._join_retry_at = time.monotonic() + _JOIN_RETRY_S
                return Message(None, 0, None, None, None, None, self._join_error, (TIMESTAMP_NOT_AVAILABLE, -1))
            self._start_waiting()
            self._maybe_auto_commit()
            self._stats.maybe_emit(self._stats_offsets)
            if self._pending_eof:
                return self._pending_eof.popleft()
            rec = self._fetcher.take_one()
            if rec is not None:
                tp = _TP(rec.topic, rec.partition)
                nxt = rec.offset + 1
                self._app_pos[tp] = nxt
                if self._auto_store:
                    self._stored[tp] = nxt
                self._stats.received(tp, (len(rec.key) if rec.key else 0) + (len(rec.value) if rec.value else 0))
                if self._eof_enabled and self._fetcher._first(tp) is None:
                    self._queue_eof(tp, nxt)
                return _message(rec)
            if self._eof_enabled:
                self._initial_eofs()
                if self._pending_eof:
                    continue
            if (not self._subscribed or self._join_error is not None) and not self._c.assignment():
                if deadline is not None:
                    time.sleep(max(0.0, min(0.05, self._stats.due_in(), deadline - time.monotonic())))
                else:
                    time.sleep(min(0.05, self._stats.due_in()))
            else:
                left = 0.5 if deadline is None else min(0.5, _common.left(deadline))
                left = min(left, self._stats.due_in())
                try:
                    self._fetcher.fill(left, self._paused)
                except _el.EventLogError as e:
                    raise _from_el(e) from e
                if self._fetcher.runs or self._pending_eof or self._events:
                    continue
            if deadline is not None and time.monotonic() >= deadline:
                self._serve_events()
                return None
            if self._closed:
                return None

    def _stats_offsets(self):
        """{tp: offsets} of the assigned partitions, for the statistics callback."""
        out = {}
        assigned = self._c.assignment()
        committed = self._store.committed(self._group, list(assigned)) if self._group and assigned else {}
        for tp in assigned:
            try:
                part = self._ref.log.topic(tp.topic).partition(tp.partition)
            except _el.EventLogError:
                continue
            out[tp] = {"lo_offset": part.start_offset, "hi_offset": part.end_offset,
                       "app_offset": self._app_pos.get(tp, OFFSET_INVALID),
                       "committed_offset": committed.get(tp, OFFSET_INVALID),
                       "stored_offset": self._stored.get(tp, OFFSET_INVALID)}
        return out

    def _queue_eof(self, tp, offset):
        try:
            end = self._ref.log.topic(tp.topic).partition(tp.partition).end_offset
            if offset < end and self._c.isolation_level == "read_committed":
                end = self._c.end_offsets([tp])[tp]   # as librdkafka: EOF at the last stable offset
        except _el.EventLogError:
            return
        if offset >= end and self._eof.get(tp) != offset:
            self._eof[tp] = offset
            self._pending_eof.append(Message(tp.topic, tp.partition, offset, None, None, None,
                                             KafkaError(KafkaError._PARTITION_EOF,
                                                        f"Fetch from broker 0 reached end of partition at offset "
                                                        f"{offset} (HighwaterMark {end})"),
                                             (TIMESTAMP_NOT_AVAILABLE, -1)))

    def _initial_eofs(self):
        for tp in sorted(self._c.assignment()):
            if tp in self._paused or tp in self._eof:
                continue
            try:
                pos = self._c.position(tp)
            except _el.EventLogError:
                continue
            self._queue_eof(tp, pos)

    def _poll_interval_exceeded(self):
        """librdkafka's _MAX_POLL_EXCEEDED event: once the group layer has made this member
        leave for not polling within max.poll.interval.ms (`Consumer.max_poll_exceeded`),
        the first poll reports it as an error message, without polling the core; the next
        one polls it, which runs the lost/revoke callbacks and joins again. Reported once per
        departure. (A poll that blocks counts as polling, as in librdkafka and the core.)"""
        now = time.monotonic()
        last, self._last_poll = self._last_poll, now
        if not self._subscribed or not self._c.max_poll_exceeded:
            self._max_poll_reported = False
            return None
        if self._max_poll_reported:
            return None
        self._max_poll_reported = True
        over = max(0, int(((now - last) if last is not None else 0) * 1000) - self._max_poll_ms)
        err = KafkaError(KafkaError._MAX_POLL_EXCEEDED,
                         f"Application maximum poll interval ({self._max_poll_ms}ms) exceeded by {over}ms")
        return Message(None, -1, OFFSET_INVALID, None, None, None, err, (TIMESTAMP_NOT_AVAILABLE, -1))

    def poll(self, timeout=None):
        if timeout is not None and timeout < 0:
            timeout = None
        exceeded = self._poll_interval_exceeded()
        if exceeded is not None:
            return exceeded
        return self._next(_common.deadline_after(timeout))

    def consume(self, num_messages=1, timeout=None):
        if not isinstance(num_messages, int) or num_messages < 1 or num_messages > 1000000:
            raise ValueError("num_messages must be between 0 and 1000000 (1M)")
        if timeout is not None and timeout < 0:
            timeout = None
        deadline = _common.deadline_after(timeout)
        exceeded = self._poll_interval_exceeded()
        if exceeded is not None:
            return [exceeded]
        out = []
        while len(out) < num_messages:
            m = self._next(deadline)
            if m is None:
                break
            out.append(m)
        return out

    # -- positions --------------------------------------------------------------------------------
    def _seek_raw(self, tp, offset):
        self._fetcher.sync({tp})
        part = self._ref.log.topic(tp.topic).partition(tp.partition)
        if offset == OFFSET_BEGINNING:
            offset = part.start_offset
        elif offset == OFFSET_END:
            offset = part.end_offset
        elif offset in (OFFSET_STORED, OFFSET_INVALID):
            committed = self._store.committed(self._group, [tp]).get(tp)
            if committed is None:
                return
            offset = committed
        elif offset < 0:
            raise _exc(KafkaError._INVALID_ARG, f"invalid offset {offset}")
        self._c.seek(tp, offset)
        self._fetcher.valid.add(tp)
        self._app_pos.pop(tp, None)
        self._eof.pop(tp, None)

    def seek(self, partition):
        tp = _tp(partition)
        if tp not in self._c.assignment():
            raise _exc(KafkaError._STATE, f"Failed to seek to offset {partition.offset}: Local: Erroneous state")
        try:
            self._seek_raw(tp, partition.offset)
        except _el.EventLogError as e:
            raise _from_el(e) from e

    def position(self, partitions):
        out = []
        for p in partitions:
            r = TopicPartition(p.topic, p.partition, self._app_pos.get(_tp(p), OFFSET_INVALID))
            out.append(r)
        return out

    def pause(self, partitions):
        tps = {_tp(p) for p in partitions} & self._c.assignment()
        self._fetcher.sync(tps)
        self._c.pause(list(tps))
        self._paused |= tps

    def resume(self, partitions):
        tps = {_tp(p) for p in partitions} & self._c.assignment()
        self._c.resume(list(tps))
        self._paused -= tps

    def get_watermark_offsets(self, partition, timeout=None, cached=False):
        """(low, high) of the partition. As librdkafka: a partition the log does not have
        gives _UNKNOWN_PARTITION, or (OFFSET_INVALID, OFFSET_INVALID) with cached=True."""
        try:
            p = self._ref.log.topic(partition.topic).partition(partition.partition)
        except _el.UnknownTopicError:
            if cached:
                return (OFFSET_INVALID, OFFSET_INVALID)
            raise _exc(KafkaError._UNKNOWN_PARTITION,
                       "Failed to get watermark offsets: Local: Unknown partition") from None
        except _el.EventLogError as e:
            raise _from_el(e) from e
        if not cached and self._c.isolation_level == "read_committed":
            # librdkafka asks the broker with its isolation level: the high mark is the LSO
            return (p.start_offset, self._c.end_offsets([_TP(partition.topic, partition.partition)])[
                _TP(partition.topic, partition.partition)])
        return (p.start_offset, p.end_offset)

    def offsets_for_times(self, partitions, timeout=None):
        """The first offset at or after each partition's timestamp (OFFSET_END past the last
        record). As librdkafka against a broker: an unknown topic fails the whole call with
        _UNKNOWN_PARTITION; a partition a known topic does not have comes back with that
        error in its `.error` (and its offset unchanged)."""
        out = []
        for p in partitions:
            try:
                topic = self._ref.log.topic(p.topic)
            except _el.UnknownTopicError:
                raise _exc(KafkaError._UNKNOWN_PARTITION, "Failed to get offsets: Local: Unknown partition") from None
            except _el.EventLogError as e:
                raise _from_el(e) from e
            try:
                part = topic.partition(p.partition)
            except _el.UnknownTopicError:
                r = TopicPartition(p.topic, p.partition, p.offset)
                r.error = KafkaError(KafkaError._UNKNOWN_PARTITION)
                out.append(r)
                continue
            off = part.offset_for_time(p.offset)
            out.append(TopicPartition(p.topic, p.partition, OFFSET_END if off is None else off))
        return out

    def list_topics(self, topic=None, timeout=-1):
        return _cluster_metadata(self._ref.log, topic)

    def memberid(self):
        return self._c.group_metadata().member_id or None  # librdkafka: None until joined

    def consumer_group_metadata(self):
        g = self._c.group_metadata()
        return _ConsumerGroupMetadata(self._group, g.generation_id, g.member_id)

    def set_sasl_credentials(self, username, password):
        pass

    def close(self):
        if self._closed:
            return
        try:
            self._fetcher.sync()
            if self._auto_commit and not self._subscribed:
                # (a subscribed member commits when close() revokes its partitions)
                self._commit_stored(None, sync=False, quiet=True, revoke=True)
            self._c.close(autocommit=False)
            self._serve_events()
        finally:
            self._closed = True
            self._ref.release()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
