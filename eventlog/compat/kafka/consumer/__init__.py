"""kafka.consumer: KafkaConsumer."""
from eventlog.compat.kafka.consumer import fetcher, group, subscription_state  # noqa: F401 - public submodules
from eventlog.compat.kafka.consumer.group import KafkaConsumer

__all__ = ["KafkaConsumer"]
