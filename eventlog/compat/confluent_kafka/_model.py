"""confluent_kafka._model: enums and small value types of the group and admin APIs."""
from __future__ import annotations

import enum


class ConsumerGroupState(enum.Enum):
    UNKNOWN = 0
    UNKOWN = 0
    PREPARING_REBALANCING = 1
    COMPLETING_REBALANCING = 2
    STABLE = 3
    DEAD = 4
    EMPTY = 5

    def __lt__(self, other):
        return self.value < other.value


class ConsumerGroupType(enum.Enum):
    UNKNOWN = 0
    CONSUMER = 1
    CLASSIC = 2

    def __lt__(self, other):
        return self.value < other.value


class IsolationLevel(enum.Enum):
    READ_UNCOMMITTED = 0
    READ_COMMITTED = 1


class ConsumerGroupTopicPartitions:
    def __init__(self, group_id, topic_partitions=None):
        self.group_id = group_id
        self.topic_partitions = topic_partitions

    def __repr__(self):
        return f"ConsumerGroupTopicPartitions({self.group_id!r}, {self.topic_partitions!r})"


class Node:
    def __init__(self, id, host, port, rack=None):  # noqa: A002 - confluent's names
        self.id = id
        self.id_string = str(id)
        self.host = host
        self.port = port
        self.rack = rack


class TopicCollection:
    def __init__(self, topic_names):
        self.topic_names = topic_names


class ElectionType(enum.Enum):
    PREFERRED = 0
    UNCLEAN = 1


class AcknowledgeType(enum.Enum):
    """Share-consumer acknowledgements (share groups are not offered by eventlog)."""
    ACCEPT = 1
    RELEASE = 2
    REJECT = 3


class ThrottleEvent:
    """What a `throttle_cb` receives (eventlog never throttles, so it is never called)."""

    def __init__(self, broker_name, broker_id, throttle_time):
        self.broker_name = broker_name
        self.broker_id = broker_id
        self.throttle_time = throttle_time

    def __str__(self):
        return f"{self.broker_name}/{self.broker_id} throttled for {int(self.throttle_time * 1000)} ms"
