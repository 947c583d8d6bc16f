"""Argument and result types of kafka.admin."""
from __future__ import annotations

import collections
import enum


class NewTopic:
    def __init__(self, name, num_partitions=-1, replication_factor=-1, replica_assignments=None,
                 topic_configs=None):
        self.name = name
        self.num_partitions = num_partitions
        self.replication_factor = replication_factor
        self.replica_assignments = replica_assignments or {}
        self.topic_configs = topic_configs or {}

    def __repr__(self):
        return f"NewTopic(name={self.name!r}, num_partitions={self.num_partitions})"


class NewPartitions:
    def __init__(self, total_count, new_assignments=None):
        self.total_count = total_count
        self.new_assignments = new_assignments


class ConfigResourceType(enum.IntEnum):
    UNKNOWN = 0
    TOPIC = 2
    BROKER = 4
    BROKER_LOGGER = 8
    CLIENT_METRICS = 16
    GROUP = 32


class AlterConfigOp(enum.IntEnum):
    SET = 0
    DELETE = 1
    APPEND = 2
    SUBTRACT = 3


class ConfigType(enum.IntEnum):
    UNKNOWN = 0
    BOOLEAN = 1
    STRING = 2
    INT = 3
    SHORT = 4
    LONG = 5
    DOUBLE = 6
    LIST = 7
    CLASS = 8
    PASSWORD = 9


class ConfigSourceType(enum.IntEnum):
    UNKNOWN = 0
    DYNAMIC_TOPIC_CONFIG = 1
    DYNAMIC_BROKER_CONFIG = 2
    DYNAMIC_DEFAULT_BROKER_CONFIG = 3
    STATIC_BROKER_CONFIG = 4
    DEFAULT_CONFIG = 5
    DYNAMIC_BROKER_LOGGER_CONFIG = 6
    DYNAMIC_CLIENT_METRICS_CONFIG = 7
    DYNAMIC_GROUP_CONFIG = 8


class ConfigFilterType(enum.IntEnum):
    ALL = 0
    DYNAMIC = 1
    MODIFIED = 2
    DEFAULT = 3
    STATIC = 4


class GroupState(str, enum.Enum):
    UNKNOWN = "Unknown"
    PREPARING_REBALANCE = "PreparingRebalance"
    COMPLETING_REBALANCE = "CompletingRebalance"
    STABLE = "Stable"
    DEAD = "Dead"
    EMPTY = "Empty"
    ASSIGNING = "Assigning"
    RECONCILING = "Reconciling"


class GroupType(str, enum.Enum):
    UNKNOWN = "Unknown"
    CLASSIC = "classic"
    CONSUMER = "consumer"
    SHARE = "share"


class MemberToRemove:
    def __init__(self, member_id=None, group_instance_id=None, reason=None):
        self.member_id = member_id
        self.group_instance_id = group_instance_id
        self.reason = reason


class ScramMechanism(enum.IntEnum):
    UNKNOWN = 0
    SCRAM_SHA_256 = 1
    SCRAM_SHA_512 = 2


class UserScramCredentialDeletion:
    def __init__(self, user, mechanism):
        self.user = user
        self.mechanism = mechanism


class UserScramCredentialUpsertion:
    def __init__(self, user, mechanism, password, iterations=None, salt=None):
        self.user = user
        self.mechanism = mechanism
        self.password = password
        self.iterations = iterations
        self.salt = salt


class UpdateFeatureType(enum.IntEnum):
    UNKNOWN = 0
    UPGRADE = 1
    SAFE_DOWNGRADE = 2
    UNSAFE_DOWNGRADE = 3


class OffsetSpec(enum.IntEnum):
    """list_partition_offsets specs (or an OffsetTimestamp / int timestamp in ms)."""
    LATEST = -1
    EARLIEST = -2
    MAX_TIMESTAMP = -3
    EARLIEST_LOCAL = -4
    LATEST_TIERED = -5


class OffsetTimestamp(int):
    """A timestamp (ms) to look an offset up by, in list_partition_offsets."""


class IsolationLevel(enum.IntEnum):
    READ_UNCOMMITTED = 0
    READ_COMMITTED = 1


# transactions come with eventlog's transactions; the value types exist for code that names them
class TransactionState(str, enum.Enum):
    EMPTY = "Empty"
    ONGOING = "Ongoing"
    PREPARE_COMMIT = "PrepareCommit"
    PREPARE_ABORT = "PrepareAbort"
    COMPLETE_COMMIT = "CompleteCommit"
    COMPLETE_ABORT = "CompleteAbort"
    DEAD = "Dead"
    PREPARE_EPOCH_FENCE = "PrepareEpochFence"
    UNKNOWN = "Unknown"


AbortTransactionSpec = collections.namedtuple(
    "AbortTransactionSpec", ["topic_partition", "producer_id", "producer_epoch", "coordinator_epoch"],
    defaults=[-1])
TransactionListing = collections.namedtuple("TransactionListing", ["transactional_id", "producer_id", "state"])
TransactionDescription = collections.namedtuple(
    "TransactionDescription", ["coordinator_id", "state", "producer_id", "producer_epoch",
                               "transaction_timeout_ms", "transaction_start_time_ms", "topic_partitions"])
ProducerState = collections.namedtuple(
    "ProducerState", ["producer_id", "producer_epoch", "last_sequence", "last_timestamp", "coordinator_epoch",
                      "current_transaction_start_offset"])
PartitionProducerState = collections.namedtuple("PartitionProducerState", ["active_producers"])


class ConfigResource:
    def __init__(self, resource_type, name, configs=None):
        self.resource_type = resource_type
        self.name = name
        self.configs = configs


GroupInformation = collections.namedtuple(
    "GroupInformation", ["error_code", "group", "state", "protocol_type", "protocol", "members",
                         "authorized_operations"])
MemberInformation = collections.namedtuple(
    "MemberInformation", ["member_id", "client_id", "client_host", "member_metadata", "member_assignment"])
ConsumerProtocolMemberMetadata = collections.namedtuple(
    "ConsumerProtocolMemberMetadata", ["version", "subscription", "user_data"])
ConsumerProtocolMemberAssignment = collections.namedtuple(
    "ConsumerProtocolMemberAssignment", ["version", "assignment", "user_data"])


#: create_partitions() result: kafka-python returns the CreatePartitionsResponse (`.results`)
CreatePartitionsResult = collections.namedtuple("CreatePartitionsResult", ["name", "error_code", "error_message"])
CreatePartitionsResponse = collections.namedtuple("CreatePartitionsResponse", ["throttle_time_ms", "results"])
