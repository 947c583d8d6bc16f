"""The value types every confluent_kafka facade module shares: `KafkaError`, `KafkaException`,
`TopicPartition`, `Message`, the offset and timestamp constants, and the mapping from eventlog's
errors to librdkafka's codes. (confluent-kafka keeps these in its C module, `cimpl`.)

Rules: a `KafkaError` compares equal to its code; `_from_el` maps each eventlog error to the
nearest librdkafka code and keeps the original as `__cause__`. Imports nothing else of the facade.
"""
from __future__ import annotations

from eventlog import errors as _el
from eventlog.clients import partitioners as _partitioners
from eventlog.record import TopicPartition as _TP
from eventlog.compat.confluent_kafka._codes import CODES as _CODES

OFFSET_BEGINNING = -2
OFFSET_END = -1
OFFSET_STORED = -1000
OFFSET_INVALID = -1001
TIMESTAMP_NOT_AVAILABLE = 0
TIMESTAMP_CREATE_TIME = 1
TIMESTAMP_LOG_APPEND_TIME = 2


def version():
    """The client version string (confluent-kafka returns a str; libversion() is a tuple)."""
    return "2.16.1"


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

class _ConsumerGroupMetadata:
    """What Consumer.consumer_group_metadata() returns: opaque to applications, accepted by
    Producer.send_offsets_to_transaction (librdkafka's rd_kafka_consumer_group_metadata_t)."""

    def __init__(self, group_id, generation, member_id):
        self.group_id = group_id
        self.generation_id = generation
        self.member_id = member_id

    def __repr__(self):
        return f"<ConsumerGroupMetadata group_id={self.group_id!r}>"


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


# -- librdkafka's partitioner functions (eventlog.clients.partitioners owns the hashing) ---------------------

def murmur2(key, partition_count):
    """The partition librdkafka's ``murmur2`` partitioner picks for `key`."""
    return _partitioners.Murmur2Partitioner()(key, partition_count)


def consistent(key, partition_count):
    """The partition librdkafka's ``consistent`` (CRC32) partitioner picks for `key`."""
    return _partitioners.ConsistentPartitioner()(key, partition_count)


def fnv1a(key, partition_count):
    """The partition librdkafka's ``fnv1a`` partitioner picks for `key`."""
    return _partitioners.Fnv1aPartitioner()(key, partition_count)


class Uuid:
    """A Kafka UUID (topic ids): two signed 64-bit halves."""

    def __init__(self, most_significant_bits, least_significant_bits):
        self._msb = most_significant_bits
        self._lsb = least_significant_bits

    def get_most_significant_bits(self):
        return self._msb

    def get_least_significant_bits(self):
        return self._lsb

    def __int__(self):
        return ((self._msb & (2 ** 64 - 1)) << 64) | (self._lsb & (2 ** 64 - 1))

    def __str__(self):
        import base64
        return base64.urlsafe_b64encode(int(self).to_bytes(16, "big")).decode().rstrip("=")

    def __repr__(self):
        return f"Uuid({self._msb}, {self._lsb})"

    def __eq__(self, other):
        return isinstance(other, Uuid) and int(self) == int(other)

    def __hash__(self):
        return hash(int(self))
