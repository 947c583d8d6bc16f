"""confluent_kafka.SerializingProducer: a Producer whose `key.serializer` / `value.serializer`
(callables (obj, SerializationContext) -> bytes) run before each produce. A serializer's
failure raises KeySerializationError / ValueSerializationError and nothing is produced."""
from __future__ import annotations

from eventlog.compat.confluent_kafka._producer import Producer
from eventlog.compat.confluent_kafka.error import KeySerializationError, ValueSerializationError
from eventlog.compat.confluent_kafka.serialization import MessageField, SerializationContext


class SerializingProducer(Producer):
    """Producer with `key.serializer` / `value.serializer`."""

    def __init__(self, conf):
        conf = dict(conf)
        self._kser = conf.pop("key.serializer", None)
        self._vser = conf.pop("value.serializer", None)
        super().__init__(conf)

    def produce(self, topic, key=None, value=None, partition=-1, on_delivery=None, timestamp=0, headers=None):
        if self._closed:
            raise RuntimeError("Producer has been closed")
        if not isinstance(topic, str):
            raise TypeError(f"topic must be a str, not {type(topic).__name__}")
        ctx = SerializationContext(topic, MessageField.KEY, headers)
        if self._kser is not None:
            try:
                key = self._kser(key, ctx)
            except Exception as e:
                raise KeySerializationError(e) from e
        ctx.field = MessageField.VALUE
        if self._vser is not None:
            try:
                value = self._vser(value, ctx)
            except Exception as e:
                raise ValueSerializationError(e) from e
        super().produce(topic, value, key, partition, on_delivery=on_delivery, timestamp=timestamp,
                        headers=headers)
