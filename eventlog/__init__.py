"""eventlog: Kafka's model (topics, partitions, offsets, producers, consumers, consumer
groups) as a pure-Python library over a local directory of append-only segment files.

    import eventlog
    with eventlog.open("data/") as log:
        topic = log.create_topic("orders", partitions=4)
        topic.partition(0).append(b"hello", key=b"user-1")

See docs/ for the storage model, producing, consuming and groups.
"""
from eventlog.log import Log
from eventlog.storage.partition import Partition
from eventlog.storage.topic import Topic, TopicConfig
from eventlog.errors import *  # noqa: F401,F403
from eventlog.errors import EventLogError
from eventlog.offsets import FileOffsetStore, MemoryOffsetStore, OffsetStore
from eventlog.groups.admin import ConsumerGroup
from eventlog.groups.rebalance import ConsumerRebalanceListener
from eventlog.clients.producer import Producer, RecordFuture
from eventlog.clients.consumer import Consumer
from eventlog.clients.transactional import GroupMetadata, TransactionalProducer
from eventlog.storage.check import PartitionReport, Problem, VerifyReport
from eventlog.record import Record, RecordMetadata, TopicPartition

__version__ = "0.1.0"


def open(path, **options):  # noqa: A001 - mirrors io.open / sqlite3.connect naming
    """Open the log directory at `path` and return a `Log`.

    `path` is a directory: an existing log, or a missing or empty directory, which is made
    into a new log. Or a Kafka cluster, "kafka://host:port[,host2:port][?client.id=app&...]"
    (query parameters are librdkafka settings): the same API on the cluster, through
    confluent-kafka (`pip install 'eventlog[kafka]'`; see docs/kafka.md). Anything else is
    refused without writing anything: a file or a non-empty directory that is not a log
    (`NotALogDirectoryError`), an empty path or another URL (`InvalidArgumentError`). OS
    refusals (permission, read-only or full file system, too many open files) raise
    `StorageError` subclasses naming the path.

    Options: `fsync` ("never" | "batch" | None: each topic's own setting, default "never"),
    `max_open_partitions` (descriptor budget), `background_maintenance` (True: every 60 s,
    or a number of seconds), `clock` (an `eventlog._os.clock.Clock`, default the system
    clock: the time of maintenance schedules, producers' linger and group timing; tests pass a
    `ManualClock`).
    """
    if isinstance(path, str) and path[:8].lower() == "kafka://":
        from eventlog.backends.kafka import open_kafka
        return open_kafka("kafka://" + path[8:], **options)
    return Log(path, **options)


__all__ = ["open", "Log", "Topic", "TopicConfig", "Partition", "Record", "RecordMetadata",
           "TopicPartition", "EventLogError", "OffsetStore", "FileOffsetStore", "MemoryOffsetStore",
           "ConsumerGroup", "ConsumerRebalanceListener", "Producer", "RecordFuture", "Consumer",
           "TransactionalProducer", "GroupMetadata", "VerifyReport", "PartitionReport", "Problem"]
