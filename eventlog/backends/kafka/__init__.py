"""The Kafka back end: `eventlog.open("kafka://host:port[,host:port][?librdkafka.setting=value&...]")`.

The directory Log's public API (topics, partitions, producer, consumer, groups, admin) on a
real Kafka cluster through confluent-kafka (`pip install 'eventlog[kafka]'`). See
docs/kafka.md for the mapping of every call and the differences that remain.
"""
from eventlog.backends.kafka._client import INSTALL_HINT, parse_url  # noqa: F401


def open_kafka(url, **options):
    """A `KafkaLog` for `url` (ImportError naming `pip install 'eventlog[kafka]'` without
    confluent-kafka)."""
    from eventlog.backends.kafka.log import KafkaLog
    return KafkaLog(url, **options)
