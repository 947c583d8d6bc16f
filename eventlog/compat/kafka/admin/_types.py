"""Argument and result types of kafka.admin."""
from __future__ import annotations

import collections


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


class ConfigResourceType:
    UNKNOWN = 0
    TOPIC = 2
    BROKER = 4
    BROKER_LOGGER = 8


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
