"""KafkaAdminClient calls over what eventlog stores: topic configuration (describe_configs,
alter_configs), records and offsets (delete_records, list_partition_offsets), partitions
(describe_topic_partitions) and the one log directory (describe_log_dirs).

Rules kept: results have kafka-python 3.x's shapes (the response's to_dict(), as its admin
client returns them); a call fails with the exception kafka-python raises for the broker's
error; topic settings are read and written only through eventlog's public Topic API and the
shared Kafka-name mapping in eventlog.compat._common. The one "broker" is node 0.
"""
from __future__ import annotations

import base64
import os
import shutil
import uuid

from eventlog import errors as _el
from eventlog.cli.topics import partition_stats
from eventlog.compat import _common
from eventlog.compat import _topic_configs
from eventlog.compat.kafka import errors
from eventlog.compat.kafka._shared import _LEADER_EPOCH, _translated
from eventlog.compat.kafka.admin._types import (AlterConfigOp, ConfigFilterType, ConfigResourceType, OffsetSpec)
from eventlog.compat.kafka.structs import OffsetAndTimestamp

# Kafka's types of the topic configs eventlog honours (DescribeConfigs config_type)
_CONFIG_TYPES = {
    "retention.ms": "LONG", "retention.bytes": "LONG", "segment.bytes": "INT", "segment.ms": "LONG",
    "cleanup.policy": "LIST", "compression.type": "STRING", "max.message.bytes": "INT",
    "delete.retention.ms": "LONG", "min.compaction.lag.ms": "LONG", "min.cleanable.dirty.ratio": "DOUBLE",
    # some that eventlog keeps without acting on them (others describe as STRING)
    "min.insync.replicas": "INT", "file.delete.delay.ms": "LONG", "flush.ms": "LONG",
    "flush.messages": "LONG", "max.compaction.lag.ms": "LONG", "message.timestamp.type": "STRING",
}
_NODE = 0


def _resource_type(rt):
    if isinstance(rt, str):
        return ConfigResourceType[rt.upper()]
    return ConfigResourceType(rt)


def _filter(f):
    if isinstance(f, str):
        return ConfigFilterType[f.upper()]
    return ConfigFilterType(f)


def _uuid(topic_id):
    """Kafka's text form of a topic id (url-safe base64 of 16 bytes) -> uuid.UUID, as
    kafka-python decodes it; None for a topic without an id."""
    try:
        return uuid.UUID(bytes=base64.urlsafe_b64decode(topic_id + "=="))
    except (ValueError, TypeError):
        return None


def _unknown_partitions(tps):
    return errors.UnknownTopicOrPartitionError(
        "The following partitions are not known: " + ", ".join(map(repr, sorted(tps))))


class StorageAdminMixin:
    """The admin calls over topic settings, records, partitions and the log directory; mixed
    into KafkaAdminClient, which provides `_log` (the open eventlog.Log)."""

    # -- configs ----------------------------------------------------------------------------------
    def _configs_of(self, name):
        """[(Kafka name, value, source)] of a topic, or None if it does not exist."""
        try:
            topic = self._log.topic(name)
        except (_el.UnknownTopicError, _el.InvalidTopicError):
            return None
        return _topic_configs.describe_topic_configs(topic.config)

    def describe_configs(self, config_resources, include_synonyms=False, config_filter="modified"):
        """{resource type: {name: {config: {value, read_only, config_source, is_sensitive,
        synonyms, config_type, documentation}}}} as kafka-python 3.x. Topics only (eventlog
        has no broker configuration: a broker resource describes as empty); an unknown topic
        describes as empty, as the broker answers. `config_filter`: 'modified' (default: set
        on the topic), 'dynamic'/'all' (every config), 'default' (those not set)."""
        flt = _filter(config_filter)
        out = {}
        for res in config_resources:
            rt = _resource_type(res.resource_type)
            entries = {}
            configs = self._configs_of(res.name) if rt == ConfigResourceType.TOPIC else None
            for name, value, source in configs or ():
                if res.configs is not None and name not in res.configs:
                    continue
                set_ = source == _topic_configs.SET     # kafka-python's is_modified()
                if (flt == ConfigFilterType.MODIFIED and not set_) or (flt == ConfigFilterType.DEFAULT and set_) \
                        or flt == ConfigFilterType.STATIC:
                    continue
                entries[name] = {"value": value, "read_only": False, "config_source": source,
                                 "is_sensitive": False, "synonyms": [], "config_type": _CONFIG_TYPES.get(name, "STRING"),
                                 "documentation": None}
            out.setdefault(rt.name.lower(), {})[res.name] = entries
        return out

    def alter_configs(self, config_resources, validate_only=False, raise_on_unknown=True, incremental=None):
        """Change topic configs: `configs` maps a Kafka config name to a value (SET) or to
        (AlterConfigOp, value); keys not named keep their value (kafka-python sends an
        IncrementalAlterConfigs request to a broker that has it). Returns {resource type: {name:
        'OK' | error string}}; with raise_on_unknown, a config the topic does not have raises
        ValueError('Unrecognized configs: {...}') before anything changes."""
        if raise_on_unknown:
            for res in config_resources:
                unknown = set(res.configs or ()) - _topic_configs.known_config_names()
                if unknown:
                    raise ValueError(f"Unrecognized configs: {unknown}")
        out = {}
        for res in config_resources:
            rt = _resource_type(res.resource_type)
            out.setdefault(rt.name.lower(), {})[res.name] = self._alter_one(rt, res, validate_only)
        return out

    def _alter_one(self, rt, res, validate_only):
        if rt != ConfigResourceType.TOPIC:
            return str(errors.InvalidRequestError(f"eventlog keeps configuration for topics only, not {rt.name}"))
        configs = self._configs_of(res.name)
        if configs is None:
            return str(errors.UnknownTopicOrPartitionError(f"The topic '{res.name}' does not exist."))
        current = {n: v for n, v, source in configs if source == _topic_configs.SET}
        effective = {n: v for n, v, _source in configs}
        new = dict(current)
        for name, spec in (res.configs or {}).items():
            op, value = spec if isinstance(spec, tuple) else (AlterConfigOp.SET, spec)
            op = AlterConfigOp[op.upper()] if isinstance(op, str) else AlterConfigOp(op)
            if op == AlterConfigOp.SET:
                new[name] = value
            elif op == AlterConfigOp.DELETE:
                new.pop(name, None)
            else:
                new[name] = _topic_configs.list_config_op(new.get(name, effective.get(name)), value,
                                                   append=op == AlterConfigOp.APPEND)
        try:
            _topic_configs.replace_topic_configs(self._log.topic(res.name), current, new, apply=not validate_only)
        except ValueError as e:
            return str(errors.InvalidConfigurationError(str(e)))
        except _el.EventLogError as e:
            return str(errors.InvalidConfigurationError(str(e)))
        return "OK"

    # -- records and offsets ----------------------------------------------------------------------
    def _partition(self, tp):
        try:
            return self._log.topic(tp.topic).partition(tp.partition)
        except (_el.UnknownTopicError, _el.InvalidTopicError):
            return None

    def delete_records(self, records_to_delete, timeout_ms=None, partition_leader_id=None):
        """Delete the records before each {TopicPartition: offset} (-1: all). Returns
        {TopicPartition: {'partition_index', 'low_watermark', 'error_code'}}; an unknown
        partition raises UnknownTopicOrPartitionError, an offset past the end
        OffsetOutOfRangeError (nothing is deleted then)."""
        parts = {tp: self._partition(tp) for tp in records_to_delete}
        missing = [tp for tp, p in parts.items() if p is None]
        if missing:
            raise _unknown_partitions(missing)
        for tp, before in records_to_delete.items():
            end = parts[tp].end_offset
            if before != -1 and not 0 <= before <= end:
                raise errors.OffsetOutOfRangeError(
                    f"Error deleting records from topic {tp.topic} partition {tp.partition}")
        out = {}
        for tp, before in records_to_delete.items():
            p = parts[tp]
            with _translated():
                p.delete_records(p.end_offset if before == -1 else before)
            out[tp] = {"partition_index": tp.partition, "low_watermark": p.start_offset, "error_code": 0}
        return out

    def list_partition_offsets(self, topic_partition_specs, isolation_level=None, timeout_ms=None):
        """{TopicPartition: OffsetAndTimestamp} for {TopicPartition: OffsetSpec | timestamp ms}:
        EARLIEST/LATEST give timestamp -1; a timestamp gives the first record at or after it
        (offset -1 if none); MAX_TIMESTAMP the record with the largest timestamp. An unknown
        partition raises UnknownTopicOrPartitionError."""
        parts = {tp: self._partition(tp) for tp in topic_partition_specs}
        missing = [tp for tp, p in parts.items() if p is None]
        if missing:
            raise _unknown_partitions(missing)
        out = {}
        for tp, spec in topic_partition_specs.items():
            if not isinstance(spec, int):
                raise TypeError(f"Unsupported ts type {type(spec)}, expected int or OffsetSpec")
            p = parts[tp]
            if spec in (OffsetSpec.EARLIEST, OffsetSpec.EARLIEST_LOCAL):
                out[tp] = OffsetAndTimestamp(p.start_offset, -1, _LEADER_EPOCH)
            elif spec in (OffsetSpec.LATEST, OffsetSpec.LATEST_TIERED):
                out[tp] = OffsetAndTimestamp(p.end_offset, -1, _LEADER_EPOCH)
            elif spec == OffsetSpec.MAX_TIMESTAMP:
                off, ts = _topic_configs.max_timestamp(p)
                out[tp] = OffsetAndTimestamp(off, ts, _LEADER_EPOCH if off >= 0 else None)
            elif spec < 0:
                raise errors.UnsupportedVersionError(f"unknown offset spec {int(spec)}")
            else:
                off = p.offset_for_time(int(spec))
                recs = p.read(off, max_records=1) if off is not None else []
                out[tp] = (OffsetAndTimestamp(recs[0].offset, recs[0].timestamp_ms, _LEADER_EPOCH) if recs
                           else OffsetAndTimestamp(-1, -1, None))
        return out

    # -- partitions and the log directory ---------------------------------------------------------
    def describe_topic_partitions(self, topics, response_partition_limit=2000, cursor=None):
        """{'topics': [...], 'next_cursor': None | {...}} as kafka-python's DescribeTopicPartitions
        (KIP-966): one replica (node 0) per partition, paginated by `response_partition_limit`."""
        out, budget, next_cursor = [], response_partition_limit, None
        names = sorted(topics)
        if cursor is not None:
            names = [n for n in names if n >= cursor["topic_name"]]
        for name in names:
            try:
                topic = self._log.topic(name)
            except (_el.UnknownTopicError, _el.InvalidTopicError):
                out.append({"error_code": 3, "name": name, "topic_id": None, "is_internal": False,
                            "partitions": [], "topic_authorized_operations": None})
                continue
            first = cursor["partition_index"] if cursor is not None and cursor["topic_name"] == name else 0
            idx = list(range(first, topic.config.partitions))
            if len(idx) > budget:
                next_cursor = {"topic_name": name, "partition_index": idx[budget]}
                idx = idx[:budget]
            budget -= len(idx)
            out.append({"error_code": 0, "name": name, "topic_id": _uuid(topic.topic_id),
                        "is_internal": False, "topic_authorized_operations": None,
                        "partitions": [{"error_code": 0, "partition_index": i, "leader_id": _NODE,
                                        "leader_epoch": _LEADER_EPOCH, "replica_nodes": [_NODE],
                                        "isr_nodes": [_NODE], "eligible_leader_replicas": None,
                                        "last_known_elr": None, "offline_replicas": []} for i in idx]})
            if next_cursor is not None:
                break
        return {"topics": out, "next_cursor": next_cursor}

    def describe_log_dirs(self, topic_partitions=None, brokers=None):
        """[{'broker': 0, 'log_dirs': [one entry: the log's directory, its topics' partition
        sizes, total and usable bytes of its file system]}]. `topic_partitions`: {topic:
        [partitions]}, [topic names] (all their partitions) or None (every topic)."""
        log = self._log
        if topic_partitions is None:
            wanted = {t: None for t in log.topics()}
        elif isinstance(topic_partitions, dict):
            wanted = {t: set(ps) for t, ps in topic_partitions.items()}
        else:
            wanted = {t: None for t in topic_partitions}
        topics = []
        for name, only in wanted.items():
            try:
                topic = log.topic(name)
            except (_el.UnknownTopicError, _el.InvalidTopicError):
                continue
            parts = []
            for i in range(topic.config.partitions):
                if only is not None and i not in only:
                    continue
                size = partition_stats(topic.partition(i))["bytes"]
                parts.append({"partition_index": i, "partition_size": size, "offset_lag": 0, "is_future_key": False})
            topics.append({"name": name, "partitions": parts})
        usage = shutil.disk_usage(log.path)
        entry = {"error_code": 0, "log_dir": os.fspath(log.path), "topics": topics,
                 "total_bytes": usage.total, "usable_bytes": usage.free, "is_cordoned": False}
        return [{"broker": _NODE, "log_dirs": [entry]}]
