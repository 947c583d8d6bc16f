"""kafka.consumer.group: KafkaConsumer over an eventlog directory."""
from __future__ import annotations

import logging
import re
import time

from eventlog import errors as _el
from eventlog.compat import _common
from eventlog.compat import _fetcher
from eventlog.compat import _groups
from eventlog.compat.kafka import errors
from eventlog.compat.kafka._shared import _LEADER_EPOCH, _check_configs, _deser, _header_size, _open, _translated
from eventlog.compat.kafka.coordinator.assignors._builtin import RangePartitionAssignor, RoundRobinPartitionAssignor, _strategy
from eventlog.compat.kafka.errors import IllegalStateError, KafkaConfigurationError, KafkaError
from eventlog.compat.kafka.future import Future
from eventlog.compat.kafka.structs import (ConsumerGroupMetadata, ConsumerRecord, OffsetAndMetadata, OffsetAndTimestamp, MemberState,
                       TopicPartition)
from eventlog.compat.kafka.version import __version__
from eventlog.compat.kafka.consumer.subscription_state import ConsumerRebalanceListener

_log = logging.getLogger("eventlog.compat.kafka")


# -- consumer -----------------------------------------------------------------------------------

_CONSUMER_DEFAULTS = {
    "bootstrap_servers": "localhost", "client_id": "kafka-python-" + __version__, "client_rack": "",
    "group_id": None, "group_instance_id": None, "key_deserializer": None, "value_deserializer": None,
    "enable_incremental_fetch_sessions": True, "fetch_max_wait_ms": 500, "fetch_min_bytes": 1,
    "fetch_max_bytes": 52428800, "max_partition_fetch_bytes": 1048576, "request_timeout_ms": 30000,
    "retry_backoff_ms": 100, "reconnect_backoff_ms": 50, "reconnect_backoff_max_ms": 30000,
    "max_in_flight_requests_per_connection": 5, "auto_offset_reset": "latest",
    "enable_auto_commit": True, "auto_commit_interval_ms": 5000,
    "default_offset_commit_callback": None, "check_crcs": True,
    "isolation_level": "read_uncommitted", "allow_auto_create_topics": True,
    "metadata_max_age_ms": 300000, "client_dns_lookup": "use_all_dns_ips",
    "partition_assignment_strategy": (RangePartitionAssignor, RoundRobinPartitionAssignor),
    "max_poll_records": 500, "max_poll_interval_ms": 300000, "session_timeout_ms": 45000,
    "heartbeat_interval_ms": 3000, "receive_buffer_bytes": None, "send_buffer_bytes": None,
    "receive_message_max_bytes": 100_000_000, "socket_options": None,
    "consumer_timeout_ms": float("inf"), "security_protocol": "PLAINTEXT", "ssl_context": None,
    "ssl_check_hostname": True, "ssl_cafile": None, "ssl_certfile": None, "ssl_keyfile": None,
    "ssl_crlfile": None, "ssl_password": None, "ssl_ciphers": None, "api_version": None,
    "api_version_auto_timeout_ms": 2000, "bootstrap_timeout_ms": 30000,
    "connections_max_idle_ms": 540000, "metric_reporters": [], "metrics_enabled": True,
    "metrics_num_samples": 2, "metrics_sample_window_ms": 30000, "metric_group_prefix": "consumer",
    "selector": None, "exclude_internal_topics": True, "sasl_mechanism": None,
    "sasl_plain_username": None, "sasl_plain_password": None, "sasl_kerberos_name": None,
    "sasl_kerberos_service_name": "kafka", "sasl_kerberos_domain_name": None,
    "sasl_oauth_token_provider": None, "proxy_url": None, "socks5_proxy": None, "kafka_client": None,
    "legacy_iterator": False,
}
_RESETS = {"earliest": "earliest", "smallest": "earliest", "latest": "latest", "largest": "latest",
           "none": "error"}
_GROUPLESS_REFRESH_S = 0.5


_ISOLATION_LEVELS = ("read_uncommitted", "read_committed")


def _isolation_level(value):
    """eventlog's isolation level for kafka-python's setting, read as its
    IsolationLevel.build_from reads it: 0 / 1 (or the enum), or the name in any case."""
    if isinstance(value, int) and value in (0, 1):
        return _ISOLATION_LEVELS[value]
    name = str(value).strip().lower().replace("-", "_")
    if name not in _ISOLATION_LEVELS:
        raise KafkaConfigurationError(f"Unrecognized isolation_level {value!r}: use 'read_uncommitted' (the "
                                      "default) or 'read_committed'")
    return name


class _Listener:
    """Adapts eventlog's rebalance callbacks to kafka-python's listener and bookkeeping."""

    def __init__(self, kc, user, eager):
        self.kc = kc
        self.user = user
        self.eager = eager
        self.first = True

    def _user(self, name, tps):
        fn = getattr(self.user, name, None) if self.user is not None else None
        if fn is None and name == "on_partitions_lost" and self.user is not None:
            fn = getattr(self.user, "on_partitions_revoked", None)
        if fn is not None:
            try:
                fn(tps)
            except Exception as e:
                _log.exception("User provided listener %s for group %s failed on %s", self.user,
                               self.kc.config["group_id"], name)
                raise KafkaError("User rebalance callback throws an error") from e

    def on_partitions_revoked(self, tps):
        kc = self.kc
        tps = set(tps)
        if kc._auto_commit:
            kc._commit_positions(tps, quiet=True)
        try:
            self._user("on_partitions_revoked", tps)
        finally:
            kc._fetcher.forget(tps)

    def on_partitions_assigned(self, tps):
        if self.first and self.eager:
            self._user("on_partitions_revoked", set())
        self.first = False
        self._user("on_partitions_assigned", set(tps))

    def on_partitions_lost(self, tps):
        tps = set(tps)
        self.kc._fetcher.forget(tps)
        self._user("on_partitions_lost", tps)


class KafkaConsumer:
    """kafka-python's KafkaConsumer reading an eventlog directory."""

    DEFAULT_CONFIG = _CONSUMER_DEFAULTS

    def __init__(self, *topics, **configs):
        self.config = c = _check_configs(configs, _CONSUMER_DEFAULTS, "KafkaConsumer")
        reset = c["auto_offset_reset"]
        if reset not in _RESETS:
            raise KafkaConfigurationError(f"Unrecognized auto_offset_reset {reset!r}")
        isolation = _isolation_level(c["isolation_level"])
        self._strategy = _strategy(c["partition_assignment_strategy"])
        if c["group_id"] is None and c["group_instance_id"] is not None:
            raise KafkaConfigurationError("group_instance_id requires group_id")
        self._ref = _open(c["bootstrap_servers"], "KafkaConsumer")
        try:
            self._c = self._ref.log.consumer(
                group_id=c["group_id"], auto_offset_reset=_RESETS[reset], enable_auto_commit=False,
                max_poll_records=int(c["max_poll_records"]), fetch_max_bytes=int(c["fetch_max_bytes"]),
                partition_assignment_strategy=self._strategy,
                max_poll_interval_ms=int(c["max_poll_interval_ms"]),
                group_instance_id=c["group_instance_id"], session_timeout_ms=int(c["session_timeout_ms"]),
                client_id=c["client_id"] if isinstance(c["client_id"], str) else None,
                isolation_level=isolation)
        except Exception:
            self._ref.release()
            raise
        self._store = self._ref.log.offset_store if c["group_id"] is not None else None
        self._fetcher = _fetcher.Fetcher(self._c, chunk=max(500, int(c["max_poll_records"])))
        self._auto_commit = bool(c["enable_auto_commit"]) and c["group_id"] is not None
        self._commit_interval = c["auto_commit_interval_ms"] / 1000.0
        self._next_commit = time.monotonic() + self._commit_interval
        self._closed = False
        self._sub = None          # None | ("topics", [names]) | ("pattern", regex)
        self._groupless = False   # subscribed without a group_id: all partitions, no group
        self._next_refresh = 0.0
        self._listener = None
        self._iter_deadline = None
        self._paused = set()
        if topics:
            self.subscribe(topics=list(topics))

    def __repr__(self):
        return f"<eventlog.compat.kafka.KafkaConsumer {self._ref.log.path!r} group={self.config['group_id']!r}>"

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        self.close(autocommit=exc_type is None)

    def _check(self):
        if self._closed:
            raise IllegalStateError("KafkaConsumer is closed")

    def bootstrap_connected(self):
        return not self._closed

    def bootstrap(self, timeout_ms=None, refresh=False):
        return None

    # -- subscription ----------------------------------------------------------------------
    def subscribe(self, topics=(), pattern=None, listener=None):
        self._check()
        if isinstance(topics, str):
            topics = [topics]
        topics = list(topics or ())
        if topics and pattern:
            raise IllegalStateError("You must choose topics or pattern, but not both")
        if not topics and not pattern:
            raise IllegalStateError("You must choose topics or pattern")
        if self._sub is None and self._c.assignment() and not self._groupless:
            raise IllegalStateError("Subscription to topics, partitions and pattern are mutually exclusive")
        if listener is not None and not isinstance(listener, ConsumerRebalanceListener) and not all(
                callable(getattr(listener, n, None)) for n in ("on_partitions_revoked", "on_partitions_assigned")):
            raise TypeError("listener must be a ConsumerRebalanceListener")
        for t in topics:
            if not isinstance(t, str) or not _common.valid_topic(t):
                raise ValueError(f"Topic {t!r} is not a valid topic name")
        self._fetcher.sync()
        self._sub = ("pattern", pattern) if pattern else ("topics", topics)
        if self.config["allow_auto_create_topics"] and topics:
            for t in topics:
                try:
                    self._ref.topic(t, create=True)
                except _el.EventLogError:
                    pass
        if self.config["group_id"] is None:
            self._groupless = True
            self._next_refresh = 0.0
            self._refresh_groupless()
            return
        eager = self._strategy[0] != "cooperative-sticky"
        self._listener = _Listener(self, listener, eager)
        with _translated():
            self._c.subscribe(topics=topics or None, pattern=pattern, listener=self._listener)

    def _matches(self, name):
        kind, what = self._sub
        if kind == "topics":
            return name in what
        return re.match(what, name) is not None if isinstance(what, str) else what.match(name) is not None

    def _refresh_groupless(self):
        now = time.monotonic()
        if now < self._next_refresh:
            return
        self._next_refresh = now + _GROUPLESS_REFRESH_S
        log = self._ref.log
        want = []
        for name in log.topics():
            if self._matches(name):
                try:
                    n = log.topic(name).config.partitions
                except _el.UnknownTopicError:
                    continue
                want += [TopicPartition(name, i) for i in range(n)]
        if set(want) != self._c.assignment():
            self._fetcher.sync()
            gone = self._c.assignment() - set(want)
            self._fetcher.forget(gone)
            with _translated():
                self._c.assign(want)

    def subscription(self):
        self._check()
        if self._sub is None:
            return None
        if self._sub[0] == "topics":
            return set(self._sub[1])
        return {t for t in self._ref.log.topics() if self._matches(t)}

    def unsubscribe(self):
        self._check()
        self._fetcher.sync()
        if self._auto_commit and self._sub is None:
            self._commit_positions(None, quiet=True)
        with _translated():
            self._c.unsubscribe()
        self._fetcher.forget(set(self._fetcher.valid))
        self._sub = None
        self._groupless = False
        self._paused.clear()

    def assign(self, partitions):
        self._check()
        if self._sub is not None:
            raise IllegalStateError("Subscription to topics, partitions and pattern are mutually exclusive")
        partitions = list(partitions)
        if not partitions:
            return self.unsubscribe()
        for tp in partitions:
            if not isinstance(tp, tuple) or len(tp) != 2:
                raise TypeError("partitions must be TopicPartition namedtuples")
        if self._auto_commit:
            self._commit_positions(None, quiet=True)
        self._fetcher.sync()
        new = [TopicPartition(*tp) for tp in partitions]
        gone = self._c.assignment() - set(new)
        self._fetcher.forget(gone)
        self._paused -= gone
        with _translated():
            self._c.assign(new)

    def assignment(self):
        self._check()
        return set(self._c.assignment())

    # -- fetching --------------------------------------------------------------------------
    def _prepare_poll(self):
        if self._groupless:
            self._refresh_groupless()
        if self._auto_commit and time.monotonic() >= self._next_commit:
            self._next_commit = time.monotonic() + self._commit_interval
            self._commit_positions(None, quiet=True)

    def _fill(self, timeout):
        if not self._c.assignment() and (self._sub is None or self._groupless):
            if timeout:
                time.sleep(min(timeout, _GROUPLESS_REFRESH_S))
            return False
        with _translated():
            return self._fetcher.fill(timeout, self._paused)

    def poll(self, timeout_ms=0, max_records=None, update_offsets=True):
        if timeout_ms is None or timeout_ms < 0:
            raise ValueError("Timeout must not be negative")
        if max_records is None:
            max_records = self.config["max_poll_records"]
        if not isinstance(max_records, int):
            raise TypeError("max_records must be an integer")
        if max_records <= 0:
            raise ValueError("max_records must be positive")
        self._check()
        deadline = time.monotonic() + timeout_ms / 1000.0
        while True:
            self._prepare_poll()
            if self._fetcher.runs or self._fill(_common.left(deadline) if not self._groupless
                                                else min(_common.left(deadline), _GROUPLESS_REFRESH_S)):
                out = {}
                for tp, recs in self._fetcher.take(max_records):
                    out.setdefault(tp, []).extend(self._records(recs))
                if out:
                    return out
            if self._closed or time.monotonic() >= deadline:
                return {}

    def _records(self, recs):
        kd, vd = self.config["key_deserializer"], self.config["value_deserializer"]
        out = []
        for r in recs:
            hs = list(r.headers) if r.headers else []
            k = r.key if r.key is None else _deser(kd, r.topic, hs, r.key)
            v = r.value if r.value is None else _deser(vd, r.topic, hs, r.value)
            out.append(ConsumerRecord(
                r.topic, r.partition, _LEADER_EPOCH, r.offset, r.timestamp_ms, 0, k, v, hs, None,
                len(r.key) if r.key is not None else -1, len(r.value) if r.value is not None else -1,
                _header_size(hs)))
        return out

    def __iter__(self):
        return self

    def __next__(self):
        self._check()
        timeout_ms = self.config["consumer_timeout_ms"]
        deadline = None if timeout_ms == float("inf") else time.monotonic() + timeout_ms / 1000.0
        while True:
            if self._closed:
                raise StopIteration
            self._prepare_poll()
            rec = self._fetcher.take_one()
            if rec is not None:
                return self._records([rec])[0]
            left = 0.5 if deadline is None else min(0.5, _common.left(deadline))
            if self._groupless:
                left = min(left, _GROUPLESS_REFRESH_S)
            if not self._fill(left) and deadline is not None and time.monotonic() >= deadline:
                raise StopIteration

    next_v2 = __next__

    # -- positions -------------------------------------------------------------------------
    def _assigned(self, tp, exc=IllegalStateError, msg="Partition is not assigned"):
        if not isinstance(tp, tuple) or len(tp) != 2:
            raise TypeError("partition must be a TopicPartition namedtuple")
        tp = TopicPartition(*tp)
        if tp not in self._c.assignment():
            raise exc(msg)
        return tp

    def position(self, partition, timeout_ms=None):
        self._check()
        tp = self._assigned(partition)
        with _translated():
            off = self._fetcher.position(tp)
        self._fetcher.valid.add(tp)
        return off

    def highwater(self, partition):
        self._check()
        tp = self._assigned(partition)
        return self._ref.log.topic(tp.topic).partition(tp.partition).end_offset

    def seek(self, partition, offset):
        self._check()
        if not isinstance(partition, tuple) or len(partition) != 2:
            raise TypeError("partition must be a TopicPartition namedtuple")
        if not isinstance(offset, int) or offset < 0:
            raise ValueError("Offset must be int >= 0")
        tp = self._assigned(partition, ValueError, "Unassigned partition")
        self._fetcher.sync({tp})
        with _translated():
            self._c.seek(tp, offset)
        self._fetcher.valid.add(tp)

    def _seek_targets(self, partitions):
        if not all(isinstance(p, tuple) and len(p) == 2 for p in partitions):
            raise TypeError("partitions must be TopicPartition namedtuples")
        if not partitions:
            partitions = self._c.assignment()
            if not partitions:
                raise ValueError("No partitions are currently assigned")
        else:
            partitions = [TopicPartition(*p) for p in partitions]
            for p in partitions:
                if p not in self._c.assignment():
                    raise ValueError(f"Unassigned partition: {p}")
        return list(partitions)

    def seek_to_beginning(self, *partitions):
        self._check()
        tps = self._seek_targets(partitions)
        self._fetcher.sync(set(tps))
        with _translated():
            self._c.seek_to_beginning(tps)
        self._fetcher.valid.update(tps)

    def seek_to_end(self, *partitions):
        self._check()
        tps = self._seek_targets(partitions)
        self._fetcher.sync(set(tps))
        with _translated():
            self._c.seek_to_end(tps)
        self._fetcher.valid.update(tps)

    def pause(self, *partitions):
        self._check()
        if not all(isinstance(p, tuple) and len(p) == 2 for p in partitions):
            raise TypeError("partitions must be TopicPartition namedtuples")
        tps = {TopicPartition(*p) for p in partitions} & self._c.assignment()
        self._fetcher.sync(tps)
        with _translated():
            self._c.pause(list(tps))
        self._paused |= tps

    def resume(self, *partitions):
        self._check()
        if not all(isinstance(p, tuple) and len(p) == 2 for p in partitions):
            raise TypeError("partitions must be TopicPartition namedtuples")
        tps = {TopicPartition(*p) for p in partitions} & self._c.assignment()
        with _translated():
            self._c.resume(list(tps))
        self._paused -= tps

    def paused(self):
        self._check()
        return set(self._paused & self._c.assignment())

    # -- offsets of the log ----------------------------------------------------------------
    def _part(self, tp):
        if not isinstance(tp, tuple) or len(tp) != 2:
            raise TypeError("partitions must be TopicPartition namedtuples")
        with _translated():
            return self._ref.log.topic(tp[0]).partition(tp[1])

    def beginning_offsets(self, partitions, timeout_ms=None):
        self._check()
        return {TopicPartition(*tp): self._part(tp).start_offset for tp in partitions}

    def end_offsets(self, partitions, timeout_ms=None):
        """{tp: end offset}; with isolation_level='read_committed', the last stable offset."""
        self._check()
        tps = [TopicPartition(*tp) for tp in partitions]
        for tp in tps:
            self._part(tp)   # TypeError / UnknownTopicOrPartitionError first, as before
        with _translated():
            ends = self._c.end_offsets(tps)
        return {tp: ends[tp] for tp in tps}

    def _part_or_timeout(self, tp, deadline, message):
        """The partition, waiting until `deadline` for it to exist: kafka-python retries an
        unknown topic or partition (a retriable metadata error) until its timeout, then
        raises KafkaTimeoutError."""
        while True:
            try:
                return self._part(tp)
            except errors.UnknownTopicOrPartitionError:
                if time.monotonic() >= deadline:
                    raise errors.KafkaTimeoutError(message) from None
                time.sleep(min(0.05, max(0.0, deadline - time.monotonic())))

    def offsets_for_times(self, timestamps, timeout_ms=None):
        self._check()
        if timeout_ms is None:
            timeout_ms = self.config["request_timeout_ms"]
        deadline = time.monotonic() + timeout_ms / 1000
        out = {}
        for tp, ts in timestamps.items():
            if not isinstance(ts, int) or ts < 0:
                raise ValueError(f"The target time for partition {tp} is {ts}. The target time cannot be negative.")
            p = self._part_or_timeout(tp, deadline, "Failed to get offsets by timestamps in "
                                                    f"{timeout_ms} ms")
            off = p.offset_for_time(ts)
            if off is None:
                out[TopicPartition(*tp)] = None
                continue
            recs = p.read(off, max_records=1)
            out[TopicPartition(*tp)] = OffsetAndTimestamp(off, recs[0].timestamp_ms if recs else ts, _LEADER_EPOCH)
        return out

    def topics(self):
        self._check()
        return set(self._ref.log.topics())

    def partitions_for_topic(self, topic):
        self._check()
        try:
            return set(range(self._ref.log.topic(topic).config.partitions))
        except (_el.UnknownTopicError, _el.InvalidTopicError):
            return None

    # -- commits ---------------------------------------------------------------------------
    def _require_group(self):
        if self.config["group_id"] is None:
            raise IllegalStateError("Requires group_id")

    def _commit_positions(self, tps, quiet=False):
        offsets = self._fetcher.positions(tps)
        if not offsets:
            return
        try:
            self._do_commit({tp: OffsetAndMetadata(o, "", _LEADER_EPOCH) for tp, o in offsets.items()})
        except KafkaError as e:
            if not quiet:
                raise
            _log.warning("Auto offset commit failed for group %s: %s", self.config["group_id"], e)

    def _do_commit(self, offsets):
        plain = {}
        meta = {}
        for tp, om in offsets.items():
            if not isinstance(tp, tuple) or len(tp) != 2:
                raise TypeError("offsets keys must be TopicPartition")
            tp = TopicPartition(*tp)
            if isinstance(om, int):
                off, md = om, ""
            else:
                off, md = om[0], (om[1] if len(om) > 1 else "") or ""
            if not isinstance(off, int) or off < 0:
                raise ValueError(f"offset for {tp} must be an int >= 0, got {off!r}")
            plain[tp] = off
            meta[tp] = md
        if not plain:
            return
        with _translated():
            if self._sub is not None and not self._groupless:
                self._c.commit(plain, metadata=meta)
            else:
                self._store.commit(self.config["group_id"], plain, meta)

    def commit(self, offsets=None, timeout_ms=None):
        self._check()
        self._require_group()
        if offsets is None:
            offsets = {tp: OffsetAndMetadata(o, "", _LEADER_EPOCH) for tp, o in self._fetcher.positions().items()}
        self._do_commit(offsets)

    def commit_async(self, offsets=None, callback=None):
        self._check()
        self._require_group()
        if offsets is None:
            offsets = {tp: OffsetAndMetadata(o, "", _LEADER_EPOCH) for tp, o in self._fetcher.positions().items()}
        f = Future()
        try:
            self._do_commit(offsets)
        except KafkaError as e:
            f.failure(e)
            if callback is not None:
                callback(offsets, e)
        else:
            f.success(None)
            if callback is not None:
                callback(offsets, None)
        return f

    def committed(self, partition, metadata=False, timeout_ms=None):
        self._check()
        self._require_group()
        if not isinstance(partition, tuple) or len(partition) != 2:
            raise TypeError("partition must be a TopicPartition namedtuple")
        tp = TopicPartition(*partition)
        with _translated():
            entry = self._store.committed_metadata(self.config["group_id"], [tp]).get(tp)
        if entry is None:
            return None
        if not metadata:
            return entry.offset
        md = _groups.application_metadata(entry.metadata) or ""
        return OffsetAndMetadata(entry.offset, md, _LEADER_EPOCH)

    def group_metadata(self):
        if self.config["group_id"] is None:
            return ConsumerGroupMetadata(group_id=None)
        g = self._c.group_metadata()
        if not g.member_id:  # not a member (assigned partitions, or not joined yet)
            return ConsumerGroupMetadata(self.config["group_id"], -1, "", self.config["group_instance_id"])
        return ConsumerGroupMetadata(self.config["group_id"], g.generation_id, g.member_id,
                                     self.config["group_instance_id"], MemberState.STABLE)

    def metrics(self, raw=False):
        return {}

    def close(self, autocommit=True, timeout_ms=None):
        if self._closed:
            return
        try:
            if autocommit and self._auto_commit:
                self._commit_positions(None, quiet=True)
            self._fetcher.sync()
            with _translated():
                self._c.close(autocommit=False)
        finally:
            self._closed = True
            for k in ("key_deserializer", "value_deserializer"):
                close = getattr(self.config[k], "close", None)
                if callable(close):
                    try:
                        close()
                    except Exception:
                        pass
            self._ref.release()
