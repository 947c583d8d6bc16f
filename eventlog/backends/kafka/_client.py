"""The confluent-kafka side of the Kafka back end: importing it, parsing `kafka://` URLs,
translating topic settings, and mapping Kafka errors onto eventlog's exception classes.

Rules it keeps:
- confluent-kafka is an optional extra: importing this module never fails; `ck()` raises
  ImportError naming `pip install 'eventlog[kafka]'` when the client is missing.
- Every client made here gets `allow.auto.create.topics=false`: a topic exists only when
  `create_topic` made it, as with a directory (a send to a missing topic fails, it does not
  create one with the broker's defaults).
- Every Kafka error leaves as an `EventLogError` subclass (the closest one; `BackendError`
  when there is none), with the Kafka error name in the message and the KafkaError chained;
  but events that poll() reports only to inform (a coordinator moving or loading, which
  librdkafka retries itself) are logged, not raised, as Kafka's Java consumer hides them.
- Only settings that mean the same on a broker are translated; the rest raise
  `UnsupportedOperationError` naming the Kafka setting that replaces them.
"""
import logging
import re
import urllib.parse

from eventlog.record import Record
from eventlog.errors import (BackendError, CommitFailedError, GroupNotEmptyError, InvalidArgumentError,
                             KafkaTimeoutError, OffsetOutOfRangeError, RebalanceInProgressError,
                             RecordTooLargeError, TopicExistsError, UnknownPartitionError, UnknownTopicError,
                             UnsupportedOperationError, InvalidTopicError, IllegalStateError,
                             ProducerFencedError, TransactionAbortedError)

INSTALL_HINT = "pip install 'eventlog[kafka]'"
_ck = None


def ck():
    """The confluent_kafka module (imported on first use)."""
    global _ck
    if _ck is None:
        try:
            import confluent_kafka
            import confluent_kafka.admin  # noqa: F401
        except ImportError as e:
            raise ImportError(
                f"the kafka:// back end needs confluent-kafka, which is not installed: "
                f"{INSTALL_HINT} (or pip install confluent-kafka)") from e
        _ck = confluent_kafka
    return _ck


_HOSTPORT = re.compile(r"^[A-Za-z0-9._\-\[\]:]+:\d{1,5}$")


def parse_url(url):
    """'kafka://h1:9092,h2:9092?client.id=app&security.protocol=SSL' -> librdkafka config dict.

    Query parameters are librdkafka settings, passed through unchanged (values stay strings;
    librdkafka parses them). InvalidArgumentError for a URL without hosts or with a bad host."""
    if not isinstance(url, str) or not url.startswith("kafka://"):
        raise InvalidArgumentError(f"a Kafka location is 'kafka://host:port[,host:port...][?setting=value&...]', got {url!r}")
    rest = url[len("kafka://"):]
    hosts, _, query = rest.partition("?")
    hosts = hosts.rstrip("/")
    servers = [h.strip() for h in hosts.split(",") if h.strip()]
    if not servers:
        raise InvalidArgumentError(f"{url!r} names no broker: write kafka://host:port (e.g. kafka://127.0.0.1:9092)")
    for h in servers:
        if not _HOSTPORT.match(h):
            raise InvalidArgumentError(f"{url!r}: {h!r} is not host:port (e.g. 127.0.0.1:9092)")
    conf = {"bootstrap.servers": ",".join(servers)}
    for k, v in urllib.parse.parse_qsl(query, keep_blank_values=True, strict_parsing=False):
        if k == "bootstrap.servers":
            raise InvalidArgumentError(f"{url!r}: name the brokers before '?', not as bootstrap.servers")
        conf[k] = v
    return conf


# -- topic settings --------------------------------------------------------------------------
# eventlog's TopicConfig field -> (Kafka topic config, how to render the value)
def _ms_or_unlimited(v):
    return "-1" if v is None else str(int(v))


TOPIC_SETTINGS = {
    "retention_ms": ("retention.ms", _ms_or_unlimited),
    "retention_bytes": ("retention.bytes", _ms_or_unlimited),
    "segment_bytes": ("segment.bytes", str),
    "segment_ms": ("segment.ms", lambda v: str(7 * 24 * 3600 * 1000) if v is None else str(v)),
    "cleanup_policy": ("cleanup.policy", str),
    "compression": ("compression.type", lambda v: "zstd" if v == "zstd" else "uncompressed"),
    "compression_level": ("compression.zstd.level", str),
    "max_record_bytes": ("max.message.bytes", str),
    "delete_retention_ms": ("delete.retention.ms", str),
    "min_compaction_lag_ms": ("min.compaction.lag.ms", str),
    "min_cleanable_dirty_ratio": ("min.cleanable.dirty.ratio", str),
}

#: Settings of a directory log with no per-topic Kafka equivalent, and what replaces them.
UNSUPPORTED_SETTINGS = {
    "fsync": "a Kafka cluster makes records durable by replication: create the topic with "
             "replication_factor=3 and config={'min.insync.replicas': '2'} and produce with acks=all "
             "(the default); the topic setting flush.messages=1 forces an fsync per record",
    "cleaner_buffer_bytes": "the broker-wide setting log.cleaner.dedupe.buffer.size",
}


def unsupported(what, replacement):
    return UnsupportedOperationError(f"{what} is not supported on a Kafka cluster: {replacement}")


def topic_configs(settings):
    """{eventlog setting: value} -> {Kafka topic config: str} (only the settings given).
    `client_configs` (Kafka configs a directory kept without acting on them) go to the
    cluster as they are, except where a setting given maps to the same config."""
    out = {}
    kept = {}
    for k, v in settings.items():
        if k == "client_configs":
            kept = {str(n): str(x) for n, x in (v or {}).items()}
            continue
        if k in UNSUPPORTED_SETTINGS:
            raise unsupported(f"the topic setting {k}=", UNSUPPORTED_SETTINGS[k])
        name, render = TOPIC_SETTINGS[k]
        out[name] = render(v)
    for n, x in kept.items():
        out.setdefault(n, x)
    return out


def settings_from_configs(configs):
    """{Kafka topic config: str} (as describe_configs gives them) -> {eventlog setting: value}
    for TopicConfig (the settings without an equivalent keep TopicConfig's defaults)."""
    out = {}
    for field, (name, _render) in TOPIC_SETTINGS.items():
        v = configs.get(name)
        if v is None:
            continue
        if field in ("retention_ms", "retention_bytes"):
            n = int(v)
            out[field] = None if n < 0 else n
        elif field == "compression":
            out[field] = "zstd" if v == "zstd" else "none"
        elif field == "min_cleanable_dirty_ratio":
            out[field] = float(v)
        elif field == "cleanup_policy":
            parts = sorted(p.strip() for p in v.split(","))
            out[field] = ",".join(parts) if len(parts) > 1 else parts[0]
        elif field == "compression_level":
            n = int(v)
            out[field] = 3 if n < 1 else n   # -1: the codec's default, which is 3 for zstd
        elif field == "segment_ms":
            out[field] = int(v)
        else:
            out[field] = int(v)
    return out


# -- errors ----------------------------------------------------------------------------------
def _code(name):
    return getattr(ck().KafkaError, name, None)


_BY_NAME = {
    "UNKNOWN_TOPIC_OR_PART": UnknownTopicError, "_UNKNOWN_TOPIC": UnknownTopicError,
    "_UNKNOWN_PARTITION": UnknownPartitionError, "TOPIC_ALREADY_EXISTS": TopicExistsError,
    "TOPIC_EXCEPTION": InvalidTopicError, "INVALID_TOPIC_EXCEPTION": InvalidTopicError,
    "MSG_SIZE_TOO_LARGE": RecordTooLargeError, "_MSG_SIZE_TOO_LARGE": RecordTooLargeError,
    "RECORD_LIST_TOO_LARGE": RecordTooLargeError, "OFFSET_OUT_OF_RANGE": OffsetOutOfRangeError,
    "_TIMED_OUT": KafkaTimeoutError, "_MSG_TIMED_OUT": KafkaTimeoutError,
    "REQUEST_TIMED_OUT": KafkaTimeoutError, "REBALANCE_IN_PROGRESS": RebalanceInProgressError,
    "ILLEGAL_GENERATION": CommitFailedError, "UNKNOWN_MEMBER_ID": CommitFailedError,
    "FENCED_INSTANCE_ID": CommitFailedError, "NON_EMPTY_GROUP": GroupNotEmptyError,
    "INVALID_CONFIG": InvalidArgumentError, "INVALID_PARTITIONS": InvalidArgumentError,
    "INVALID_REQUEST": InvalidArgumentError, "POLICY_VIOLATION": InvalidArgumentError,
    "INVALID_REPLICATION_FACTOR": InvalidArgumentError, "_INVALID_ARG": InvalidArgumentError,
    "_STATE": IllegalStateError,
    "_FENCED": ProducerFencedError, "PRODUCER_FENCED": ProducerFencedError,
    "INVALID_PRODUCER_EPOCH": ProducerFencedError,
    "_PURGE_QUEUE": TransactionAbortedError, "_PURGE_INFLIGHT": TransactionAbortedError,
}
_table = None


# what eventlog's user should know, for Kafka errors whose text names no setting
_HINTS = {
    "MSG_SIZE_TOO_LARGE": "the record is over the topic's max_record_bytes (max.message.bytes) "
                          "or the producer's message.max.bytes",
    "INVALID_RECORD": "the broker refused the record: a compacted topic (cleanup_policy=compact) needs a "
                      "key on every record",
}


def map_error(kerr, context=""):
    """An EventLogError for a confluent_kafka KafkaError (or a KafkaException holding one)."""
    E = ck().KafkaError
    if isinstance(kerr, ck().KafkaException):
        kerr = kerr.args[0] if kerr.args and isinstance(kerr.args[0], E) else kerr
    if not isinstance(kerr, E):
        return BackendError(f"{context}: {kerr}" if context else str(kerr))
    code = kerr.code()
    msg = f"{context}: {kerr.str()} (Kafka error {kerr.name()})" if context else \
        f"{kerr.str()} (Kafka error {kerr.name()})"
    global _table
    if _table is None:
        _table = {getattr(E, n): cls for n, cls in _BY_NAME.items() if hasattr(E, n)}
    cls = _table.get(code, BackendError)
    hint = _HINTS.get(kerr.name())
    if hint:
        msg += f"; {hint}"
        cls = InvalidArgumentError if kerr.name() == "INVALID_RECORD" else cls
    err = cls(msg)
    err.kafka_error = kerr
    return err


def raise_mapped(exc, context=""):
    """Raise the EventLogError for a confluent KafkaException `exc` (chained)."""
    raise map_error(exc, context) from exc


_log = logging.getLogger("eventlog.kafka")
NO_GROUP_PREFIX = "eventlog-nogroup-"   # consumers without a group_id (librdkafka needs a group.id)


def _transient_codes():
    """Error codes librdkafka reports from poll() only to inform: it retries them itself (a
    group coordinator moving or still loading its offsets, right after a broker starts), as
    Kafka's Java consumer retries them without surfacing them."""
    E = ck().KafkaError
    return frozenset((E._PARTITION_EOF, E.NOT_COORDINATOR, E.COORDINATOR_NOT_AVAILABLE,
                      E.COORDINATOR_LOAD_IN_PROGRESS))


def records_from(msgs, kdes=None, vdes=None):
    """confluent Messages -> eventlog Records (errors raise; EOF events and the transient,
    retriable events librdkafka retries itself are skipped, the latter logged)."""
    out = []
    append = out.append
    new = tuple.__new__
    R = Record
    for m in msgs:
        if m.error() is not None:
            err = m.error()
            code = err.code()
            if code == ck().KafkaError._PARTITION_EOF:
                continue
            if (code in _transient_codes() or err.retriable()) and not err.fatal():
                _log.info("kafka consumer: %s (librdkafka retries it)", err)
                continue
            raise map_error(err, f"fetch of {m.topic()}[{m.partition()}]")
        h = m.headers()
        append(new(R, (m.topic(), m.partition(), m.offset(), m.timestamp()[1], m.key(), m.value(),
                       tuple(h) if h else ())))
    if kdes is not None or vdes is not None:
        out = [r._replace(key=kdes(r.key) if kdes is not None and r.key is not None else r.key,
                          value=vdes(r.value) if vdes is not None and r.value is not None else r.value)
               for r in out]
    return out
