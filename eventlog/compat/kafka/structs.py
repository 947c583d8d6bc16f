"""kafka.structs: the small value types (namedtuples) every kafka facade module shares.
eventlog's own TopicPartition *is* kafka-python's: a namedtuple (topic, partition)."""
from __future__ import annotations

import collections

from eventlog.record import TopicPartition as _ELTopicPartition

# eventlog's TopicPartition *is* kafka-python's: a namedtuple (topic, partition)
TopicPartition = _ELTopicPartition
TopicPartitionReplica = collections.namedtuple("TopicPartitionReplica", ["topic", "partition", "broker_id"])
OffsetAndMetadata = collections.namedtuple("OffsetAndMetadata", ["offset", "metadata", "leader_epoch"],
                                           defaults=["", -1])
OffsetAndTimestamp = collections.namedtuple("OffsetAndTimestamp", ["offset", "timestamp", "leader_epoch"],
                                            defaults=[-1])


class MemberState:
    """A consumer's group membership (ConsumerGroupMetadata.state)."""
    UNJOINED = "<unjoined>"        # not part of a group
    REBALANCING = "<rebalancing>"  # rebalance begun
    STABLE = "<stable>"            # joined, assignment settled


ConsumerGroupMetadata = collections.namedtuple(
    "ConsumerGroupMetadata", ["group_id", "generation_id", "member_id", "group_instance_id", "state"],
    defaults=[None, -1, "", None, MemberState.UNJOINED])
ConsumerRecord = collections.namedtuple(
    "ConsumerRecord", ["topic", "partition", "leader_epoch", "offset", "timestamp", "timestamp_type",
                       "key", "value", "headers", "checksum", "serialized_key_size",
                       "serialized_value_size", "serialized_header_size"])
RecordMetadata = collections.namedtuple(
    "RecordMetadata", ["topic", "partition", "topic_partition", "offset", "timestamp", "checksum",
                       "serialized_key_size", "serialized_value_size", "serialized_header_size"])
