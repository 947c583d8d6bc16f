"""kafka.admin: KafkaAdminClient and the types its calls take and return."""
from ._types import (  # noqa: F401 - public names
                     ConfigResource, ConfigResourceType, ConsumerProtocolMemberAssignment,
                     ConsumerProtocolMemberMetadata, GroupInformation, MemberInformation, NewPartitions, NewTopic)
from .client import KafkaAdminClient

__all__ = ["KafkaAdminClient", "NewTopic", "NewPartitions", "ConfigResource", "ConfigResourceType"]
