"""confluent_kafka.serialization: the serializer interfaces, the built-in int/double/string
serdes, and the context (`SerializationContext`: topic, field, headers) that
`SerializingProducer` and `DeserializingConsumer` pass to every (de)serializer.

Rules kept from confluent-kafka: None serializes to None (a Kafka null) and back; integers
are signed big-endian int32, doubles IEEE 754 binary64; a failure raises
`SerializationError` (a `KafkaException`).
"""
from __future__ import annotations

import enum
import struct as _struct

from eventlog.compat.confluent_kafka._types import KafkaException

__all__ = ["Deserializer", "DeserializerBuilder", "IntegerDeserializer", "IntegerSerializer",
           "DoubleDeserializer", "DoubleSerializer", "StringDeserializer", "StringSerializer",
           "MessageField", "SerializationContext", "SerializationError", "Serializer",
           "SerializerBuilder"]


class MessageField(str, enum.Enum):
    """Which part of a message a (de)serializer is working on."""
    NONE = "none"
    KEY = "key"
    VALUE = "value"

    def __str__(self):
        return str(self.value)


class SerializationContext:
    """What a (de)serializer is told about the data: `topic`, `field` (MessageField), `headers`."""

    def __init__(self, topic, field, headers=None):
        self.topic = topic
        self.field = field
        self.headers = headers


class SerializationError(KafkaException):
    """A (de)serializer failed."""


class Serializer:
    """Base class: `__call__(obj, ctx)` -> bytes or None."""
    __slots__ = ["__weakref__"]

    def __call__(self, obj, ctx=None):
        raise NotImplementedError

    def set_cluster_id_resolver(self, resolver):
        pass

    def close(self):
        pass


class Deserializer:
    """Base class: `__call__(value, ctx)` -> object or None."""
    __slots__ = ["__weakref__"]

    def __call__(self, value, ctx=None):
        raise NotImplementedError

    def set_cluster_id_resolver(self, resolver):
        pass

    def close(self):
        pass


class SerializerBuilder:
    """Builds a Serializer from the client's configuration: `build(conf, is_key)` ->
    (serializer, conf left over)."""

    def build(self, conf, is_key):
        raise NotImplementedError


class DeserializerBuilder:
    """Builds a Deserializer from the client's configuration: `build(conf, is_key)` ->
    (deserializer, conf left over)."""

    def build(self, conf, is_key):
        raise NotImplementedError


def _packer(fmt, what):
    def pack(obj):
        try:
            return _struct.pack(fmt, obj)
        except _struct.error as e:
            raise SerializationError(str(e))
    return pack


class DoubleSerializer(Serializer):
    """float -> IEEE 754 binary64, big-endian."""

    def __call__(self, obj, ctx=None):
        return None if obj is None else _packer(">d", "float")(obj)


class DoubleDeserializer(Deserializer):
    """IEEE 754 binary64 (big-endian) -> float."""

    def __call__(self, value, ctx=None):
        if value is None:
            return None
        try:
            return _struct.unpack(">d", value)[0]
        except _struct.error as e:
            raise SerializationError(str(e))


class IntegerSerializer(Serializer):
    """int -> signed big-endian int32."""

    def __call__(self, obj, ctx=None):
        return None if obj is None else _packer(">i", "int")(obj)


class IntegerDeserializer(Deserializer):
    """signed big-endian int32 -> int."""

    def __call__(self, value, ctx=None):
        if value is None:
            return None
        try:
            return _struct.unpack(">i", value)[0]
        except _struct.error as e:
            raise SerializationError(str(e))


class StringSerializer(Serializer):
    """str -> bytes in `codec` (default utf_8)."""

    def __init__(self, codec="utf_8"):
        self.codec = codec

    def __call__(self, obj, ctx=None):
        if obj is None:
            return None
        try:
            return obj.encode(self.codec)
        except Exception as e:
            raise SerializationError(str(e))


class StringDeserializer(Deserializer):
    """bytes in `codec` (default utf_8) -> str."""

    def __init__(self, codec="utf_8"):
        self.codec = codec

    def __call__(self, value, ctx=None):
        if value is None:
            return None
        try:
            return value.decode(self.codec)
        except Exception as e:
            raise SerializationError(str(e))
