"""confluent_kafka.cimpl: in confluent-kafka the C extension holding the clients and the core
value types; here the same names, gathered from the facade's modules."""
from __future__ import annotations

from eventlog.compat.confluent_kafka._consumer import Consumer
from eventlog.compat.confluent_kafka._producer import Producer
from eventlog.compat.confluent_kafka._types import (OFFSET_BEGINNING, OFFSET_END, OFFSET_INVALID, OFFSET_STORED, TIMESTAMP_CREATE_TIME,
                     TIMESTAMP_LOG_APPEND_TIME, TIMESTAMP_NOT_AVAILABLE, ConcurrentModificationException,
                     IllegalStateException, KafkaError, KafkaException, Message, TopicPartition, Uuid,
                     consistent, fnv1a, libversion, murmur2, version)
from eventlog.compat.confluent_kafka._share import ShareConsumer
from eventlog.compat.confluent_kafka.admin._types import NewPartitions, NewTopic

__all__ = ["Consumer", "Producer", "OFFSET_BEGINNING", "OFFSET_END", "OFFSET_INVALID", "OFFSET_STORED",
           "TIMESTAMP_CREATE_TIME", "TIMESTAMP_LOG_APPEND_TIME", "TIMESTAMP_NOT_AVAILABLE",
           "ConcurrentModificationException", "IllegalStateException", "KafkaError", "KafkaException",
           "Message", "TopicPartition", "libversion", "version", "Uuid", "consistent", "fnv1a",
           "murmur2", "ShareConsumer", "NewTopic", "NewPartitions"]


def _constants():
    """librdkafka's enum constants (ACL_OPERATION_READ, RESOURCE_TOPIC, ...), from the facade's enums."""
    from eventlog.compat.confluent_kafka import _model
    from eventlog.compat.confluent_kafka.admin import _security as s
    table = [(s.AclOperation, "ACL_OPERATION_"), (s.AclPermissionType, "ACL_PERMISSION_TYPE_"),
             (s.AlterConfigOpType, "ALTER_CONFIG_OP_TYPE_"), (s.ConfigSource, "CONFIG_SOURCE_"),
             (s.ResourceType, "RESOURCE_"), (s.ResourcePatternType, "RESOURCE_PATTERN_"),
             (s.ScramMechanism, "SCRAM_MECHANISM_"), (_model.ElectionType, "ELECTION_TYPE_"),
             (_model.IsolationLevel, "ISOLATION_LEVEL_"), (_model.ConsumerGroupType, "CONSUMER_GROUP_TYPE_"),
             (_model.AcknowledgeType, "SHARE_ACKNOWLEDGE_TYPE_")]
    out = {}
    for enum_cls, prefix in table:
        for m in enum_cls:
            name = m.name[len("SCRAM_"):] if prefix == "SCRAM_MECHANISM_" and m.name.startswith("SCRAM_") else m.name
            out[prefix + name] = m.value
    states = {"UNKNOWN": 0, "PREPARING_REBALANCE": 1, "COMPLETING_REBALANCE": 2, "STABLE": 3, "DEAD": 4,
              "EMPTY": 5}
    out.update({"CONSUMER_GROUP_STATE_" + k: v for k, v in states.items()})
    out.update(OFFSET_SPEC_EARLIEST=-2, OFFSET_SPEC_LATEST=-1, OFFSET_SPEC_MAX_TIMESTAMP=-3)
    return out


globals().update(_constants())
__all__ += sorted(_constants())
