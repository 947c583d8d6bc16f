"""kafka.producer: KafkaProducer."""
from eventlog.compat.kafka.producer import future, kafka  # noqa: F401 - public submodules
from eventlog.compat.kafka.producer.kafka import KafkaProducer

__all__ = ["KafkaProducer"]
