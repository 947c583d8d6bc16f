"""kafka.protocol.broker_version_data: the API versions of the broker version eventlog presents
(Kafka 4.0: message format v2, no ZooKeeper), keyed as in kafka-python."""
import functools

#: the broker version the facade reports (KafkaAdminClient / check_version)
EVENTLOG_BROKER_VERSION = (4, 0)

#: {broker version: {api key: (min version, max version)}} (the presented version only)
BROKER_API_VERSIONS = {
    (4, 0): {0: (0, 12), 1: (4, 17), 2: (1, 10), 3: (0, 13), 8: (2, 9), 9: (1, 9), 10: (0, 6), 11: (2, 9), 12: (0, 4), 13: (0, 5), 14: (0, 5), 15: (0, 6), 16: (0, 5), 17: (0, 1), 18: (0, 4), 19: (2, 7), 20: (1, 6), 21: (0, 2), 22: (0, 5), 23: (2, 4), 24: (0, 5), 25: (0, 4), 26: (0, 5), 27: (1, 1), 28: (0, 5), 29: (1, 3), 30: (1, 3), 31: (1, 3), 32: (1, 4), 33: (0, 2), 34: (1, 2), 35: (1, 4), 36: (0, 2), 37: (0, 3), 38: (1, 3), 39: (1, 2), 40: (1, 2), 41: (1, 3), 42: (0, 2), 43: (0, 2), 44: (0, 1), 45: (0, 0), 46: (0, 0), 47: (0, 0), 48: (0, 1), 49: (0, 1), 50: (0, 0), 51: (0, 0), 55: (0, 2), 57: (0, 2), 60: (0, 2), 61: (0, 0), 64: (0, 0), 65: (0, 0), 66: (0, 1), 68: (0, 1), 69: (0, 1), 74: (0, 0), 75: (0, 0), 80: (0, 0), 81: (0, 0)},
}


@functools.total_ordering
class BrokerVersionData:
    """A broker version (tuple) and its API versions."""
    __slots__ = ("broker_version", "api_versions")

    def __init__(self, broker_version=None, api_versions=None):
        if broker_version is None and api_versions is None:
            raise ValueError("Cannot construct BrokerVersionData!")
        self.broker_version = tuple(broker_version) if broker_version is not None else EVENTLOG_BROKER_VERSION
        self.api_versions = api_versions if api_versions is not None else \
            BROKER_API_VERSIONS.get(self.broker_version, BROKER_API_VERSIONS[EVENTLOG_BROKER_VERSION])

    def __eq__(self, other):
        other = other.broker_version if isinstance(other, BrokerVersionData) else tuple(other)
        return self.broker_version == other

    def __lt__(self, other):
        other = other.broker_version if isinstance(other, BrokerVersionData) else tuple(other)
        return self.broker_version < other

    def __hash__(self):
        return hash(self.broker_version)

    def __repr__(self):
        return f"BrokerVersionData({self.broker_version})"
