"""confluent_kafka.error: `KafkaError`, `KafkaException` and the errors the serializing clients
raise. A `ConsumeError`/`ProduceError` wraps a `KafkaError` (`.code`, `.name`), the original
`exception`, and for consume errors the `kafka_message` it concerns (so a message whose key
or value would not deserialize can still be inspected)."""
from __future__ import annotations

from eventlog.compat.confluent_kafka._types import KafkaError, KafkaException
from eventlog.compat.confluent_kafka.serialization import SerializationError

__all__ = ["KafkaError", "KafkaException", "ConsumeError", "ProduceError", "KeyDeserializationError",
           "ValueDeserializationError", "KeySerializationError", "ValueSerializationError",
           "SerializationError"]


class _KafkaClientError(KafkaException):
    def __init__(self, kafka_error, exception=None, kafka_message=None):
        super().__init__(kafka_error)
        self.exception = exception
        self.kafka_message = kafka_message

    @property
    def code(self):
        return self.args[0].code()

    @property
    def name(self):
        return self.args[0].name()


class ConsumeError(_KafkaClientError):
    """An error while consuming a message (a consumer error event, or a deserializer failure)."""


class KeyDeserializationError(ConsumeError, SerializationError):
    def __init__(self, exception=None, kafka_message=None):
        super().__init__(KafkaError(KafkaError._KEY_DESERIALIZATION, str(exception)),
                         exception=exception, kafka_message=kafka_message)


class ValueDeserializationError(ConsumeError, SerializationError):
    def __init__(self, exception=None, kafka_message=None):
        super().__init__(KafkaError(KafkaError._VALUE_DESERIALIZATION, str(exception)),
                         exception=exception, kafka_message=kafka_message)


class ProduceError(_KafkaClientError):
    """An error while producing a message."""

    def __init__(self, kafka_error, exception=None):
        super().__init__(kafka_error, exception, None)


class KeySerializationError(ProduceError, SerializationError):
    def __init__(self, exception=None):
        super().__init__(KafkaError(KafkaError._KEY_SERIALIZATION, str(exception)), exception=exception)


class ValueSerializationError(ProduceError, SerializationError):
    def __init__(self, exception=None):
        super().__init__(KafkaError(KafkaError._VALUE_SERIALIZATION, str(exception)), exception=exception)
