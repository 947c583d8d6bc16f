"""kafka.admin: KafkaAdminClient and the types its calls take and return."""
from ._acls import (ACL, ACLFilter, ACLOperation, ACLPermissionType, ACLResourcePatternType, ResourcePattern,
                    ResourcePatternFilter, ResourceType)
from ._types import (  # noqa: F401 - public names
    AbortTransactionSpec, AlterConfigOp, IsolationLevel, ConfigFilterType, ConfigResource, ConfigResourceType, ConfigSourceType,
    ConfigType, ConsumerProtocolMemberAssignment, ConsumerProtocolMemberMetadata, GroupInformation, GroupState,
    GroupType, MemberInformation, MemberToRemove, NewPartitions, NewTopic, OffsetSpec, OffsetTimestamp,
    PartitionProducerState, ProducerState, ScramMechanism, TransactionDescription, TransactionListing,
    TransactionState, UpdateFeatureType, UserScramCredentialDeletion, UserScramCredentialUpsertion)
from .client import KafkaAdminClient

__all__ = ["KafkaAdminClient", "NewTopic", "NewPartitions", "ConfigResource", "ConfigResourceType",
           "ACL", "ACLFilter", "ACLOperation", "ACLPermissionType", "ACLResourcePatternType", "ResourcePattern",
           "ResourcePatternFilter", "ResourceType", "AlterConfigOp", "ConfigFilterType", "ConfigSourceType",
           "ConfigType", "GroupState", "GroupType", "MemberToRemove", "OffsetSpec", "OffsetTimestamp",
           "ScramMechanism", "UserScramCredentialDeletion", "UserScramCredentialUpsertion", "UpdateFeatureType",
           "AbortTransactionSpec", "TransactionState", "TransactionListing", "TransactionDescription",
           "ProducerState", "PartitionProducerState"]
