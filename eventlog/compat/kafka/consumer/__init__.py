"""kafka.consumer: KafkaConsumer."""
from . import fetcher, group, subscription_state  # noqa: F401 - public submodules
from .group import KafkaConsumer

__all__ = ["KafkaConsumer"]
