"""confluent-kafka's client surface over an eventlog directory.

    from eventlog.compat import confluent_kafka as ck   # or eventlog.compat.patch("confluent_kafka")
    p = ck.Producer({"bootstrap.servers": "eventlog:///tmp/x"})
    p.produce("orders", b"v", key=b"k", on_delivery=cb); p.flush()
    c = ck.Consumer({"bootstrap.servers": ..., "group.id": "billing", "auto.offset.reset": "earliest"})

`Producer`, `Consumer`, `Message`, `TopicPartition`, `KafkaError`, `KafkaException`, the
`OFFSET_*`/`TIMESTAMP_*` constants and `admin.AdminClient` behave as confluent-kafka's
(librdkafka 2.x). Where the servers point: see `eventlog.compat._common`.

Rules kept from librdkafka:
- placement: the `partitioner` setting (default ``consistent_random``: CRC32 of the key,
  random for a null or empty key; ``murmur2_random`` is the Java client's placement);
- delivery reports and commit callbacks (`on_delivery`, `on_commit`) run inside `poll()` /
  `flush()` on the calling thread, never on a background thread; `len(producer)` counts
  messages whose report has not been served; `BufferError` past
  ``queue.buffering.max.messages``;
- a consumed message's offset + 1 is *stored* when `poll`/`consume` returns it (unless
  ``enable.auto.offset.store=false``: then `store_offsets`); `commit()` and auto-commit
  commit stored offsets that differ from the committed ones, else `_NO_OFFSET`;
- `position()` is the offset after the last message returned (OFFSET_INVALID before any,
  and again after a seek); ``enable.partition.eof`` yields one `_PARTITION_EOF` message
  each time a partition's end is reached;
- rebalance callbacks (`on_assign`, `on_revoke`, `on_lost`) run inside `poll`/`consume`/
  `close`; inside `on_assign`, `assign()`/`incremental_assign()` with offsets set where
  consumption starts.
Configuration keys that only tune the network client are accepted and ignored; keys that
would change semantics eventlog cannot honour raise `KafkaException(_INVALID_ARG)`.
"""
from __future__ import annotations

import collections
import enum
import logging
import re
import sys
import threading
import time
import types

from .. import errors as _el
from ..offsets import FileOffsetStore
from ..record import TopicPartition as _TP
from . import _common
from ._confluent_codes import CODES as _CODES

_log = logging.getLogger("eventlog.compat.confluent_kafka")

OFFSET_BEGINNING = -2
OFFSET_END = -1
OFFSET_STORED = -1000
OFFSET_INVALID = -1001
TIMESTAMP_NOT_AVAILABLE = 0
TIMESTAMP_CREATE_TIME = 1
TIMESTAMP_LOG_APPEND_TIME = 2


def version():
    return ("2.16.1+eventlog", 0x02100100)


def libversion():
    return ("2.16.0+eventlog", 0x02100000)


# -- errors -------------------------------------------------------------------------------------

_NAMES = {code: name for code, name, _ in _CODES}
_DESCS = {code: desc for code, _, desc in _CODES}
_RETRIABLE = {-185, -187, -195, 7, 13, 14, 15, 16, 19, 20, -192, 27, 51}


class KafkaError:
    """confluent-kafka's KafkaError: `code()`, `name()`, `str()`, `fatal()`, `retriable()`,
    `txn_requires_abort()`; every librdkafka error code is a class attribute."""

    def __init__(self, error, reason=None, fatal=False, retriable=None, txn_requires_abort=False):
        self._code = int(error)
        self._reason = reason
        self._fatal = bool(fatal)
        self._retriable = (self._code in _RETRIABLE) if retriable is None else bool(retriable)
        self._txn = bool(txn_requires_abort)

    def code(self):
        return self._code

    def name(self):
        return _NAMES.get(self._code, f"ERR_{self._code}?")

    def str(self):
        return self._reason if self._reason is not None else _DESCS.get(self._code, f"Err-{self._code}?")

    def fatal(self):
        return self._fatal

    def retriable(self):
        return self._retriable

    def txn_requires_abort(self):
        return self._txn

    def __repr__(self):
        return f'KafkaError{{code={self.name()},val={self._code},str="{self.str()}"}}'

    __str__ = __repr__

    def __eq__(self, other):
        if isinstance(other, KafkaError):
            return self._code == other._code
        if isinstance(other, int):
            return self._code == other
        return NotImplemented

    def __ne__(self, other):
        r = self.__eq__(other)
        return r if r is NotImplemented else not r

    def __hash__(self):
        return hash(self._code)

    def __lt__(self, other):
        return self._code < (other._code if isinstance(other, KafkaError) else other)

    def __bool__(self):
        return True


for _code, _name, _desc in _CODES:
    setattr(KafkaError, _name, _code)


class KafkaException(Exception):
    """Raised with a KafkaError as `args[0]`."""

    def __init__(self, *args, **kwargs):
        if args and isinstance(args[0], int) and not isinstance(args[0], bool):
            args = (KafkaError(args[0], *args[1:2], **kwargs),) + tuple(args[2:])
        super().__init__(*args)

    def __str__(self):
        return str(self.args[0]) if self.args else ""


class ConcurrentModificationException(KafkaException):
    pass


class IllegalStateException(KafkaException):
    pass


def _exc(code, reason=None):
    return KafkaException(KafkaError(code, reason))


def _from_el(e, prefix=""):
    """An eventlog error -> KafkaException with the nearest librdkafka code."""
    m = [(_el.CommitFailedError, KafkaError.ILLEGAL_GENERATION),
         (_el.NoOffsetForPartitionError, KafkaError._AUTO_OFFSET_RESET),
         (_el.OffsetOutOfRangeError, KafkaError.OFFSET_OUT_OF_RANGE),
         (_el.UnknownPartitionError, KafkaError._UNKNOWN_PARTITION),
         (_el.UnknownTopicError, KafkaError.UNKNOWN_TOPIC_OR_PART),
         (_el.KafkaTimeoutError, KafkaError._TIMED_OUT),
         (_el.IllegalStateError, KafkaError._STATE),
         (_el.InvalidTopicError, KafkaError.TOPIC_EXCEPTION),
         (_el.TopicExistsError, KafkaError.TOPIC_ALREADY_EXISTS),
         (_el.RecordTooLargeError, KafkaError.MSG_SIZE_TOO_LARGE),
         (_el.BufferFullError, KafkaError._QUEUE_FULL),
         (_el.GroupNotEmptyError, KafkaError.NON_EMPTY_GROUP),
         (_el.InvalidArgumentError, KafkaError._INVALID_ARG),
         (_el.InvalidTypeError, KafkaError._INVALID_ARG)]
    code = KafkaError._FAIL
    for src, c in m:
        if isinstance(e, src):
            code = c
            break
    out = _exc(code, f"{prefix}{e}")
    out.__cause__ = e
    return out


# -- value types --------------------------------------------------------------------------------

class TopicPartition:
    """confluent-kafka's TopicPartition: topic, partition, offset, metadata, leader_epoch, error.
    Compares and hashes by (topic, partition), as the C type does."""

    __slots__ = ("topic", "partition", "offset", "metadata", "leader_epoch", "error")

    def __init__(self, topic, partition=-1, offset=OFFSET_INVALID, metadata=None, leader_epoch=None):
        if not isinstance(topic, str):
            raise TypeError("Topic must be a string")
        self.topic = topic
        self.partition = int(partition)
        self.offset = int(offset)
        self.metadata = metadata
        self.leader_epoch = leader_epoch if leader_epoch is None or leader_epoch >= 0 else None
        self.error = None

    def _key(self):
        return (self.topic, self.partition)

    def __eq__(self, other):
        if not isinstance(other, TopicPartition):
            return NotImplemented
        return self._key() == other._key()

    def __lt__(self, other):
        return self._key() < other._key()

    def __le__(self, other):
        return self._key() <= other._key()

    def __gt__(self, other):
        return self._key() > other._key()

    def __ge__(self, other):
        return self._key() >= other._key()

    def __hash__(self):
        return hash(self._key())

    def __repr__(self):
        return (f"TopicPartition{{topic={self.topic},partition={self.partition},offset={self.offset},"
                f"leader_epoch={self.leader_epoch},error={self.error}}}")

    __str__ = __repr__

    def __reduce__(self):
        return (TopicPartition, (self.topic, self.partition, self.offset, self.metadata, self.leader_epoch))


def _tp(x):
    return _TP(x.topic, x.partition)


class Message:
    """A consumed message, a delivery report, or an event (`error()` set)."""

    __slots__ = ("_topic", "_partition", "_offset", "_key", "_value", "_headers", "_ts", "_error",
                 "_latency", "_leader_epoch")

    def __init__(self, topic=None, partition=None, offset=None, key=None, value=None, headers=None,
                 error=None, timestamp=None, latency=None, leader_epoch=None):
        self._topic = topic
        self._partition = partition
        self._offset = offset
        self._key = key
        self._value = value
        self._headers = headers
        self._error = error
        self._ts = timestamp if timestamp is not None else (TIMESTAMP_NOT_AVAILABLE, 0)
        self._latency = latency
        self._leader_epoch = leader_epoch

    def topic(self):
        return self._topic

    def partition(self):
        return self._partition

    def offset(self):
        return self._offset

    def key(self):
        return self._key

    def value(self):
        return self._value

    def headers(self):
        return self._headers

    def error(self):
        return self._error

    def timestamp(self):
        return self._ts

    def latency(self):
        return self._latency

    def leader_epoch(self):
        return self._leader_epoch

    def set_headers(self, h):
        self._headers = h

    def set_key(self, k):
        self._key = k

    def set_value(self, v):
        self._value = v

    def set_topic(self, t):
        self._topic = t

    def set_error(self, e):
        self._error = e

    def __len__(self):
        return len(self._value) if self._value is not None else 0

    def __repr__(self):
        return (f"<eventlog Message {self._topic}[{self._partition}]@{self._offset} "
                f"key={self._key!r} error={self._error}>")


def _message(r):
    h = list(r.headers) if r.headers else None
    return Message(r.topic, r.partition, r.offset, r.key, r.value, h, None,
                   (TIMESTAMP_CREATE_TIME, r.timestamp_ms), None, 0)


class ConsumerGroupState(enum.Enum):
    UNKNOWN = 0
    UNKOWN = 0
    PREPARING_REBALANCING = 1
    COMPLETING_REBALANCING = 2
    STABLE = 3
    DEAD = 4
    EMPTY = 5

    def __lt__(self, other):
        return self.value < other.value


class ConsumerGroupType(enum.Enum):
    UNKNOWN = 0
    CONSUMER = 1
    CLASSIC = 2

    def __lt__(self, other):
        return self.value < other.value


class IsolationLevel(enum.Enum):
    READ_UNCOMMITTED = 0
    READ_COMMITTED = 1


class ConsumerGroupTopicPartitions:
    def __init__(self, group_id, topic_partitions=None):
        self.group_id = group_id
        self.topic_partitions = topic_partitions

    def __repr__(self):
        return f"ConsumerGroupTopicPartitions({self.group_id!r}, {self.topic_partitions!r})"


class Node:
    def __init__(self, id, host, port, rack=None):  # noqa: A002 - confluent's names
        self.id = id
        self.id_string = str(id)
        self.host = host
        self.port = port
        self.rack = rack


class TopicCollection:
    def __init__(self, topic_names):
        self.topic_names = topic_names


class _ConsumerGroupMetadata:
    def __init__(self, group_id, generation, member_id):
        self.group_id = group_id
        self.generation_id = generation
        self.member_id = member_id


# -- metadata (list_topics) ---------------------------------------------------------------------

class ClusterMetadata:
    def __init__(self):
        self.cluster_id = "eventlog"
        self.controller_id = 0
        self.brokers = {}
        self.topics = {}
        self.orig_broker_id = 0
        self.orig_broker_name = None

    def __repr__(self):
        return f"ClusterMetadata({self.cluster_id})"


class BrokerMetadata:
    def __init__(self, id=0, host=None, port=0):  # noqa: A002
        self.id = id
        self.host = host
        self.port = port

    def __str__(self):
        return f"{self.host}:{self.port}/{self.id}"


class TopicMetadata:
    def __init__(self):
        self.topic = None
        self.topic_id = None
        self.partitions = {}
        self.error = None

    def __repr__(self):
        return f"TopicMetadata({self.topic}, {len(self.partitions)} partitions)"


class PartitionMetadata:
    def __init__(self):
        self.id = -1
        self.leader = -1
        self.replicas = []
        self.isrs = []
        self.error = None


def _cluster_metadata(log, topic=None):
    md = ClusterMetadata()
    md.orig_broker_name = f"eventlog:{log.path}/0"
    md.brokers[0] = BrokerMetadata(0, log.path, 0)
    names = log.topics() if topic is None else [topic]
    for name in names:
        tm = TopicMetadata()
        tm.topic = name
        try:
            n = log.topic(name).config.partitions
        except (_el.UnknownTopicError, _el.InvalidTopicError):
            tm.error = KafkaError(KafkaError.UNKNOWN_TOPIC_OR_PART)
            md.topics[name] = tm
            continue
        for i in range(n):
            pm = PartitionMetadata()
            pm.id, pm.leader, pm.replicas, pm.isrs = i, 0, [0], [0]
            tm.partitions[i] = pm
        md.topics[name] = tm
    return md


# -- configuration --------------------------------------------------------------------------------

_NETWORK_COMMON = {
    "security.protocol", "ssl.", "sasl.", "socket.", "api.version.", "broker.", "reconnect.",
    "retry.backoff.ms", "retry.backoff.max.ms", "request.timeout.ms", "statistics.interval.ms",
    "debug", "log_level", "log.", "enable.ssl.certificate.verification", "client.dns.lookup",
    "metadata.", "topic.metadata.", "connections.max.idle.ms", "max.in.flight.requests.per.connection",
    "max.in.flight", "receive.message.max.bytes", "message.copy.max.bytes", "internal.termination.signal",
    "client.rack", "client.software.name", "client.software.version", "oauthbearer_token_refresh_cb",
    "enable.sasl.oauthbearer.unsecure.jwt", "builtin.features", "plugin.library.paths",
    "resolve_cb", "connect_cb", "closesocket_cb", "open_cb", "background_event_cb", "opaque",
    "enable.random.seed", "enable.metrics.push", "allow.auto.create.topics", "https.", "ssl_key",
    "bootstrap.servers", "metadata.broker.list", "client.id", "error_cb", "throttle_cb", "stats_cb",
    "logger", "default.topic.config", "group.protocol.type", "api.version.request",
}
_REFUSED_COMMON = {
    "test.mock.num.brokers": "it starts librdkafka's mock cluster; eventlog is the broker here",
    "test.mock.broker.rtt": "mock cluster setting",
}


def _merge_conf(conf, kwargs, what):
    if conf is None:
        conf = {}
    elif not isinstance(conf, dict):
        raise TypeError(f"expected configuration dict, got {type(conf).__name__}")
    c = dict(conf)
    c.update(kwargs)
    dtc = c.pop("default.topic.config", None)
    if isinstance(dtc, dict):
        for k, v in dtc.items():
            c.setdefault(k, v)
    return c


def _cfg_error(e):
    return KafkaException(KafkaError(KafkaError._INVALID_ARG, str(e)))


def _int(c, key, default):
    v = c.get(key, default)
    try:
        return int(v)
    except (TypeError, ValueError):
        raise _cfg_error(f'Invalid value "{v}" for configuration property "{key}"') from None


def _bool(c, key, default):
    v = c.get(key, default)
    if isinstance(v, bool):
        return v
    s = str(v).lower()
    if s in ("true", "1", "t", "yes"):
        return True
    if s in ("false", "0", "f", "no"):
        return False
    raise _cfg_error(f'Invalid value "{v}" for configuration property "{key}"')


def _open(conf, what):
    servers = conf.get("bootstrap.servers", conf.get("metadata.broker.list"))
    try:
        return _common.open_log(servers)
    except _common.NoLogConfigured as e:
        raise KafkaException(KafkaError(KafkaError._INVALID_ARG, f"{what}: {e}")) from None


def _bytes(x, what):
    if x is None or type(x) is bytes:
        return x
    if isinstance(x, str):
        return x.encode("utf-8")
    if isinstance(x, (bytearray, memoryview)):
        return bytes(x)
    raise TypeError(f"{what} must be str, bytes or None, not {type(x).__name__}")


def _headers(h):
    if h is None:
        return None
    items = h.items() if isinstance(h, dict) else h
    out = []
    for item in items:
        try:
            k, v = item
        except (TypeError, ValueError):
            raise TypeError("Headers are expected to be a list of (key, value) tuples or a dict") from None
        if not isinstance(k, str):
            k = str(k)  # as confluent-kafka, which converts the key with str()
        out.append((k, _bytes(v, "Header value")))
    return out or None


# -- producer -------------------------------------------------------------------------------------

_PRODUCER_KNOWN = {
    "partitioner", "linger.ms", "queue.buffering.max.ms", "batch.size", "batch.num.messages",
    "queue.buffering.max.messages", "queue.buffering.max.kbytes", "message.max.bytes", "on_delivery",
    "delivery.report.only.error", "dr_cb", "dr_msg_cb", "acks", "request.required.acks",
    "enable.idempotence", "compression.type", "compression.codec", "compression.level",
    "message.timeout.ms", "delivery.timeout.ms", "retries", "message.send.max.retries",
    "queue.buffering.backpressure.threshold", "sticky.partitioning.linger.ms",
    "enable.gapless.guarantee", "partitioner_cb", "msg_order_cmp", "produce.offset.report",
    "transaction.timeout.ms", "enable.delivery.reports", "produce.request.max.partitions",
    "request.timeout.ms", "queuing.strategy",
}
_PRODUCER_REFUSED = dict(_REFUSED_COMMON, **{
    "transactional.id": "eventlog has no transactions (records are visible once written); run "
                        "transactional code against a real broker",
})
_PARTITIONERS = ("random", "consistent", "consistent_random", "murmur2", "murmur2_random", "fnv1a",
                 "fnv1a_random")


class Producer:
    """confluent-kafka's Producer writing to an eventlog directory."""

    def __init__(self, conf=None, **kwargs):
        c = _merge_conf(conf, kwargs, "Producer")
        try:
            _common.split_config(c, _PRODUCER_KNOWN, _NETWORK_COMMON, _PRODUCER_REFUSED, "Producer")
        except ValueError as e:
            raise _cfg_error(e) from None
        part = c.get("partitioner", "consistent_random")
        if part not in _PARTITIONERS:
            raise _cfg_error(f'Invalid value "{part}" for configuration property "partitioner"')
        if c.get("partitioner_cb") is not None:
            raise _cfg_error("partitioner_cb is not supported by confluent-kafka's Python client either")
        self._dr_cb = c.get("on_delivery", c.get("dr_cb", c.get("dr_msg_cb")))
        self._dr_only_error = _bool(c, "delivery.report.only.error", False)
        self._dr_enabled = _bool(c, "enable.delivery.reports", True)
        self._max_msgs = _int(c, "queue.buffering.max.messages", 100000)
        self._max_bytes = _int(c, "message.max.bytes", 1000000)
        self._error_cb = c.get("error_cb")
        linger = float(c.get("linger.ms", c.get("queue.buffering.max.ms", 5)))
        self._ref = _open(c, "Producer")
        try:
            self._p = self._ref.log.producer(
                partitioner=part, linger_ms=linger,
                batch_size=max(1, _int(c, "batch.size", 1000000)),
                buffer_memory=max(1, _int(c, "queue.buffering.max.kbytes", 1048576)) * 1024,
                max_block_ms=0)
        except Exception:
            self._ref.release()
            raise
        self._pending = 0            # produced, report not yet served
        self._reports = collections.deque()
        self._cv = threading.Condition(threading.Lock())
        self._known = set()
        self._closed = False

    def __repr__(self):
        return f"<eventlog.compat.confluent_kafka.Producer {self._ref.log.path!r}>"

    def __len__(self):
        return self._pending

    def __bool__(self):
        return True

    def _check(self):
        if self._closed:
            raise RuntimeError("Producer has been closed")

    def _topic(self, topic):
        if topic in self._known:
            return
        try:
            self._ref.topic(topic, create=True)
        except _el.InvalidTopicError:
            raise _exc(KafkaError._INVALID_ARG, f"Unable to produce message: invalid topic {topic!r}") from None
        except _el.UnknownTopicError:
            raise _exc(KafkaError._UNKNOWN_TOPIC, "Unable to produce message: Local: Unknown topic") from None
        self._known.add(topic)

    def produce(self, topic, value=None, key=None, partition=-1, on_delivery=None, timestamp=0,
                headers=None, callback=None):
        self._check()
        if not isinstance(topic, str):
            raise TypeError("topic must be str")
        value = _bytes(value, "value")
        key = _bytes(key, "key")
        hs = _headers(headers)
        cb = on_delivery if on_delivery is not None else callback
        if cb is None:
            cb = self._dr_cb
        if self._pending >= self._max_msgs:
            raise BufferError("Local: Queue full")
        size = (len(value) if value else 0) + (len(key) if key else 0) + \
            (sum(len(k) + len(v or b"") for k, v in hs) if hs else 0)
        if size > self._max_bytes:
            raise _exc(KafkaError.MSG_SIZE_TOO_LARGE,
                       "Unable to produce message: Broker: Message size too large")
        self._topic(topic)
        if partition is None or partition == -1:
            partition = None
        else:
            n = self._ref.log.topic(topic).config.partitions
            if not isinstance(partition, int) or not 0 <= partition < n:
                raise _exc(KafkaError._UNKNOWN_PARTITION, "Unable to produce message: Local: Unknown partition")
        try:
            f = self._p.send(topic, value=value, key=key, headers=hs, partition=partition,
                             timestamp_ms=timestamp if timestamp else None)
        except _el.BufferFullError:
            raise BufferError("Local: Queue full") from None
        except _el.EventLogError as e:
            raise _from_el(e, "Unable to produce message: ") from e
        with self._cv:
            self._pending += 1
        f.add_done_callback(lambda fut, cb=cb, k=key, v=value: self._done(fut, cb, k, v))

    def _done(self, fut, cb, key, value):
        """(eventlog's sender thread) queue a delivery report for poll()/flush()."""
        with self._cv:
            self._reports.append((fut, cb, key, value))
            self._cv.notify_all()

    def _serve(self, timeout):
        """Serve queued reports, waiting up to `timeout` s (None: forever) for the first."""
        deadline = _common.deadline_after(timeout)
        with self._cv:
            while not self._reports:
                left = _common.left(deadline)
                if left is not None and left <= 0:
                    return 0
                self._cv.wait(left if left is not None else 0.5)
            reports = list(self._reports)
            self._reports.clear()
        batches = set()
        for fut, cb, key, value in reports:
            with self._cv:
                self._pending -= 1
            # librdkafka serves one delivery-report event per produce batch
            batches.add(id(fut[0]))
            if cb is None or not self._dr_enabled:
                continue
            b = fut[0]
            tp = b.tp
            e = fut.exception()
            if e is None:
                md = fut.result()
                if self._dr_only_error:
                    continue
                msg = Message(tp.topic, tp.partition, md.offset, key, value, None, None,
                              (TIMESTAMP_CREATE_TIME, md.timestamp_ms), 0.0, 0)
                cb(None, msg)
            else:
                err = _from_el(e).args[0]
                msg = Message(tp.topic, tp.partition, OFFSET_INVALID, key, value, None, err,
                              (TIMESTAMP_NOT_AVAILABLE, 0), 0.0, None)
                cb(err, msg)
        return len(batches)

    def poll(self, timeout=None):
        """Serve delivery reports; wait up to `timeout` s for one (None or -1: forever)."""
        self._check()
        if timeout is not None and timeout < 0:
            timeout = None
        if timeout is None and not self._pending:
            timeout = 0  # nothing in flight could ever produce an event
        return self._serve(timeout)

    def flush(self, timeout=None):
        """Write everything and serve every report; returns messages still in the queue."""
        self._check()
        if timeout is not None and timeout < 0:
            timeout = None
        deadline = _common.deadline_after(timeout)
        try:
            self._p.flush(timeout)
        except _el.KafkaTimeoutError:
            pass
        while self._pending:
            left = _common.left(deadline)
            if left is not None and left <= 0:
                break
            self._serve(min(left, 0.1) if left is not None else 0.1)
        return self._pending

    def purge(self, in_queue=True, in_flight=True, blocking=True):
        """eventlog writes every produced message (there is no queue to take back): flushes."""
        self._check()
        self._p.flush()

    def list_topics(self, topic=None, timeout=-1):
        self._check()
        return _cluster_metadata(self._ref.log, topic)

    def close(self, timeout=None):
        if self._closed:
            return 0
        try:
            self.flush(timeout)
        finally:
            self._closed = True
            try:
                self._p.close(timeout)
            finally:
                self._ref.release()
        return self._pending

    def _no_txn(self, *a, **k):
        raise _exc(KafkaError._NOT_CONFIGURED, "eventlog has no transactions: run transactional code "
                                               "against a real broker")

    init_transactions = begin_transaction = commit_transaction = _no_txn
    abort_transaction = send_offsets_to_transaction = _no_txn

    def set_sasl_credentials(self, username, password):
        pass

    def produce_batch(self, topic, messages, partition=-1, on_delivery=None):
        n = 0
        for m in messages:
            try:
                self.produce(topic, m.get("value"), m.get("key"), m.get("partition", partition),
                             m.get("callback", on_delivery), m.get("timestamp", 0), m.get("headers"))
                n += 1
            except (KafkaException, BufferError) as e:
                m["_error"] = e.args[0] if isinstance(e, KafkaException) else KafkaError(KafkaError._QUEUE_FULL)
        return n


# -- consumer -------------------------------------------------------------------------------------

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


class Consumer:
    """confluent-kafka's Consumer reading an eventlog directory."""

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
                raise _cfg_error(f'Invalid value "{s}" for configuration property "partition.assignment.strategy"')
        self._cooperative = strategy[0] == "cooperative-sticky"
        self._auto_commit = _bool(c, "enable.auto.commit", _bool(c, "auto.commit.enable", True))
        self._auto_store = _bool(c, "enable.auto.offset.store", True)
        self._eof_enabled = _bool(c, "enable.partition.eof", False)
        self._commit_interval = _int(c, "auto.commit.interval.ms", 5000) / 1000.0
        self._on_commit = c.get("on_commit", c.get("offset_commit_cb"))
        self._error_cb = c.get("error_cb")
        self._ref = _open(c, "Consumer")
        try:
            self._c = self._ref.log.consumer(
                group_id=self._group, auto_offset_reset=_RESETS[reset], enable_auto_commit=False,
                partition_assignment_strategy=strategy,
                max_poll_interval_ms=_int(c, "max.poll.interval.ms", 300000),
                session_timeout_ms=_int(c, "session.timeout.ms", 45000),
                group_instance_id=c.get("group.instance.id") or None,
                client_id=str(c.get("client.id", "rdkafka")))
        except Exception:
            self._ref.release()
            raise
        self._store = FileOffsetStore(self._ref.log.path)
        self._fetcher = _common.Fetcher(self._c, chunk=500)
        self._stored = {}        # tp -> stored offset (to be committed)
        self._app_pos = {}       # tp -> offset after the last message returned
        self._eof = {}           # tp -> offset at which _PARTITION_EOF was last emitted
        self._events = collections.deque()   # (callback, args) served by poll
        self._pending_eof = collections.deque()
        self._paused = set()
        self._asg_offsets = {}   # tp -> the offset assignment() reports (as given to assign)
        self._subscribed = False
        self._in_cb = False
        self._cb_offsets = {}
        self._next_commit = time.monotonic() + self._commit_interval
        self._closed = False

    def __repr__(self):
        return f"<eventlog.compat.confluent_kafka.Consumer {self._ref.log.path!r} group={self._group!r}>"

    def _check(self):
        if self._closed:
            raise RuntimeError("Consumer closed")

    # -- subscription and assignment -----------------------------------------------------------
    def subscribe(self, topics, on_assign=None, on_revoke=None, on_lost=None):
        self._check()
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
        if self._subscribed or self._c.assignment():
            self._c.unsubscribe()
        listener = _Rebalance(self, on_assign, on_revoke, on_lost)
        try:
            self._c.subscribe(topics=names, pattern=pattern, listener=listener)
        except _el.EventLogError as e:
            raise _from_el(e) from e
        self._subscribed = True

    def unsubscribe(self):
        self._check()
        self._fetcher.sync()
        if self._subscribed:
            try:
                self._c.unsubscribe()
            except _el.EventLogError as e:
                raise _from_el(e) from e
        self._subscribed = False

    def _set_offsets(self, parts):
        for p in parts:
            if p.offset != OFFSET_INVALID and p.offset != OFFSET_STORED:
                self._seek_raw(_tp(p), p.offset)

    def assign(self, partitions):
        self._check()
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
        gone = self._c.assignment() - set(tps)
        self._forget(gone)
        try:
            self._c.assign(tps)
        except _el.EventLogError as e:
            raise _from_el(e) from e
        for tp in tps:
            self._app_pos.pop(tp, None)
            self._eof.pop(tp, None)
        self._asg_offsets = {_tp(p): p.offset for p in parts}
        self._set_offsets(parts)

    def incremental_assign(self, partitions):
        self._check()
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
        dup = [tp for tp in new if tp in cur]
        if dup:
            raise _exc(KafkaError._CONFLICT, f"{len(dup)} partition(s) are already assigned")
        self._fetcher.sync()
        try:
            self._c.assign(sorted(cur) + new)
        except _el.EventLogError as e:
            raise _from_el(e) from e
        self._asg_offsets.update({_tp(p): p.offset for p in parts})
        self._set_offsets(parts)

    def incremental_unassign(self, partitions):
        self._check()
        if self._in_cb or self._subscribed:
            return
        drop = {_tp(p) for p in partitions}
        cur = self._c.assignment()
        if drop - cur:
            raise _exc(KafkaError._INVALID_ARG, "partition(s) not assigned")
        self._fetcher.sync()
        self._forget(drop)
        self._c.assign(sorted(cur - drop))

    def unassign(self):
        self._check()
        if self._in_cb or self._subscribed:
            return
        self._fetcher.sync()
        self._forget(self._c.assignment())
        self._c.assign([])

    def assignment(self):
        self._check()
        default = OFFSET_STORED if self._subscribed else OFFSET_INVALID
        return [TopicPartition(tp.topic, tp.partition, self._asg_offsets.get(tp, default))
                for tp in sorted(self._c.assignment())]

    def _forget(self, tps):
        tps = set(tps)
        self._fetcher.forget(tps)
        for d in (self._stored, self._app_pos, self._eof, self._asg_offsets):
            for tp in tps:
                d.pop(tp, None)
        self._paused -= tps

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
            self._maybe_auto_commit()
            if self._pending_eof:
                return self._pending_eof.popleft()
            rec = self._fetcher.take_one()
            if rec is not None:
                tp = _TP(rec.topic, rec.partition)
                nxt = rec.offset + 1
                self._app_pos[tp] = nxt
                if self._auto_store:
                    self._stored[tp] = nxt
                if self._eof_enabled and self._fetcher._first(tp) is None:
                    self._queue_eof(tp, nxt)
                return _message(rec)
            if self._eof_enabled:
                self._initial_eofs()
                if self._pending_eof:
                    continue
            if not self._subscribed and not self._c.assignment():
                if deadline is not None:
                    time.sleep(max(0.0, min(0.05, deadline - time.monotonic())))
                else:
                    time.sleep(0.05)
            else:
                left = 0.5 if deadline is None else min(0.5, _common.left(deadline))
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

    def _queue_eof(self, tp, offset):
        try:
            end = self._ref.log.topic(tp.topic).partition(tp.partition).end_offset
        except _el.EventLogError:
            return
        if offset >= end and self._eof.get(tp) != offset:
            self._eof[tp] = offset
            self._pending_eof.append(Message(tp.topic, tp.partition, offset, None, None, None,
                                             KafkaError(KafkaError._PARTITION_EOF), (TIMESTAMP_NOT_AVAILABLE, 0)))

    def _initial_eofs(self):
        for tp in sorted(self._c.assignment()):
            if tp in self._paused or tp in self._eof:
                continue
            try:
                pos = self._c.position(tp)
            except _el.EventLogError:
                continue
            self._queue_eof(tp, pos)

    def poll(self, timeout=None):
        self._check()
        if timeout is not None and timeout < 0:
            timeout = None
        return self._next(_common.deadline_after(timeout))

    def consume(self, num_messages=1, timeout=None):
        self._check()
        if not isinstance(num_messages, int) or num_messages < 1 or num_messages > 1000000:
            raise ValueError("num_messages must be between 0 and 1000000 (1M)")
        if timeout is not None and timeout < 0:
            timeout = None
        deadline = _common.deadline_after(timeout)
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
        self._check()
        tp = _tp(partition)
        if tp not in self._c.assignment():
            raise _exc(KafkaError._STATE, f"Failed to seek to offset {partition.offset}: Local: Erroneous state")
        try:
            self._seek_raw(tp, partition.offset)
        except _el.EventLogError as e:
            raise _from_el(e) from e

    def position(self, partitions):
        self._check()
        out = []
        for p in partitions:
            r = TopicPartition(p.topic, p.partition, self._app_pos.get(_tp(p), OFFSET_INVALID))
            out.append(r)
        return out

    def pause(self, partitions):
        self._check()
        tps = {_tp(p) for p in partitions} & self._c.assignment()
        self._fetcher.sync(tps)
        self._c.pause(list(tps))
        self._paused |= tps

    def resume(self, partitions):
        self._check()
        tps = {_tp(p) for p in partitions} & self._c.assignment()
        self._c.resume(list(tps))
        self._paused -= tps

    def get_watermark_offsets(self, partition, timeout=None, cached=False):
        self._check()
        try:
            p = self._ref.log.topic(partition.topic).partition(partition.partition)
        except _el.EventLogError as e:
            raise _from_el(e) from e
        return (p.start_offset, p.end_offset)

    def offsets_for_times(self, partitions, timeout=None):
        self._check()
        out = []
        for p in partitions:
            try:
                part = self._ref.log.topic(p.topic).partition(p.partition)
            except _el.EventLogError as e:
                raise _from_el(e) from e
            off = part.offset_for_time(p.offset)
            out.append(TopicPartition(p.topic, p.partition, OFFSET_END if off is None else off))
        return out

    def list_topics(self, topic=None, timeout=-1):
        self._check()
        return _cluster_metadata(self._ref.log, topic)

    # -- offsets ----------------------------------------------------------------------------------
    def store_offsets(self, message=None, offsets=None):
        self._check()
        if self._auto_store:
            raise _exc(KafkaError._INVALID_ARG,
                       "StoreOffsets failed: Local: Invalid argument or configuration")
        if (message is None) == (offsets is None):
            raise ValueError("expected either message or offsets")
        if message is not None:
            if message.error() is not None:
                raise _exc(KafkaError._INVALID_ARG, "Cannot store offsets for a message with an error")
            items = [(_TP(message.topic(), message.partition()), message.offset() + 1)]
        else:
            items = [(_tp(p), p.offset) for p in offsets]
        assigned = self._c.assignment()
        bad = [tp for tp, _ in items if tp not in assigned]
        for tp, off in items:
            if tp in assigned:
                self._stored[tp] = off
        if bad:
            raise _exc(KafkaError._STATE, "StoreOffsets failed: Local: Erroneous state")

    def _commit_stored(self, tps, sync, quiet=False, revoke=False):
        assigned = self._c.assignment()
        cand = {tp: off for tp, off in self._stored.items()
                if tp in assigned and (tps is None or tp in tps) and off >= 0}
        if cand and not revoke:
            committed = self._store.committed(self._group, list(cand))
            cand = {tp: off for tp, off in cand.items() if committed.get(tp) != off}
        if not cand:
            err = KafkaError(KafkaError._NO_OFFSET)
            parts = [TopicPartition(tp.topic, tp.partition, OFFSET_INVALID) for tp in sorted(
                assigned if tps is None else (set(tps) & assigned))]
            if not sync and self._on_commit is not None and not quiet:
                self._events.append((self._on_commit, (err, parts)))
            if sync and not quiet:
                raise KafkaException(KafkaError(KafkaError._NO_OFFSET, "Commit failed: Local: No offset stored"))
            return None
        return self._commit(cand, sync, quiet)

    def _commit(self, offsets, sync, quiet=False):
        parts = [TopicPartition(tp.topic, tp.partition, off) for tp, off in sorted(offsets.items())]
        try:
            if self._subscribed:
                self._c.commit(dict(offsets))
            else:
                self._store.commit(self._group, dict(offsets))
        except _el.EventLogError as e:
            exc = _from_el(e, "Commit failed: ")
            if not sync or quiet:
                if self._on_commit is not None:
                    self._events.append((self._on_commit, (exc.args[0], parts)))
                if quiet:
                    _log.warning("offset commit for group %s failed: %s", self._group, e)
                    return None
                return None
            raise exc from e
        if not sync and self._on_commit is not None:
            self._events.append((self._on_commit, (None, parts)))
        return parts

    def commit(self, message=None, offsets=None, asynchronous=True):
        self._check()
        if message is not None and offsets is not None:
            raise ValueError("message and offsets are mutually exclusive")
        sync = not asynchronous
        if message is not None:
            if message.error() is not None:
                raise _exc(KafkaError._INVALID_ARG, "Cannot commit offsets for message with error")
            off = {_TP(message.topic(), message.partition()): message.offset() + 1}
            r = self._commit(off, sync)
        elif offsets is not None:
            off = {}
            for p in offsets:
                if p.offset < 0:
                    continue
                off[_tp(p)] = p.offset
            if not off:
                if sync:
                    raise _exc(KafkaError._NO_OFFSET, "Commit failed: Local: No offset stored")
                return None
            r = self._commit(off, sync)
        else:
            r = self._commit_stored(None, sync)
        return r if sync else None

    def committed(self, partitions, timeout=None):
        self._check()
        tps = [_tp(p) for p in partitions]
        got = self._store.committed_metadata(self._group, tps)
        out = []
        for p, tp in zip(partitions, tps):
            e = got.get(tp)
            r = TopicPartition(p.topic, p.partition, OFFSET_INVALID if e is None else e.offset)
            if e is not None and e.metadata and not _common.is_group_metadata(e.metadata):
                r.metadata = e.metadata
            out.append(r)
        return out

    def memberid(self):
        self._check()
        g = getattr(self._c, "_group", None)
        return g.member_id if g is not None else None

    def consumer_group_metadata(self):
        self._check()
        g = getattr(self._c, "_group", None)
        return _ConsumerGroupMetadata(self._group, g.generation if g else -1, g.member_id if g else "")

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
            self._store.close()
            self._ref.release()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class SerializingProducer(Producer):
    """Producer with `key.serializer` / `value.serializer` (callables (obj, ctx) -> bytes)."""

    def __init__(self, conf):
        conf = dict(conf)
        self._kser = conf.pop("key.serializer", None)
        self._vser = conf.pop("value.serializer", None)
        super().__init__(conf)

    def produce(self, topic, key=None, value=None, partition=-1, on_delivery=None, timestamp=0, headers=None):
        if self._kser is not None:
            key = self._kser(key, None)
        if self._vser is not None:
            value = self._vser(value, None)
        super().produce(topic, value, key, partition, on_delivery=on_delivery, timestamp=timestamp,
                        headers=headers)


class DeserializingConsumer(Consumer):
    """Consumer with `key.deserializer` / `value.deserializer` (callables (bytes, ctx) -> obj)."""

    def __init__(self, conf):
        conf = dict(conf)
        self._kdes = conf.pop("key.deserializer", None)
        self._vdes = conf.pop("value.deserializer", None)
        super().__init__(conf)

    def poll(self, timeout=-1):
        m = super().poll(timeout)
        if m is None or m.error() is not None:
            return m
        if self._kdes is not None and m.key() is not None:
            m.set_key(self._kdes(m.key(), None))
        if self._vdes is not None and m.value() is not None:
            m.set_value(self._vdes(m.value(), None))
        return m

    def consume(self, num_messages=1, timeout=-1):
        raise NotImplementedError("DeserializingConsumer.consume() is not implemented (as in confluent-kafka)")


# -- module layout for eventlog.compat.patch("confluent_kafka") --------------------------------------

from . import confluent_kafka_admin as admin  # noqa: E402 - needs the classes above

_this = sys.modules[__name__]
_error_mod = types.ModuleType("confluent_kafka.error")
_error_mod.__dict__.update(KafkaError=KafkaError, KafkaException=KafkaException,
                           ConsumeError=KafkaException, ProduceError=KafkaException)
error = _error_mod
cimpl = _this

MODULES = {
    "confluent_kafka": _this,
    "confluent_kafka.cimpl": _this,
    "confluent_kafka.admin": admin,
    "confluent_kafka.error": _error_mod,
}

__all__ = [
    "Producer", "Consumer", "Message", "TopicPartition", "KafkaError", "KafkaException",
    "OFFSET_BEGINNING", "OFFSET_END", "OFFSET_STORED", "OFFSET_INVALID", "TIMESTAMP_CREATE_TIME",
    "TIMESTAMP_LOG_APPEND_TIME", "TIMESTAMP_NOT_AVAILABLE", "ConsumerGroupState", "ConsumerGroupType",
    "ConsumerGroupTopicPartitions", "Node", "TopicCollection", "SerializingProducer",
    "DeserializingConsumer", "IsolationLevel", "admin", "version", "libversion",
]
