"""The argument and result types of confluent_kafka.admin."""
from __future__ import annotations


from eventlog.compat.confluent_kafka._model import ConsumerGroupType



class NewTopic:
    def __init__(self, topic, num_partitions=-1, replication_factor=-1, replica_assignment=None, config=None):
        self.topic = topic
        self.num_partitions = num_partitions
        self.replication_factor = replication_factor
        self.replica_assignment = replica_assignment
        self.config = config

    def __repr__(self):
        return f"NewTopic(topic={self.topic},num_partitions={self.num_partitions})"


class NewPartitions:
    def __init__(self, topic, new_total_count, replica_assignment=None):
        self.topic = topic
        self.new_total_count = new_total_count
        self.replica_assignment = replica_assignment


class ConsumerGroupListing:
    def __init__(self, group_id, is_simple_consumer_group, state=None, type=None):  # noqa: A002
        self.group_id = group_id
        self.is_simple_consumer_group = is_simple_consumer_group
        if state is not None:
            self.state = state
        if type is not None:
            self.type = type

    def __repr__(self):
        return f"ConsumerGroupListing({self.group_id!r}, {getattr(self, 'state', None)})"


class ListConsumerGroupsResult:
    def __init__(self, valid=None, errors=None):
        self.valid = valid
        self.errors = errors


class MemberAssignment:
    def __init__(self, topic_partitions):
        self.topic_partitions = topic_partitions or []


class MemberDescription:
    def __init__(self, member_id, client_id, host, assignment, group_instance_id=None, target_assignment=None):
        self.member_id = member_id
        self.client_id = client_id
        self.host = host
        self.assignment = assignment
        self.target_assignment = target_assignment
        self.group_instance_id = group_instance_id


class ConsumerGroupDescription:
    def __init__(self, group_id, is_simple_consumer_group, members, partition_assignor, state, coordinator,
                 authorized_operations=None, type=ConsumerGroupType.CLASSIC):  # noqa: A002
        self.group_id = group_id
        self.is_simple_consumer_group = is_simple_consumer_group
        self.members = members
        self.partition_assignor = partition_assignor
        self.state = state
        self.coordinator = coordinator
        self.authorized_operations = authorized_operations
        self.type = type

    def __repr__(self):
        return f"ConsumerGroupDescription({self.group_id!r}, {self.state}, {len(self.members)} members)"


class GroupMember:
    def __init__(self):
        self.id = None
        self.client_id = None
        self.client_host = None
        self.metadata = None
        self.assignment = None


class GroupMetadata:
    def __init__(self):
        self.broker = None
        self.id = None
        self.error = None
        self.state = None
        self.protocol_type = None
        self.protocol = None
        self.members = []


class TopicPartitionInfo:
    def __init__(self, id, leader, replicas, isr):  # noqa: A002
        self.id = id
        self.leader = leader
        self.replicas = replicas
        self.isr = isr


class TopicDescription:
    def __init__(self, name, topic_id, is_internal, partitions, authorized_operations=None):
        self.name = name
        self.topic_id = topic_id
        self.is_internal = is_internal
        self.partitions = partitions
        self.authorized_operations = authorized_operations


class DescribeClusterResult:
    def __init__(self, controller, nodes, cluster_id=None, authorized_operations=None):
        self.controller = controller
        self.nodes = nodes
        self.cluster_id = cluster_id
        self.authorized_operations = authorized_operations


class OffsetSpec:
    """list_offsets() specs: earliest(), latest(), max_timestamp(), for_timestamp(ms)."""

    def __init__(self, kind, value=None):
        self.kind = kind
        self.value = value

    @classmethod
    def earliest(cls):
        return cls("earliest")

    @classmethod
    def latest(cls):
        return cls("latest")

    @classmethod
    def max_timestamp(cls):
        return cls("max_timestamp")

    @classmethod
    def for_timestamp(cls, ts):
        return cls("timestamp", ts)


class ListOffsetsResultInfo:
    def __init__(self, offset, timestamp, leader_epoch):
        self.offset = offset
        self.timestamp = timestamp
        self.leader_epoch = leader_epoch
