"""list_topics() results (ClusterMetadata, BrokerMetadata, TopicMetadata, PartitionMetadata),
shared by `Consumer`, `Producer` and `AdminClient`."""
from __future__ import annotations

from eventlog import errors as _el
from eventlog.compat.confluent_kafka._types import KafkaError


# -- metadata (list_topics) ---------------------------------------------------------------------

class ClusterMetadata:
    def __init__(self):
        self.cluster_id = "eventlog"
        self.controller_id = 0
        self.brokers = {}
        self.topics = {}
        self.orig_broker_id = 0
        self.orig_broker_name = None

    def __repr__(self):
        return f"ClusterMetadata({self.cluster_id})"


class BrokerMetadata:
    def __init__(self, id=0, host=None, port=0):  # noqa: A002
        self.id = id
        self.host = host
        self.port = port

    def __str__(self):
        return f"{self.host}:{self.port}/{self.id}"


class TopicMetadata:
    def __init__(self):
        self.topic = None
        self.topic_id = None
        self.partitions = {}
        self.error = None

    def __repr__(self):
        return f"TopicMetadata({self.topic}, {len(self.partitions)} partitions)"


class PartitionMetadata:
    def __init__(self):
        self.id = -1
        self.leader = -1
        self.replicas = []
        self.isrs = []
        self.error = None


def _cluster_metadata(log, topic=None):
    md = ClusterMetadata()
    md.orig_broker_name = f"eventlog:{log.path}/0"
    md.brokers[0] = BrokerMetadata(0, log.path, 0)
    names = log.topics() if topic is None else [topic]
    for name in names:
        tm = TopicMetadata()
        tm.topic = name
        try:
            n = log.topic(name).config.partitions
        except (_el.UnknownTopicError, _el.InvalidTopicError):
            tm.error = KafkaError(KafkaError.UNKNOWN_TOPIC_OR_PART)
            md.topics[name] = tm
            continue
        for i in range(n):
            pm = PartitionMetadata()
            pm.id, pm.leader, pm.replicas, pm.isrs = i, 0, [0], [0]
            tm.partitions[i] = pm
        md.topics[name] = tm
    return md


# -- configuration --------------------------------------------------------------------------------
