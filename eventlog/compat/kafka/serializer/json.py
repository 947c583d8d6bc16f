"""kafka.serializer.json: JSON values (None stays None)."""
import json

from eventlog.compat.kafka.serializer.default import DefaultSerializer


class JsonSerializer(DefaultSerializer):
    def serialize(self, topic, headers, data):
        if data is None:
            return None
        return super().serialize(topic, headers, json.dumps(data))

    def deserialize(self, topic, headers, data):
        if data is None:
            return None
        return json.loads(super().deserialize(topic, headers, data))
