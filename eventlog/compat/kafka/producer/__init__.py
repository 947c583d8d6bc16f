"""kafka.producer: KafkaProducer."""
from . import future, kafka  # noqa: F401 - public submodules
from .kafka import KafkaProducer

__all__ = ["KafkaProducer"]
