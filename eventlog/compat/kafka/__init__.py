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
from eventlog.compat import _common
from eventlog.compat.kafka import (admin, codec, consumer, coordinator, errors, future, partitioner, producer, protocol,  # noqa: F401
               serializer, structs, util, version)
from eventlog.compat.kafka.admin import IsolationLevel, KafkaAdminClient, NewPartitions, NewTopic, OffsetSpec
from eventlog.compat.kafka.consumer import KafkaConsumer
from eventlog.compat.kafka.consumer.subscription_state import AsyncConsumerRebalanceListener, ConsumerRebalanceListener
from eventlog.compat.kafka.coordinator import assignors as _assignors  # noqa: F401 - loads the assignor modules
from eventlog.compat.kafka.producer import KafkaProducer
from eventlog.compat.kafka.serializer import DefaultSerializer, Deserializer, JsonSerializer, Serializer
from eventlog.compat.kafka.structs import (ConsumerGroupMetadata, ConsumerRecord, OffsetAndMetadata, OffsetAndTimestamp, RecordMetadata,
                      TopicPartition, TopicPartitionReplica)
from eventlog.compat.kafka.version import __version__


#: module name -> module object that eventlog.compat.patch("kafka") installs in sys.modules
MODULES = _common.facade_modules(__name__, "kafka")
MODULES["kafka.partitioner.default"] = partitioner

__all__ = [
    "KafkaAdminClient", "KafkaConsumer", "KafkaProducer", "ConsumerRebalanceListener",
    "AsyncConsumerRebalanceListener", "Serializer", "Deserializer", "ConsumerGroupMetadata",
    "OffsetAndMetadata", "TopicPartition", "TopicPartitionReplica", "ConsumerRecord", "RecordMetadata",
    "errors", "NewTopic", "NewPartitions", "DefaultSerializer", "JsonSerializer", "IsolationLevel", "OffsetSpec",
]
