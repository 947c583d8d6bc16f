"""AdminClient calls over what eventlog stores: topic configuration (describe_configs,
alter_configs, incremental_alter_configs, in Kafka's topic config names) and records
(delete_records).

Rules kept: a resource's result is a future, failed with the KafkaException a broker's answer
gives; a change is checked completely before the topic is altered; settings go through the
shared Kafka-name mapping (eventlog.compat._topic_configs). Mixed into AdminClient, which
provides `_log` and `_run`.
"""
from __future__ import annotations

from eventlog import errors as _el
from eventlog.compat import _topic_configs
from eventlog.compat.confluent_kafka._types import KafkaError, TopicPartition, _exc
from eventlog.compat.confluent_kafka.admin import _checks
from eventlog.compat.confluent_kafka.admin._security import (AlterConfigOpType, ConfigEntry, ConfigResource, ConfigSource,
                                                              DeletedRecords, ResourceType)


class StorageAdminMixin:
    """Topic configuration and record deletion for AdminClient."""

    # -- topic configuration ------------------------------------------------------------------------
    def _topic_of(self, res):
        if res.restype != ResourceType.TOPIC:
            raise _exc(KafkaError.INVALID_REQUEST,
                       f"eventlog keeps configuration for topics only, not {res.restype.name} {res.name!r}")
        try:
            return self._log.topic(res.name)
        except _el.UnknownTopicError:
            raise _exc(KafkaError.UNKNOWN_TOPIC_OR_PART, "Broker: Unknown topic or partition") from None

    def _describe(self, res):
        topic = self._topic_of(res)
        return {name: ConfigEntry(name, value, source=ConfigSource[source].value,   # an int, as librdkafka's
                                  is_default=source == _topic_configs.DEFAULT)
                for name, value, source in _topic_configs.describe_topic_configs(topic.config)}

    def describe_configs(self, resources, **kwargs):
        """{ConfigResource: future -> {name: ConfigEntry}} for topics (Kafka's topic config names)."""
        _checks.options(kwargs, {"request_timeout"})
        _checks.non_empty_list(resources, "ConfigResource objects", ConfigResource)
        return {r: self._run(self._describe, r) for r in resources}

    def _alter(self, res, settings, incremental):
        topic = self._topic_of(res)
        described = _topic_configs.describe_topic_configs(topic.config)
        current = {n: v for n, v, source in described if source == _topic_configs.SET}
        if incremental:
            effective = {n: v for n, v, _source in described}
            new = dict(current)
            for e in res.incremental_configs:
                op = e.incremental_operation
                if op == AlterConfigOpType.SET:
                    new[e.name] = e.value
                elif op == AlterConfigOpType.DELETE:
                    new.pop(e.name, None)
                else:   # APPEND / SUBTRACT on list-valued configs
                    new[e.name] = _topic_configs.list_config_op(new.get(e.name, effective.get(e.name)), e.value,
                                                         append=op == AlterConfigOpType.APPEND)
        else:
            new = dict(settings)   # alter_configs: what is not given goes back to its default
        try:
            _topic_configs.replace_topic_configs(topic, current, new)
        except ValueError as e:
            raise _exc(KafkaError.INVALID_CONFIG, str(e)) from None

    def alter_configs(self, resources, **kwargs):
        """Replace topics' configuration (deprecated in confluent-kafka: use incremental_alter_configs)."""
        _checks.options(kwargs, {"request_timeout", "validate_only"})
        validate_only = kwargs.get("validate_only") or False
        _checks.non_empty_list(resources, "ConfigResource objects", ConfigResource)
        return {r: self._run(lambda r=r: None if validate_only else self._alter(r, r.set_config_dict, False))
                for r in resources}

    def incremental_alter_configs(self, resources, **kwargs):
        """Set, delete, append to or subtract from topics' configuration entries."""
        _checks.options(kwargs, {"request_timeout", "validate_only"})
        validate_only = kwargs.get("validate_only") or False
        _checks.non_empty_list(resources, "ConfigResource objects", ConfigResource, none_is=TypeError)
        if len(set(resources)) != len(resources):
            raise ValueError("Duplicate ConfigResource objects in the request")
        for r in resources:
            for e in r.incremental_configs:
                if not isinstance(e.incremental_operation, AlterConfigOpType):
                    raise TypeError("Expected incremental_operation to be an AlterConfigOpType")
        return {r: self._run(lambda r=r: None if validate_only else self._alter(r, None, True))
                for r in resources}

    # -- records ----------------------------------------------------------------------------------
    def delete_records(self, topic_partition_offsets, request_timeout=None, operation_timeout=None, **kwargs):
        """Delete records before each TopicPartition's offset (OFFSET_END: all); futures give
        DeletedRecords(low_watermark)."""
        if not isinstance(topic_partition_offsets, list):
            raise TypeError(f"Expected Request to be a list, got '{type(topic_partition_offsets).__name__}' ")
        for tp in topic_partition_offsets:
            if not isinstance(tp, TopicPartition):
                raise TypeError("Element of the request list must be of type 'TopicPartition'"
                                f" got '{type(tp).__name__}' ")
            _checks.topic_partition(tp, "the request list")
        if len({(tp.topic, tp.partition) for tp in topic_partition_offsets}) != len(topic_partition_offsets):
            raise ValueError("Duplicate partitions in the request")

        def one(tp):
            try:
                part = self._log.topic(tp.topic).partition(tp.partition)
            except _el.UnknownTopicError:
                raise _exc(KafkaError.UNKNOWN_TOPIC_OR_PART, "Broker: Unknown topic or partition") from None
            end = part.end_offset
            before = end if tp.offset in (-1,) else tp.offset
            if before < 0 or before > end:
                raise _exc(KafkaError.OFFSET_OUT_OF_RANGE, "Broker: Offset out of range")
            part.delete_records(before)
            return DeletedRecords(part.start_offset)
        return {tp: self._run(one, tp) for tp in topic_partition_offsets}
