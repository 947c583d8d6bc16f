"""kafka.serializer.abstract: the (de)serializer interfaces."""
from __future__ import annotations

class Serializer:
    def serialize(self, topic, headers, data):
        raise NotImplementedError

    def close(self):
        pass


class Deserializer:
    def deserialize(self, topic, headers, data):
        raise NotImplementedError

    def close(self):
        pass
