"""kafka.admin: KafkaAdminClient and the types its calls take and return."""
from eventlog.compat.kafka.admin._acls import (ACL, ACLFilter, ACLOperation, ACLPermissionType, ACLResourcePatternType, ResourcePattern,
                    ResourcePatternFilter, ResourceType)
from eventlog.compat.kafka.admin._types import (  # noqa: F401 - public names
    AbortTransactionSpec, AlterConfigOp, IsolationLevel, ConfigFilterType, ConfigResource, ConfigResourceType, ConfigSourceType,
    ConfigType, ConsumerProtocolMemberAssignment, ConsumerProtocolMemberMetadata, GroupInformation, GroupState,
    GroupType, MemberInformation, MemberToRemove, NewPartitions, NewTopic, OffsetSpec, OffsetTimestamp,
    PartitionProducerState, ProducerState, ScramMechanism, TransactionDescription, TransactionListing,
    TransactionState, UpdateFeatureType, UserScramCredentialDeletion, UserScramCredentialUpsertion)
from eventlog.compat.kafka.admin.client import KafkaAdminClient

__all__ = ["KafkaAdminClient", "NewTopic", "NewPartitions", "ConfigResource", "ConfigResourceType",
           "ACL", "ACLFilter", "ACLOperation", "ACLPermissionType", "ACLResourcePatternType", "ResourcePattern",
           "ResourcePatternFilter", "ResourceType", "AlterConfigOp", "ConfigFilterType", "ConfigSourceType",
           "ConfigType", "GroupState", "GroupType", "MemberToRemove", "OffsetSpec", "OffsetTimestamp",
           "ScramMechanism", "UserScramCredentialDeletion", "UserScramCredentialUpsertion", "UpdateFeatureType",
           "AbortTransactionSpec", "TransactionState", "TransactionListing", "TransactionDescription",
           "ProducerState", "PartitionProducerState"]
