"""confluent_kafka.DeserializingConsumer: a Consumer whose `key.deserializer` /
`value.deserializer` (callables (bytes, SerializationContext) -> obj) run on each message.

As in confluent-kafka, `poll` raises instead of returning error events: a consumer error
raises ConsumeError (with `.code` and `.kafka_message`), a deserializer's failure
KeyDeserializationError / ValueDeserializationError carrying the undeserialized message."""
from __future__ import annotations

from eventlog.compat.confluent_kafka._consumer import Consumer
from eventlog.compat.confluent_kafka.error import ConsumeError, KeyDeserializationError, ValueDeserializationError
from eventlog.compat.confluent_kafka.serialization import MessageField, SerializationContext


class DeserializingConsumer(Consumer):
    """Consumer with `key.deserializer` / `value.deserializer`."""

    def __init__(self, conf):
        conf = dict(conf)
        self._kdes = conf.pop("key.deserializer", None)
        self._vdes = conf.pop("value.deserializer", None)
        super().__init__(conf)

    def poll(self, timeout=-1):
        m = super().poll(timeout)
        if m is None:
            return None
        if m.error() is not None:
            raise ConsumeError(m.error(), kafka_message=m)
        ctx = SerializationContext(m.topic(), MessageField.KEY, m.headers())
        key, value = m.key(), m.value()
        if self._kdes is not None:
            try:
                key = self._kdes(key, ctx)
            except Exception as e:
                raise KeyDeserializationError(exception=e, kafka_message=m) from e
        if self._vdes is not None:
            ctx.field = MessageField.VALUE
            try:
                value = self._vdes(value, ctx)
            except Exception as e:
                raise ValueDeserializationError(exception=e, kafka_message=m) from e
        m.set_key(key)
        m.set_value(value)
        return m

    def consume(self, num_messages=1, timeout=-1):
        raise NotImplementedError("DeserializingConsumer.consume() is not implemented (as in confluent-kafka)")
