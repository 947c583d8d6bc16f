"""confluent_kafka.DeserializingConsumer."""
from __future__ import annotations

from ._consumer import Consumer


class DeserializingConsumer(Consumer):
    """Consumer with `key.deserializer` / `value.deserializer` (callables (bytes, ctx) -> obj)."""

    def __init__(self, conf):
        conf = dict(conf)
        self._kdes = conf.pop("key.deserializer", None)
        self._vdes = conf.pop("value.deserializer", None)
        super().__init__(conf)

    def poll(self, timeout=-1):
        m = super().poll(timeout)
        if m is None or m.error() is not None:
            return m
        if self._kdes is not None and m.key() is not None:
            m.set_key(self._kdes(m.key(), None))
        if self._vdes is not None and m.value() is not None:
            m.set_value(self._vdes(m.value(), None))
        return m

    def consume(self, num_messages=1, timeout=-1):
        raise NotImplementedError("DeserializingConsumer.consume() is not implemented (as in confluent-kafka)")
