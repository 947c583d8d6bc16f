"""confluent_kafka.cimpl: in confluent-kafka the C extension holding the clients and the core
value types; here the same names, gathered from the facade's modules."""
from __future__ import annotations

from ._consumer import Consumer
from ._producer import Producer
from ._types import (OFFSET_BEGINNING, OFFSET_END, OFFSET_INVALID, OFFSET_STORED, TIMESTAMP_CREATE_TIME,
                     TIMESTAMP_LOG_APPEND_TIME, TIMESTAMP_NOT_AVAILABLE, ConcurrentModificationException,
                     IllegalStateException, KafkaError, KafkaException, Message, TopicPartition, libversion,
                     version)

__all__ = ["Consumer", "Producer", "OFFSET_BEGINNING", "OFFSET_END", "OFFSET_INVALID", "OFFSET_STORED",
           "TIMESTAMP_CREATE_TIME", "TIMESTAMP_LOG_APPEND_TIME", "TIMESTAMP_NOT_AVAILABLE",
           "ConcurrentModificationException", "IllegalStateException", "KafkaError", "KafkaException",
           "Message", "TopicPartition", "libversion", "version"]
