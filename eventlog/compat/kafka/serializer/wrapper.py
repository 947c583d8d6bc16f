"""kafka.serializer.wrapper: a plain function as a (de)serializer."""
from eventlog.compat.kafka.serializer.abstract import Deserializer, Serializer


class DeserializeWrapper(Deserializer):
    def __init__(self, fn):
        self.fn = fn

    def deserialize(self, topic, headers, data):
        return data if self.fn is None else self.fn(data)


class SerializeWrapper(Serializer):
    def __init__(self, fn):
        self.fn = fn

    def serialize(self, topic, headers, data):
        return data if self.fn is None else self.fn(data)
