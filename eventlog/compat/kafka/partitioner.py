"""kafka.partitioner: the partitioner interface, murmur2 and kafka-python's default placement."""
from __future__ import annotations

from eventlog import errors as _el


class Partitioner:
    """kafka-python 3.x's partitioner interface."""

    def partition(self, topic, key, serialized_key, value, serialized_value, cluster):
        raise NotImplementedError


def murmur2(data):
    """kafka-python's murmur2 (the Java client's hash, as a signed 32-bit int)."""
    from eventlog.compat.partitioners import murmur2 as m
    return m(bytes(data))


class DefaultPartitioner(Partitioner):
    """murmur2 of the serialized key; a random partition for a null key."""

    def partition(self, topic, key, serialized_key, value, serialized_value, cluster):
        import random
        all_partitions = sorted(cluster.partitions_for_topic(topic))
        if serialized_key is not None:
            return all_partitions[(murmur2(serialized_key) & 0x7FFFFFFF) % len(all_partitions)]
        return random.choice(all_partitions)

    # kafka-python 1.x/2.x called the partitioner itself: (key, all, available)
    def __call__(self, key, all_partitions, available=None):
        if key is None:
            import random
            return random.choice(available or all_partitions)
        return sorted(all_partitions)[(murmur2(key) & 0x7FFFFFFF) % len(all_partitions)]


class StickyPartitioner(DefaultPartitioner):
    """KIP-480: null-key records stick to one partition per batch (eventlog's own default)."""


class _ClusterView:
    """The few ClusterMetadata methods partitioners use."""

    def __init__(self, ref):
        self._ref = ref

    def topics(self, exclude_internal_topics=True):
        return set(self._ref.log.topics())

    def partitions_for_topic(self, topic):
        try:
            return set(range(self._ref.log.topic(topic).config.partitions))
        except _el.EventLogError:
            return None

    available_partitions_for_topic = partitions_for_topic

    def leader_for_partition(self, partition):
        return 0
