"""confluent_kafka.SerializingProducer."""
from __future__ import annotations

from ._producer import Producer


class SerializingProducer(Producer):
    """Producer with `key.serializer` / `value.serializer` (callables (obj, ctx) -> bytes)."""

    def __init__(self, conf):
        conf = dict(conf)
        self._kser = conf.pop("key.serializer", None)
        self._vser = conf.pop("value.serializer", None)
        super().__init__(conf)

    def produce(self, topic, key=None, value=None, partition=-1, on_delivery=None, timestamp=0, headers=None):
        if self._kser is not None:
            key = self._kser(key, None)
        if self._vser is not None:
            value = self._vser(value, None)
        super().produce(topic, value, key, partition, on_delivery=on_delivery, timestamp=timestamp,
                        headers=headers)
