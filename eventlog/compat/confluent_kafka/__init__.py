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
from eventlog.compat import _common
from eventlog.compat.confluent_kafka import _model, admin, cimpl, error, serialization
from eventlog.compat.confluent_kafka._consumer import Consumer
from eventlog.compat.confluent_kafka._model import (AcknowledgeType, ConsumerGroupState, ElectionType, ThrottleEvent,
                      ConsumerGroupTopicPartitions, ConsumerGroupType, IsolationLevel, Node,
                     TopicCollection)
from eventlog.compat.confluent_kafka._producer import Producer
from eventlog.compat.confluent_kafka._share import DeserializingShareConsumer, Messages, ShareConsumer
from eventlog.compat.confluent_kafka._types import (OFFSET_BEGINNING, OFFSET_END, OFFSET_INVALID, OFFSET_STORED, TIMESTAMP_CREATE_TIME,
                     TIMESTAMP_LOG_APPEND_TIME, TIMESTAMP_NOT_AVAILABLE, ConcurrentModificationException,
                     IllegalStateException, KafkaError, KafkaException, Message, TopicPartition, Uuid, consistent,
                     fnv1a, libversion, murmur2, version)
from eventlog.compat.confluent_kafka.admin._types import TopicPartitionInfo
from eventlog.compat.confluent_kafka.deserializing_consumer import DeserializingConsumer
from eventlog.compat.confluent_kafka.serializing_producer import SerializingProducer
from eventlog.compat.confluent_kafka import deserializing_consumer, serializing_producer  # noqa: E402,F401 - public modules

#: module name -> module object that eventlog.compat.patch("confluent_kafka") installs in sys.modules
MODULES = _common.facade_modules(__name__, "confluent_kafka")

__all__ = [
    "Producer", "Consumer", "Message", "TopicPartition", "KafkaError", "KafkaException",
    "OFFSET_BEGINNING", "OFFSET_END", "OFFSET_STORED", "OFFSET_INVALID", "TIMESTAMP_CREATE_TIME",
    "TIMESTAMP_LOG_APPEND_TIME", "TIMESTAMP_NOT_AVAILABLE", "ConsumerGroupState", "ConsumerGroupType",
    "ConsumerGroupTopicPartitions", "Node", "TopicCollection", "TopicPartitionInfo", "SerializingProducer",
    "DeserializingConsumer", "IsolationLevel", "ConcurrentModificationException", "IllegalStateException",
    "admin", "version", "libversion", "ElectionType", "ThrottleEvent", "AcknowledgeType",
    "Uuid", "murmur2", "consistent", "fnv1a", "Messages", "ShareConsumer", "DeserializingShareConsumer",
]
