"""kafka-python's client surface over an eventlog directory.

    from eventlog.compat import kafka          # or eventlog.compat.patch("kafka")
    producer = kafka.KafkaProducer(bootstrap_servers="eventlog:///tmp/x")
    consumer = kafka.KafkaConsumer("orders", group_id="billing", bootstrap_servers=...)

`KafkaProducer`, `KafkaConsumer`, `KafkaAdminClient`, `TopicPartition`, `OffsetAndMetadata`,
`ConsumerRecord`, `RecordMetadata`, `ConsumerRebalanceListener`, the assignor and partitioner
classes and every exception of `kafka.errors` behave as kafka-python's (3.x, with the 2.x
names real code still uses). Where the servers point: see `eventlog.compat._common`.

Invariants kept here, on top of the eventlog clients':
- keyed records go where kafka-python puts them: murmur2 of the serialized key (the Java
  client's placement), unless a `partitioner` is given;
- a record counts as consumed once `poll` returned it or iteration yielded it: positions,
  `commit()` and auto-commit never go past records the application has not been given;
- auto-commit (on by default, as in kafka-python) commits consumed positions at the start of
  a `poll` once `auto_commit_interval_ms` has passed, before a rebalance takes partitions
  away, and at `close`;
- every error raised is one of kafka-python's classes (or TypeError/ValueError for bad
  arguments, as kafka-python does), chained to the eventlog error behind it.
"""
from __future__ import annotations

import collections
import contextlib
import functools
import logging
import re
import sys
import threading
import time
import types

from .. import errors as _el
from ..offsets import FileOffsetStore
from ..record import TopicPartition as _ELTopicPartition
from . import _common
from . import _kafka_errors as errors
from ._kafka_errors import (CommitFailedError, IllegalStateError, KafkaConfigurationError,
                            KafkaError, KafkaTimeoutError, NoBrokersAvailable)

__version__ = "3.0.12+eventlog"
_log = logging.getLogger("eventlog.compat.kafka")

# -- structs ------------------------------------------------------------------------------------

# eventlog's TopicPartition *is* kafka-python's: a namedtuple (topic, partition)
TopicPartition = _ELTopicPartition
TopicPartitionReplica = collections.namedtuple("TopicPartitionReplica", ["topic", "partition", "broker_id"])
OffsetAndMetadata = collections.namedtuple("OffsetAndMetadata", ["offset", "metadata", "leader_epoch"],
                                           defaults=["", -1])
OffsetAndTimestamp = collections.namedtuple("OffsetAndTimestamp", ["offset", "timestamp", "leader_epoch"],
                                            defaults=[-1])
ConsumerGroupMetadata = collections.namedtuple(
    "ConsumerGroupMetadata", ["group_id", "generation_id", "member_id", "group_instance_id", "state"],
    defaults=[None, -1, "", None, "<unjoined>"])
ConsumerRecord = collections.namedtuple(
    "ConsumerRecord", ["topic", "partition", "leader_epoch", "offset", "timestamp", "timestamp_type",
                       "key", "value", "headers", "checksum", "serialized_key_size",
                       "serialized_value_size", "serialized_header_size"])
RecordMetadata = collections.namedtuple(
    "RecordMetadata", ["topic", "partition", "topic_partition", "offset", "timestamp", "checksum",
                       "serialized_key_size", "serialized_value_size", "serialized_header_size"])

_LEADER_EPOCH = 0   # one "broker", never re-elected


def _kerr(e):
    """An eventlog error -> the kafka-python exception to raise in its place."""
    if isinstance(e, KafkaError):
        return e
    msg = str(e)
    m = [(_el.CommitFailedError, CommitFailedError),
         (_el.NoOffsetForPartitionError, errors.NoOffsetForPartitionError),
         (_el.OffsetOutOfRangeError, errors.OffsetOutOfRangeError),
         (_el.UnknownTopicError, errors.UnknownTopicOrPartitionError),
         (_el.KafkaTimeoutError, KafkaTimeoutError),
         (_el.BufferFullError, KafkaTimeoutError),
         (_el.IllegalStateError, IllegalStateError),
         (_el.ConsumerClosedError, IllegalStateError),
         (_el.ProducerClosedError, IllegalStateError),
         (_el.InvalidTopicError, errors.InvalidTopicError),
         (_el.TopicExistsError, errors.TopicAlreadyExistsError),
         (_el.RecordTooLargeError, errors.MessageSizeTooLargeError),
         (_el.RebalanceInProgressError, errors.RebalanceInProgressError),
         (_el.GroupNotEmptyError, errors.NonEmptyGroupError)]
    for src, dst in m:
        if isinstance(e, src):
            out = dst(msg)
            break
    else:
        if isinstance(e, (_el.InvalidArgumentError, _el.InvalidTypeError)):
            return e  # ValueError / TypeError subclasses, as kafka-python raises for bad args
        out = KafkaError(msg)
    out.__cause__ = e
    return out


@contextlib.contextmanager
def _translated():
    try:
        yield
    except _el.EventLogError as e:
        k = _kerr(e)
        if k is e:
            raise
        raise k from e


def _open(bootstrap, what):
    try:
        return _common.open_log(bootstrap)
    except _common.NoLogConfigured as e:
        raise NoBrokersAvailable(f"{what}: {e}") from None


def _check_configs(configs, defaults, what):
    extra = set(configs) - set(defaults)
    if extra:
        raise KafkaConfigurationError(f"Unrecognized configs: {extra}")
    c = dict(defaults)
    c.update(configs)
    return c


# -- serializers, partitioners, assignors -------------------------------------------------------

class Serializer:
    def serialize(self, topic, headers, data):
        raise NotImplementedError

    def close(self):
        pass


class Deserializer:
    def deserialize(self, topic, headers, data):
        raise NotImplementedError

    def close(self):
        pass


def _ser(fn, topic, headers, data):
    if fn is None:
        return data
    s = getattr(fn, "serialize", None)
    if s is not None:
        try:
            return s(topic, headers, data)
        except TypeError:
            return s(topic, data)
    return fn(data)


def _deser(fn, topic, headers, data):
    if fn is None:
        return data
    d = getattr(fn, "deserialize", None)
    if d is not None:
        try:
            return d(topic, headers, data)
        except TypeError:
            return d(topic, data)
    return fn(data)


class Partitioner:
    """kafka-python 3.x's partitioner interface."""

    def partition(self, topic, key, serialized_key, value, serialized_value, cluster):
        raise NotImplementedError


def murmur2(data):
    """kafka-python's murmur2 (the Java client's hash, as a signed 32-bit int)."""
    from ..partitioners import murmur2 as m
    return m(bytes(data))


class DefaultPartitioner(Partitioner):
    """murmur2 of the serialized key; a random partition for a null key."""

    def partition(self, topic, key, serialized_key, value, serialized_value, cluster):
        import random
        all_partitions = sorted(cluster.partitions_for_topic(topic))
        if serialized_key is not None:
            return all_partitions[(murmur2(serialized_key) & 0x7FFFFFFF) % len(all_partitions)]
        return random.choice(all_partitions)

    # kafka-python 1.x/2.x called the partitioner itself: (key, all, available)
    def __call__(self, key, all_partitions, available=None):
        if key is None:
            import random
            return random.choice(available or all_partitions)
        return sorted(all_partitions)[(murmur2(key) & 0x7FFFFFFF) % len(all_partitions)]


class StickyPartitioner(DefaultPartitioner):
    """KIP-480: null-key records stick to one partition per batch (eventlog's own default)."""


class _ClusterView:
    """The few ClusterMetadata methods partitioners use."""

    def __init__(self, ref):
        self._ref = ref

    def topics(self, exclude_internal_topics=True):
        return set(self._ref.log.topics())

    def partitions_for_topic(self, topic):
        try:
            return set(range(self._ref.log.topic(topic).config.partitions))
        except _el.EventLogError:
            return None

    available_partitions_for_topic = partitions_for_topic

    def leader_for_partition(self, partition):
        return 0


class AbstractPartitionAssignor:
    name = None


class RangePartitionAssignor(AbstractPartitionAssignor):
    name = "range"
    version = 0


class RoundRobinPartitionAssignor(AbstractPartitionAssignor):
    name = "roundrobin"
    version = 0


class StickyPartitionAssignor(AbstractPartitionAssignor):
    name = "sticky"
    version = 1


class CooperativeStickyAssignor(StickyPartitionAssignor):
    name = "cooperative-sticky"


CooperativeStickyPartitionAssignor = CooperativeStickyAssignor
_BUILTIN_ASSIGNORS = {"range", "roundrobin", "sticky", "cooperative-sticky"}


def _strategy(strategies):
    names = []
    for s in strategies:
        n = getattr(s, "name", s)
        if callable(n):
            n = n()
        if n not in _BUILTIN_ASSIGNORS:
            raise KafkaConfigurationError(
                f"partition_assignment_strategy {s!r}: eventlog computes assignments with its own "
                f"range, roundrobin, sticky and cooperative-sticky assignors; custom kafka-python "
                f"assignors are not supported")
        names.append(n)
    if not names:
        raise KafkaConfigurationError("partition_assignment_strategy is empty")
    return names


class ConsumerRebalanceListener:
    """Override on_partitions_revoked / on_partitions_assigned (and on_partitions_lost)."""

    def on_partitions_revoked(self, revoked):
        pass

    def on_partitions_assigned(self, assigned):
        pass

    def on_partitions_lost(self, lost):
        return self.on_partitions_revoked(lost)


AsyncConsumerRebalanceListener = ConsumerRebalanceListener


# -- futures ------------------------------------------------------------------------------------

class Future:
    """kafka-python's `kafka.future.Future`: success/failure, callbacks, errbacks."""

    error_on_callbacks = False

    def __init__(self):
        self.is_done = False
        self.value = None
        self.exception = None
        self._callbacks = []
        self._errbacks = []
        self._lock = threading.RLock()

    def succeeded(self):
        return self.is_done and not bool(self.exception)

    def failed(self):
        return self.is_done and bool(self.exception)

    def retriable(self):
        try:
            return self.exception.retriable
        except AttributeError:
            return False

    def success(self, value):
        with self._lock:
            if self.is_done:
                raise IllegalStateError("Future is already complete")
            self.value = value
            self.is_done = True
            cbs = list(self._callbacks)
        for f in cbs:
            self._call(f, value)
        return self

    def failure(self, e):
        if isinstance(e, type):
            e = e()
        with self._lock:
            if self.is_done:
                raise IllegalStateError("Future is already complete")
            self.exception = e
            self.is_done = True
            ebs = list(self._errbacks)
        for f in ebs:
            self._call(f, e)
        return self

    def _call(self, f, arg):
        try:
            f(arg)
        except Exception as e:
            _log.exception("Error processing callback")
            if self.error_on_callbacks:
                raise e

    def _add(self, pending, on_success, f, args, kwargs):
        """Queue `f` for when the future completes, or call it now if it already did with the
        outcome it waits for (success for callbacks, failure for errbacks)."""
        if args or kwargs:
            f = functools.partial(f, *args, **kwargs)
        with self._lock:
            if not self.is_done:
                pending.append(f)
                return self
            due = self.succeeded() if on_success else self.failed()
        if due:
            self._call(f, self.value if on_success else self.exception)
        return self

    def add_callback(self, f, *args, **kwargs):
        return self._add(self._callbacks, True, f, args, kwargs)

    def add_errback(self, f, *args, **kwargs):
        return self._add(self._errbacks, False, f, args, kwargs)

    def add_both(self, f, *args, **kwargs):
        self.add_callback(f, *args, **kwargs)
        self.add_errback(f, *args, **kwargs)
        return self

    def chain(self, future):
        self.add_callback(future.success)
        self.add_errback(future.failure)
        return self

    def get(self, timeout=None):
        deadline = _common.deadline_after(timeout)
        while not self.is_done:
            if deadline is not None and time.monotonic() >= deadline:
                raise KafkaTimeoutError(f"Timeout after waiting for {timeout} secs.")
            time.sleep(0.001)
        if self.exception is not None:
            raise self.exception
        return self.value


class FutureRecordMetadata(Future):
    """The future `KafkaProducer.send` returns: `get(timeout)` -> RecordMetadata.

    Its state is read from eventlog's future when asked (`is_done`, `value`, `exception`,
    `get`); callbacks are hooked onto eventlog's future only when added, so a send that nobody
    waits on costs no callback machinery."""

    def __init__(self, efut, sizes, tp=None):
        self._d = False
        self._v = None
        self._x = None
        super().__init__()
        self._efut = efut
        self._sizes = sizes
        self._hooked = False
        self._tp = tp

    is_done = property(lambda self: self._settle() or self._d, lambda self, v: setattr(self, "_d", v))
    value = property(lambda self: self._settle() or self._v, lambda self, v: setattr(self, "_v", v))
    exception = property(lambda self: self._settle() or self._x, lambda self, v: setattr(self, "_x", v))

    def _settle(self):
        """(Any thread) take the eventlog future's outcome if it has one; returns None."""
        ef = self._efut
        if self._d or ef is None or not ef.done():
            return None
        e = ef.exception()
        md = None
        if e is None:
            m = ef.result()
            ks, vs, hs = self._sizes
            md = RecordMetadata(m.topic, m.partition, TopicPartition(m.topic, m.partition), m.offset,
                                m.timestamp_ms, None, ks, vs, hs)
        with self._lock:
            if self._d:
                return None
            if e is not None:
                self._x = _kerr(e)
                fns = list(self._errbacks)
            else:
                self._v = md
                fns = list(self._callbacks)
            self._d = True
        for f in fns:
            self._call(f, self._x if e is not None else self._v)
        return None

    def _hook(self):
        if not self._hooked and self._efut is not None and not self._d:
            self._hooked = True
            self._efut.add_done_callback(lambda _f: self._settle())

    @property
    def topic_partition(self):
        if self._efut is None:
            return self._tp
        b = self._efut[0]
        return TopicPartition(b.tp.topic, b.tp.partition)

    def add_callback(self, f, *args, **kwargs):
        super().add_callback(f, *args, **kwargs)
        self._hook()
        return self

    def add_errback(self, f, *args, **kwargs):
        super().add_errback(f, *args, **kwargs)
        self._hook()
        return self

    def get(self, timeout=None):
        ef = self._efut
        if ef is not None and not ef.done():
            try:
                ef.result(timeout)
            except _el.KafkaTimeoutError:
                if not ef.done():
                    raise KafkaTimeoutError(f"Timeout after waiting for {timeout} secs.") from None
            except Exception:
                pass
        self._settle()
        if self._x is not None:
            raise self._x
        return self._v


def _failed_future(tp, exc, sizes=(-1, -1, -1)):
    f = FutureRecordMetadata(None, sizes, tp)
    f.failure(exc)
    return f


# -- producer -----------------------------------------------------------------------------------

_PRODUCER_DEFAULTS = {
    "bootstrap_servers": "localhost", "client_id": None, "key_serializer": None,
    "value_serializer": None, "enable_idempotence": True, "transactional_id": None,
    "transaction_timeout_ms": 60000, "delivery_timeout_ms": 120000, "acks": -1,
    "compression_type": None, "retries": float("inf"), "batch_size": 16384, "linger_ms": 0,
    "partitioner": None, "connections_max_idle_ms": 540000, "max_block_ms": 60000,
    "max_request_size": 1048576, "allow_auto_create_topics": True, "metadata_max_age_ms": 300000,
    "client_dns_lookup": "use_all_dns_ips", "retry_backoff_ms": 100, "request_timeout_ms": 30000,
    "receive_message_max_bytes": 100_000_000, "receive_buffer_bytes": None,
    "send_buffer_bytes": None, "socket_options": None, "reconnect_backoff_ms": 50,
    "reconnect_backoff_max_ms": 30000, "max_in_flight_requests_per_connection": 5,
    "security_protocol": "PLAINTEXT", "ssl_context": None, "ssl_check_hostname": True,
    "ssl_cafile": None, "ssl_certfile": None, "ssl_keyfile": None, "ssl_crlfile": None,
    "ssl_password": None, "ssl_ciphers": None, "api_version": None, "api_version_auto_timeout_ms": 2000,
    "bootstrap_timeout_ms": 30000, "metric_reporters": [], "metrics_enabled": True,
    "metrics_num_samples": 2, "metrics_sample_window_ms": 30000, "selector": None,
    "sasl_mechanism": None, "sasl_plain_username": None, "sasl_plain_password": None,
    "sasl_kerberos_name": None, "sasl_kerberos_service_name": "kafka",
    "sasl_kerberos_domain_name": None, "sasl_oauth_token_provider": None, "proxy_url": None,
    "socks5_proxy": None, "kafka_client": None, "buffer_memory": 33554432,
}


def _header_size(headers):
    return sum(len(k.encode("utf-8")) + (len(v) if v is not None else 0) for k, v in headers) if headers else -1


class KafkaProducer:
    """kafka-python's KafkaProducer writing to an eventlog directory."""

    DEFAULT_CONFIG = _PRODUCER_DEFAULTS

    def __init__(self, **configs):
        self.config = c = _check_configs(configs, _PRODUCER_DEFAULTS, "KafkaProducer")
        if c["transactional_id"] is not None:
            raise KafkaConfigurationError(
                "transactional_id: eventlog has no transactions (records are visible once written); "
                "run transactional code against a real broker")
        p = c["partitioner"]
        self._partitioner = None
        if p is not None and not isinstance(p, DefaultPartitioner):
            if not (callable(p) or callable(getattr(p, "partition", None))):
                raise KafkaConfigurationError(f"partitioner must be a Partitioner or a callable, got {p!r}")
            self._partitioner = p
        self._ref = _open(c["bootstrap_servers"], "KafkaProducer")
        self._closed = False
        try:
            # murmur2 for keyed records, as kafka-python (eventlog's default partitioner, which
            # caches key hashes); sticky batches for null keys
            self._p = self._ref.log.producer(
                linger_ms=c["linger_ms"], batch_size=max(1, int(c["batch_size"])),
                buffer_memory=int(c["buffer_memory"]), max_block_ms=c["max_block_ms"])
        except Exception:
            self._ref.release()
            raise
        self._cluster = _ClusterView(self._ref)
        self._known = set()

    def __repr__(self):
        return f"<eventlog.compat.kafka.KafkaProducer {self._ref.log.path!r}>"

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def bootstrap_connected(self):
        return not self._closed

    def _topic(self, topic):
        if topic in self._known:
            return
        auto = self.config["allow_auto_create_topics"]
        try:
            self._ref.topic(topic, create=auto)
        except _el.InvalidTopicError as e:
            raise ValueError(f"Invalid topic {topic!r}: {e}") from None
        except _el.UnknownTopicError:
            raise KafkaTimeoutError(
                f"Failed to update metadata after {self.config['max_block_ms'] / 1000} secs: topic "
                f"{topic!r} does not exist in {self._ref.log.path} and auto-creation is off") from None
        self._known.add(topic)

    def send(self, topic, value=None, key=None, headers=None, partition=None, timestamp_ms=None):
        if self._closed:
            raise IllegalStateError("KafkaProducer already closed!")
        if value is None and key is None:
            raise ValueError("Need at least one: key or value")
        if headers is None:
            headers = []
        if not isinstance(headers, list):
            raise TypeError("headers must be list-type")
        if not all(isinstance(h, tuple) and len(h) == 2 and isinstance(h[0], str) and isinstance(h[1], bytes)
                   for h in headers):
            raise TypeError("All headers items must be (str, bytes) tuples")
        kb = _ser(self.config["key_serializer"], topic, headers, key)
        vb = _ser(self.config["value_serializer"], topic, headers, value)
        for what, b in (("key", kb), ("value", vb)):
            if type(b) not in (bytes, bytearray, memoryview, type(None)):
                raise TypeError(f"Unsupported type for serialized {what}: {type(b)}")
        if kb is not None and type(kb) is not bytes:
            kb = bytes(kb)
        if vb is not None and type(vb) is not bytes:
            vb = bytes(vb)
        sizes = (len(kb) if kb is not None else -1, len(vb) if vb is not None else -1, _header_size(headers))
        self._topic(topic)
        if partition is not None:
            if not isinstance(partition, int) or partition < 0:
                raise ValueError("partition must be >= 0")
            n = self._count(topic)
            if partition >= n:
                raise ValueError(f"Unrecognized partition {partition} for topic {topic}")
        elif self._partitioner is not None:
            partition = self._user_partition(topic, key, kb, value, vb)
        size = 61 + (sizes[0] if kb is not None else 0) + (sizes[1] if vb is not None else 0) + \
            (sizes[2] if headers else 0)
        if size > self.config["max_request_size"]:
            raise errors.MessageSizeTooLargeError(
                f"The message is {size} bytes when serialized which is larger than the maximum request "
                f"size you have configured with the max_request_size configuration")
        try:
            ef = self._p.send(topic, value=vb, key=kb, headers=headers or None, partition=partition,
                              timestamp_ms=timestamp_ms)
        except _el.EventLogError as e:
            raise _kerr(e) from e
        return FutureRecordMetadata(ef, sizes)

    def _count(self, topic):
        with _translated():
            return self._ref.log.topic(topic).config.partitions

    def _user_partition(self, topic, key, kb, value, vb):
        p = self._partitioner
        fn = getattr(p, "partition", None)
        if fn is not None:
            try:
                part = fn(topic, key, kb, value, vb, self._cluster)
            except TypeError:
                part = fn(topic, kb, self._cluster)
        else:
            parts = list(range(self._count(topic)))
            part = p(kb, parts, parts)
        if part is None:
            raise ValueError(f"Partitioner did not assign a partition for topic {topic}!")
        return part

    def flush(self, timeout=None):
        with _translated():
            self._p.flush(timeout)

    def close(self, timeout=None, null_logger=False):
        if self._closed:
            return
        self._closed = True
        try:
            with _translated():
                self._p.close(timeout)
        finally:
            for k in ("key_serializer", "value_serializer"):
                close = getattr(self.config[k], "close", None)
                if callable(close):
                    try:
                        close()
                    except Exception:
                        pass
            self._ref.release()

    def partitions_for(self, topic):
        self._topic(topic)
        return set(range(self._count(topic)))

    def metrics(self, raw=False):
        return {}

    def _no_txn(self, *a, **k):
        raise IllegalStateError("eventlog has no transactions: run transactional code against a real broker")

    init_transactions = begin_transaction = send_offsets_to_transaction = _no_txn
    commit_transaction = abort_transaction = _no_txn


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
        if c["isolation_level"] not in ("read_uncommitted", "read_committed"):
            raise KafkaConfigurationError(f"Unrecognized isolation_level {c['isolation_level']!r}")
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
                client_id=c["client_id"] if isinstance(c["client_id"], str) else None)
        except Exception:
            self._ref.release()
            raise
        self._store = FileOffsetStore(self._ref.log.path) if c["group_id"] is not None else None
        self._fetcher = _common.Fetcher(self._c, chunk=max(500, int(c["max_poll_records"])))
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
        self._check()
        return {TopicPartition(*tp): self._part(tp).end_offset for tp in partitions}

    def offsets_for_times(self, timestamps, timeout_ms=None):
        self._check()
        out = {}
        for tp, ts in timestamps.items():
            if not isinstance(ts, int) or ts < 0:
                raise ValueError(f"The target time for partition {tp} is {ts}. The target time cannot be negative.")
            p = self._part(tp)
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
                self._c.commit(plain)
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
        md = "" if _common.is_group_metadata(entry.metadata) else entry.metadata
        return OffsetAndMetadata(entry.offset, md, _LEADER_EPOCH)

    def group_metadata(self):
        if self.config["group_id"] is None:
            return ConsumerGroupMetadata(group_id=None)
        g = getattr(self._c, "_group", None)
        if g is None:
            return ConsumerGroupMetadata(self.config["group_id"], -1, "", self.config["group_instance_id"])
        return ConsumerGroupMetadata(self.config["group_id"], g.generation, g.member_id or "",
                                     self.config["group_instance_id"], "<stable>")

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
            if self._store is not None:
                self._store.close()
            self._ref.release()


# -- admin --------------------------------------------------------------------------------------

class NewTopic:
    def __init__(self, name, num_partitions=-1, replication_factor=-1, replica_assignments=None,
                 topic_configs=None):
        self.name = name
        self.num_partitions = num_partitions
        self.replication_factor = replication_factor
        self.replica_assignments = replica_assignments or {}
        self.topic_configs = topic_configs or {}

    def __repr__(self):
        return f"NewTopic(name={self.name!r}, num_partitions={self.num_partitions})"


class NewPartitions:
    def __init__(self, total_count, new_assignments=None):
        self.total_count = total_count
        self.new_assignments = new_assignments


class ConfigResourceType:
    UNKNOWN = 0
    TOPIC = 2
    BROKER = 4
    BROKER_LOGGER = 8


class ConfigResource:
    def __init__(self, resource_type, name, configs=None):
        self.resource_type = resource_type
        self.name = name
        self.configs = configs


GroupInformation = collections.namedtuple(
    "GroupInformation", ["error_code", "group", "state", "protocol_type", "protocol", "members",
                         "authorized_operations"])
MemberInformation = collections.namedtuple(
    "MemberInformation", ["member_id", "client_id", "client_host", "member_metadata", "member_assignment"])
ConsumerProtocolMemberMetadata = collections.namedtuple(
    "ConsumerProtocolMemberMetadata", ["version", "subscription", "user_data"])
ConsumerProtocolMemberAssignment = collections.namedtuple(
    "ConsumerProtocolMemberAssignment", ["version", "assignment", "user_data"])


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


_ADMIN_DEFAULTS = {k: v for k, v in _PRODUCER_DEFAULTS.items()
                   if k not in ("key_serializer", "value_serializer", "partitioner", "linger_ms")}


class KafkaAdminClient:
    """kafka-python's KafkaAdminClient over an eventlog directory (topics and groups)."""

    DEFAULT_CONFIG = _ADMIN_DEFAULTS

    def __init__(self, **configs):
        self.config = _check_configs(configs, _ADMIN_DEFAULTS, "KafkaAdminClient")
        self._ref = _open(self.config["bootstrap_servers"], "KafkaAdminClient")
        self._closed = False

    def close(self):
        if not self._closed:
            self._closed = True
            self._ref.release()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    @property
    def _log(self):
        if self._closed:
            raise IllegalStateError("KafkaAdminClient is closed")
        return self._ref.log

    # topics
    def _new_topics(self, new_topics):
        if isinstance(new_topics, dict):
            return [NewTopic(n, o.get("num_partitions", -1), o.get("replication_factor", -1),
                             o.get("assignments"), o.get("configs")) for n, o in new_topics.items()]
        out = []
        for t in new_topics:
            out.append(NewTopic(t) if isinstance(t, str) else t)
        return out

    def create_topics(self, new_topics, timeout_ms=None, validate_only=False, raise_errors=True,
                      wait_for_metadata=False):
        log = self._log
        results = []
        first_error = None
        for t in self._new_topics(new_topics):
            err, msg = 0, None
            try:
                n = t.num_partitions
                if n in (None, -1):
                    n = len(t.replica_assignments) if t.replica_assignments else self._ref.target.num_partitions
                if not isinstance(n, int) or n < 1:
                    raise errors.InvalidPartitionsError(f"Number of partitions must be larger than 0: {n}")
                try:
                    settings = _common.topic_settings(t.topic_configs)
                except ValueError as e:
                    raise errors.InvalidConfigurationError(str(e)) from None
                if not _common.valid_topic(t.name):
                    raise errors.InvalidTopicError(f"Topic name {t.name!r} is not valid")
                if t.name in log.topics():
                    raise errors.TopicAlreadyExistsError(f"Topic '{t.name}' already exists.")
                if not validate_only:
                    with _translated():
                        log.create_topic(t.name, partitions=n, **settings)
            except errors.BrokerResponseError as e:
                err, msg = e.errno, str(e.args[0]) if e.args else None
                first_error = first_error or e
            results.append({"name": t.name, "error_code": err, "error_message": msg})
        if first_error is not None and raise_errors:
            raise first_error
        return {"topics": results}

    def delete_topics(self, topics, timeout_ms=None, raise_errors=True):
        log = self._log
        results = []
        first_error = None
        for name in topics:
            err = 0
            try:
                log.delete_topic(name)
            except (_el.UnknownTopicError, _el.InvalidTopicError):
                e = errors.UnknownTopicOrPartitionError(f"Topic {name!r} does not exist")
                err = e.errno
                first_error = first_error or e
            results.append({"name": name, "error_code": err, "error_message": None})
        if first_error is not None and raise_errors:
            raise first_error
        return {"topics": results}

    def list_topics(self):
        return list(self._log.topics())

    def describe_topics(self, topics=None):
        log = self._log
        names = log.topics() if topics is None else topics
        out = []
        for name in names:
            try:
                n = log.topic(name).config.partitions
            except (_el.UnknownTopicError, _el.InvalidTopicError):
                out.append({"error_code": 3, "name": name, "topic": name, "is_internal": False, "partitions": []})
                continue
            out.append({"error_code": 0, "name": name, "topic": name, "is_internal": False,
                        "partitions": [{"error_code": 0, "partition_index": i, "partition": i, "leader_id": 0,
                                        "leader": 0, "replica_nodes": [0], "replicas": [0], "isr_nodes": [0],
                                        "isr": [0], "offline_replicas": []} for i in range(n)]})
        return out

    def create_partitions(self, topic_partitions, timeout_ms=None, validate_only=False, raise_errors=True):
        log = self._log
        results = []
        for name, np in topic_partitions.items():
            total = np.total_count if isinstance(np, NewPartitions) else int(np)
            with _translated():
                t = log.topic(name)
                if total <= t.config.partitions:
                    e = errors.InvalidPartitionsError(
                        f"Topic currently has {t.config.partitions} partitions, which is higher than or "
                        f"equal to the requested {total}.")
                    if raise_errors:
                        raise e
                    results.append({"name": name, "error_code": e.errno, "error_message": str(e)})
                    continue
                if not validate_only:
                    t.add_partitions(total)
            results.append({"name": name, "error_code": 0, "error_message": None})
        return {"results": results}

    # groups (2.x names and shapes)
    def list_consumer_groups(self, broker_ids=None, states_filter=None):
        return [(g, "consumer") for g in self._log.groups()]

    def describe_consumer_groups(self, group_ids, group_coordinator_id=None, include_authorized_operations=False):
        log = self._log
        out = []
        for gid in group_ids:
            g = log.group(gid)
            members = []
            strategy = ""
            for m in g.members():
                by_topic = collections.defaultdict(list)
                for tp in m.assignment:
                    by_topic[tp.topic].append(tp.partition)
                members.append(MemberInformation(
                    m.member_id, m.client_id, m.host,
                    ConsumerProtocolMemberMetadata(0, sorted(m.topics), b""),
                    ConsumerProtocolMemberAssignment(0, sorted((t, sorted(p)) for t, p in by_topic.items()), b"")))
                strategy = g.assignor or ""
            state = group_state(log, gid)
            out.append(GroupInformation(0, gid, state, "consumer" if state != "Dead" else "", strategy,
                                        members, None))
        return out

    def list_consumer_group_offsets(self, group_id, group_coordinator_id=None, partitions=None):
        log = self._log
        store = FileOffsetStore(log.path)
        try:
            if partitions is None:
                entries = store.all_committed_metadata(group_id)
            else:
                entries = {tp: e for tp, e in store.committed_metadata(
                    group_id, [TopicPartition(*tp) for tp in partitions]).items() if e is not None}
        finally:
            store.close()
        return {TopicPartition(*tp): OffsetAndMetadata(
            e.offset, "" if _common.is_group_metadata(e.metadata) else e.metadata, _LEADER_EPOCH)
            for tp, e in sorted(entries.items())}

    def delete_consumer_groups(self, group_ids, group_coordinator_id=None):
        out = []
        for gid in group_ids:
            try:
                if gid not in self._log.groups():
                    raise errors.GroupIdNotFoundError(f"group {gid!r} does not exist")
                with _translated():
                    self._log.group(gid).delete()
                out.append((gid, errors.NoError))
            except KafkaError as e:
                out.append((gid, type(e)))
        return out

    # 3.x names and shapes
    def list_groups(self, broker_ids=None, states_filter=None, types_filter=None):
        return [{"group_id": g, "protocol_type": "consumer", "group_state": group_state(self._log, g),
                 "group_type": "classic"} for g in self._log.groups()]

    def describe_groups(self, group_ids, group_coordinator_id=None, include_authorized_operations=False):
        out = {}
        for info in self.describe_consumer_groups(group_ids):
            out[info.group] = {
                "group_id": info.group, "group_state": info.state, "protocol_type": info.protocol_type,
                "protocol_data": info.protocol, "error": None,
                "members": [{"member_id": m.member_id, "client_id": m.client_id, "client_host": m.client_host,
                             "member_assignment": m.member_assignment} for m in info.members]}
        return out

    def list_group_offsets(self, group_specs):
        if isinstance(group_specs, str):
            group_specs = {group_specs: None}
        elif isinstance(group_specs, (list, tuple)):
            group_specs = {g: None for g in group_specs}
        return {g: self.list_consumer_group_offsets(g, partitions=p) for g, p in group_specs.items()}

    def delete_groups(self, group_ids, group_coordinator_id=None):
        return {g: (None if e is errors.NoError else e) for g, e in self.delete_consumer_groups(group_ids)}

    def describe_cluster(self):
        return {"cluster_id": "eventlog", "controller_id": 0,
                "brokers": [{"node_id": 0, "host": self._ref.log.path, "port": 0, "rack": None}]}


# -- kafka-python's module layout, for eventlog.compat.patch("kafka") ---------------------------

def _module(name, **attrs):
    m = types.ModuleType(name)
    m.__dict__.update(attrs)
    return m


_this = sys.modules[__name__]
structs = _module("kafka.structs", TopicPartition=TopicPartition, TopicPartitionReplica=TopicPartitionReplica,
                  OffsetAndMetadata=OffsetAndMetadata, OffsetAndTimestamp=OffsetAndTimestamp,
                  ConsumerGroupMetadata=ConsumerGroupMetadata)
serializer = _module("kafka.serializer", Serializer=Serializer, Deserializer=Deserializer)
partitioner = _module("kafka.partitioner", Partitioner=Partitioner, DefaultPartitioner=DefaultPartitioner,
                      StickyPartitioner=StickyPartitioner, murmur2=murmur2)
admin = _module("kafka.admin", KafkaAdminClient=KafkaAdminClient, NewTopic=NewTopic, NewPartitions=NewPartitions,
                ConfigResource=ConfigResource, ConfigResourceType=ConfigResourceType)
_future_mod = _module("kafka.future", Future=Future)
_consumer_mod = _module("kafka.consumer", KafkaConsumer=KafkaConsumer)
_producer_mod = _module("kafka.producer", KafkaProducer=KafkaProducer)
_assignors = {
    "kafka.coordinator": _module("kafka.coordinator"),
    "kafka.coordinator.assignors": _module("kafka.coordinator.assignors"),
    "kafka.coordinator.assignors.abstract": _module("kafka.coordinator.assignors.abstract",
                                                    AbstractPartitionAssignor=AbstractPartitionAssignor),
    "kafka.coordinator.assignors.range": _module("kafka.coordinator.assignors.range",
                                                 RangePartitionAssignor=RangePartitionAssignor),
    "kafka.coordinator.assignors.roundrobin": _module("kafka.coordinator.assignors.roundrobin",
                                                      RoundRobinPartitionAssignor=RoundRobinPartitionAssignor),
    "kafka.coordinator.assignors.sticky": _module("kafka.coordinator.assignors.sticky"),
    "kafka.coordinator.assignors.sticky.sticky_assignor": _module(
        "kafka.coordinator.assignors.sticky.sticky_assignor", StickyPartitionAssignor=StickyPartitionAssignor),
    "kafka.coordinator.assignors.cooperative_sticky": _module(
        "kafka.coordinator.assignors.cooperative_sticky", CooperativeStickyAssignor=CooperativeStickyAssignor),
}

#: module name -> module object that eventlog.compat.patch("kafka") installs in sys.modules
MODULES = {
    "kafka": _this,
    "kafka.errors": errors,
    "kafka.structs": structs,
    "kafka.serializer": serializer,
    "kafka.partitioner": partitioner,
    "kafka.partitioner.default": partitioner,
    "kafka.admin": admin,
    "kafka.future": _future_mod,
    "kafka.consumer": _consumer_mod,
    "kafka.consumer.group": _consumer_mod,
    "kafka.consumer.fetcher": _module("kafka.consumer.fetcher", ConsumerRecord=ConsumerRecord),
    "kafka.consumer.subscription_state": _module(
        "kafka.consumer.subscription_state", ConsumerRebalanceListener=ConsumerRebalanceListener,
        AsyncConsumerRebalanceListener=AsyncConsumerRebalanceListener),
    "kafka.producer": _producer_mod,
    "kafka.producer.kafka": _producer_mod,
    "kafka.producer.future": _module("kafka.producer.future", RecordMetadata=RecordMetadata,
                                     FutureRecordMetadata=FutureRecordMetadata),
    **_assignors,
}
for _name, _m in list(MODULES.items()):
    if _name != "kafka" and "." in _name:
        _parent, _, _child = _name.rpartition(".")
        _p = MODULES.get(_parent)
        if _p is not None and _p is not _this and not hasattr(_p, _child):
            setattr(_p, _child, _m)
coordinator = _assignors["kafka.coordinator"]
consumer = _consumer_mod
producer = _producer_mod
future = _future_mod
_consumer_mod.subscription_state = MODULES["kafka.consumer.subscription_state"]
_consumer_mod.fetcher = MODULES["kafka.consumer.fetcher"]
_producer_mod.future = MODULES["kafka.producer.future"]

__all__ = [
    "KafkaAdminClient", "KafkaConsumer", "KafkaProducer", "ConsumerRebalanceListener",
    "AsyncConsumerRebalanceListener", "Serializer", "Deserializer", "ConsumerGroupMetadata",
    "OffsetAndMetadata", "TopicPartition", "TopicPartitionReplica", "ConsumerRecord", "RecordMetadata",
    "errors", "NewTopic", "NewPartitions",
]
