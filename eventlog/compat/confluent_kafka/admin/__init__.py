"""confluent_kafka.admin over an eventlog directory: `AdminClient` and the value types its calls
take and return.

As in confluent-kafka, operations return `concurrent.futures.Future`s (already resolved here:
an eventlog directory answers at once), keyed by topic or group; a failed operation's future
raises `KafkaException` with the broker's error code (`TOPIC_ALREADY_EXISTS`,
`UNKNOWN_TOPIC_OR_PART`, `INVALID_PARTITIONS`, `INVALID_CONFIG`, `GROUP_ID_NOT_FOUND`,
`NON_EMPTY_GROUP`...).
"""
from eventlog.compat.confluent_kafka._metadata import BrokerMetadata, ClusterMetadata, PartitionMetadata, TopicMetadata
from eventlog.compat.confluent_kafka._model import ConsumerGroupState, ConsumerGroupTopicPartitions, ConsumerGroupType, Node, TopicCollection
from eventlog.compat.confluent_kafka._types import KafkaError, KafkaException, TopicPartition
from eventlog.compat.confluent_kafka.admin._client import AdminClient
from eventlog.compat.confluent_kafka.admin._security import (AclBinding, AclBindingFilter, AclOperation, AclPermissionType, AlterConfigOpType,
                        ConfigEntry, ConfigResource, ConfigSource, DeletedRecords, ResourcePatternType,
                        ResourceType, ScramCredentialInfo, ScramMechanism, UserScramCredentialAlteration,
                        UserScramCredentialDeletion, UserScramCredentialsDescription,
                        UserScramCredentialUpsertion)
from eventlog.compat.confluent_kafka._model import ElectionType as _ElectionType
from eventlog.compat.confluent_kafka._types import OFFSET_INVALID
from eventlog.compat.confluent_kafka.admin._types import (ConsumerGroupDescription, ConsumerGroupListing, DescribeClusterResult,
                     GroupMember, GroupMetadata, ListConsumerGroupsResult, ListOffsetsResultInfo,
                     MemberAssignment, MemberDescription, NewPartitions, NewTopic, OffsetSpec,
                     TopicDescription, TopicPartitionInfo)

__all__ = ["AdminClient", "NewTopic", "NewPartitions", "ClusterMetadata", "TopicMetadata",
           "PartitionMetadata", "BrokerMetadata", "ConsumerGroupDescription", "ConsumerGroupListing",
           "ListConsumerGroupsResult", "MemberDescription", "MemberAssignment", "ConsumerGroupState",
           "ConsumerGroupTopicPartitions", "ConsumerGroupType", "KafkaError", "KafkaException",
           "TopicDescription", "OffsetSpec", "ListOffsetsResultInfo", "DescribeClusterResult",
           "GroupMetadata", "GroupMember", "TopicPartition", "TopicPartitionInfo", "Node",
           "TopicCollection", "ConfigSource", "ConfigEntry", "ConfigResource", "AlterConfigOpType",
           "ResourceType", "ResourcePatternType", "AclBinding", "AclBindingFilter", "AclOperation",
           "AclPermissionType", "ScramMechanism", "ScramCredentialInfo", "UserScramCredentialAlteration",
           "UserScramCredentialDeletion", "UserScramCredentialUpsertion", "UserScramCredentialsDescription",
           "DeletedRecords", "OFFSET_INVALID"]

# the CONFIG_SOURCE_* and RESOURCE_* constants confluent_kafka.admin re-exports from cimpl
for _e, _prefix in ((ConfigSource, "CONFIG_SOURCE_"), (ResourceType, "RESOURCE_")):
    for _m in _e:
        globals()[_prefix + _m.name] = _m.value
        __all__.append(_prefix + _m.name)
del _e, _prefix, _m
