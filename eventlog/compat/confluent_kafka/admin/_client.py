"""confluent_kafka.admin.AdminClient over an eventlog directory."""
from __future__ import annotations

from eventlog import errors as _el
from eventlog.compat import _common
from eventlog.compat import _groups
from eventlog.compat import _topic_configs
from eventlog.compat.confluent_kafka._guard import closed_guard
from eventlog.compat.confluent_kafka.admin import _checks
from eventlog.compat.confluent_kafka.admin._futures import _done
from eventlog.compat.confluent_kafka._config import _NETWORK_COMMON, _cfg_error, _merge_conf, _open
from eventlog.compat.confluent_kafka._metadata import BrokerMetadata, _cluster_metadata
from eventlog.compat.confluent_kafka._model import ConsumerGroupState, ConsumerGroupTopicPartitions, ConsumerGroupType, Node
from eventlog.compat.confluent_kafka._types import OFFSET_INVALID, KafkaError, KafkaException, TopicPartition, _exc, _from_el, _tp
from eventlog.compat.confluent_kafka.admin._nobroker import NoBrokerFeaturesMixin
from eventlog.compat.confluent_kafka.admin._storage import StorageAdminMixin
from eventlog.compat.confluent_kafka.admin._types import (ConsumerGroupDescription, ConsumerGroupListing, DescribeClusterResult, GroupMember,
                     GroupMetadata, ListConsumerGroupsResult, ListOffsetsResultInfo, MemberAssignment,
                     MemberDescription, NewPartitions, NewTopic, OffsetSpec, TopicDescription, TopicPartitionInfo)


def _state(log, gid):
    return {"Dead": ConsumerGroupState.DEAD, "Empty": ConsumerGroupState.EMPTY,
            "PreparingRebalance": ConsumerGroupState.PREPARING_REBALANCING,
            "Stable": ConsumerGroupState.STABLE}[_groups.group_state(log, gid)]


_ADMIN_KNOWN = {"request.timeout.ms", "socket.timeout.ms"}


@closed_guard("AdminClient has been closed", exempt=("close",), handle=("list_topics", "list_groups"))
class AdminClient(StorageAdminMixin, NoBrokerFeaturesMixin):
    """confluent-kafka's AdminClient over an eventlog directory."""

    def __init__(self, conf=None, **kwargs):
        c = _merge_conf(conf, kwargs, "AdminClient")
        try:
            _common.split_config(c, _ADMIN_KNOWN, _NETWORK_COMMON, {}, "AdminClient")
        except ValueError as e:
            raise _cfg_error(e) from None
        self._ref = _open(c, "AdminClient")
        self._closed = False

    def __len__(self):
        return 0

    def poll(self, timeout=None):
        return 0

    def close(self):
        """Release the log (idempotent); afterwards every call raises RuntimeError."""
        if not self._closed:
            self._closed = True
            self._ref.release()

    @property
    def _log(self):
        return self._ref.log

    # -- topics -----------------------------------------------------------------------------------
    def create_topics(self, new_topics, **kwargs):
        """Create topics; {name: future}. Options: operation_timeout, request_timeout, validate_only."""
        _checks.options(kwargs, {"operation_timeout", "request_timeout", "validate_only"})
        validate_only = kwargs.get("validate_only") or False
        _checks.non_empty_list(new_topics, "NewTopic objects", NewTopic)
        for t in new_topics:
            if t.config is not None and not isinstance(t.config, dict):
                raise TypeError(f"NewTopic {t.topic!r}: config must be a dict, got {type(t.config).__name__}")
        names = [t.topic for t in new_topics]
        if len(set(names)) != len(names):
            raise ValueError("duplicate topics not allowed")
        out = {}
        log = self._log
        for t in new_topics:
            n = t.num_partitions
            if n in (None, -1):
                n = len(t.replica_assignment) if t.replica_assignment else self._ref.target.num_partitions
            try:
                if not isinstance(n, int) or n < 1:
                    raise _exc(KafkaError.INVALID_PARTITIONS, "Number of partitions must be larger than 0.")
                try:
                    settings = _topic_configs.topic_settings(t.config)
                except ValueError as e:
                    raise _exc(KafkaError.INVALID_CONFIG, str(e)) from None
                if not _common.valid_topic(t.topic):
                    raise _exc(KafkaError.TOPIC_EXCEPTION, f"Topic name {t.topic!r} is illegal")
                if t.topic in log.topics():
                    raise _exc(KafkaError.TOPIC_ALREADY_EXISTS, f"Topic '{t.topic}' already exists.")
                if not validate_only:
                    try:
                        log.create_topic(t.topic, partitions=n, **settings)
                    except _el.EventLogError as e:
                        raise _from_el(e) from e
                out[t.topic] = _done(None)
            except KafkaException as e:
                out[t.topic] = _done(exc=e)
        return out

    def delete_topics(self, topics, **kwargs):
        """Delete topics; {name: future}. Options: operation_timeout, request_timeout."""
        _checks.options(kwargs, {"operation_timeout", "request_timeout"})
        _checks.non_empty_list(topics, "topic names (str)", str)
        out = {}
        for name in topics:
            try:
                self._log.delete_topic(name)
                out[name] = _done(None)
            except (_el.UnknownTopicError, _el.InvalidTopicError):
                out[name] = _done(exc=_exc(KafkaError.UNKNOWN_TOPIC_OR_PART,
                                           "Broker: Unknown topic or partition"))
        return out

    def create_partitions(self, new_partitions, **kwargs):
        """Grow topics; {name: future}. Options: operation_timeout, request_timeout, validate_only."""
        _checks.options(kwargs, {"operation_timeout", "request_timeout", "validate_only"})
        validate_only = kwargs.get("validate_only") or False
        _checks.non_empty_list(new_partitions, "NewPartitions objects", NewPartitions)
        out = {}
        for np in new_partitions:
            try:
                t = self._log.topic(np.topic)
                if np.new_total_count <= t.config.partitions:
                    raise _exc(KafkaError.INVALID_PARTITIONS,
                               f"Topic currently has {t.config.partitions} partitions, which is higher than "
                               f"or equal to the requested {np.new_total_count}.")
                if not validate_only:
                    t.add_partitions(np.new_total_count)
                out[np.topic] = _done(None)
            except KafkaException as e:
                out[np.topic] = _done(exc=e)
            except _el.EventLogError as e:
                out[np.topic] = _done(exc=_from_el(e))
        return out

    def list_topics(self, topic=None, timeout=-1):
        return _cluster_metadata(self._log, topic)

    def describe_topics(self, topics, **kwargs):
        """{name: future -> TopicDescription} for a TopicCollection."""
        _checks.options(kwargs, {"request_timeout", "include_authorized_operations"})
        _checks.topic_names(topics)
        names = topics.topic_names
        out = {}
        node = Node(0, self._log.path, 0)
        for name in names:
            try:
                n = self._log.topic(name).config.partitions
                out[name] = _done(TopicDescription(name, None, False, [
                    TopicPartitionInfo(i, node, [node], [node]) for i in range(n)]))
            except (_el.UnknownTopicError, _el.InvalidTopicError):
                out[name] = _done(exc=_exc(KafkaError.UNKNOWN_TOPIC_OR_PART, "Broker: Unknown topic or partition"))
        return out

    def describe_cluster(self, **kwargs):
        """future -> DescribeClusterResult: one node, the log directory."""
        _checks.options(kwargs, {"request_timeout", "include_authorized_operations"})
        node = Node(0, self._log.path, 0)
        return _done(DescribeClusterResult(node, [node], "eventlog"))

    def list_offsets(self, topic_partition_offsets, **kwargs):
        """{TopicPartition: future -> ListOffsetsResultInfo} for {TopicPartition: OffsetSpec}."""
        _checks.options(kwargs, {"request_timeout", "isolation_level"})
        if not isinstance(topic_partition_offsets, dict):
            raise TypeError("Expected topic_partition_offsets to be a dict of TopicPartition: OffsetSpec")
        seen = set()
        for tp, spec in topic_partition_offsets.items():
            _checks.topic_partition(tp, "the request")
            if not isinstance(spec, OffsetSpec):
                raise TypeError("Value of the dict must be of type 'OffsetSpec'")
            if (tp.topic, tp.partition) in seen:
                raise ValueError(f"Duplicate partition {tp.topic}[{tp.partition}] in the request")
            seen.add((tp.topic, tp.partition))
        return {tp: self._run(self._list_offset, tp, spec) for tp, spec in topic_partition_offsets.items()}

    def _list_offset(self, tp, spec):
        """One partition's ListOffsetsResultInfo; failures go to its future, as in librdkafka."""
        p = self._log.topic(tp.topic).partition(tp.partition)
        kind = spec.kind
        ts = -1
        if kind == "earliest":
            off = p.start_offset
        elif kind == "latest":
            off = p.end_offset
        elif kind == "max_timestamp":
            off, ts = _topic_configs.max_timestamp(p)
            return ListOffsetsResultInfo(off, ts, 0)
        elif kind == "timestamp":
            off = p.offset_for_time(spec.value)
            off = -1 if off is None else off
        else:
            raise _exc(KafkaError._INVALID_ARG, f"unsupported OffsetSpec kind {kind!r}")
        if 0 <= off < p.end_offset:
            recs = p.read(off, max_records=1)
            ts = recs[0].timestamp_ms if recs else -1
        return ListOffsetsResultInfo(off, ts, 0)

    # -- groups -----------------------------------------------------------------------------------
    def list_consumer_groups(self, **kwargs):
        """future -> ListConsumerGroupsResult. Options: request_timeout, states, types (sets)."""
        _checks.options(kwargs, {"request_timeout", "states", "types"})
        states = kwargs.get("states")
        _checks.states_and_types(states, kwargs.get("types"))
        valid = []
        for gid in self._log.groups():
            st = _state(self._log, gid)
            if states and st not in states:
                continue
            valid.append(ConsumerGroupListing(gid, False, st, ConsumerGroupType.CLASSIC))
        return _done(ListConsumerGroupsResult(valid, []))

    def describe_consumer_groups(self, group_ids, **kwargs):
        """{group id: future -> ConsumerGroupDescription}."""
        _checks.options(kwargs, {"request_timeout", "include_authorized_operations"})
        _checks.group_ids(group_ids)
        out = {}
        log = self._log
        node = Node(0, log.path, 0)
        for gid in group_ids:
            g = log.group(gid)
            members = [MemberDescription(
                m.member_id, m.client_id, m.host,
                MemberAssignment([TopicPartition(tp.topic, tp.partition) for tp in m.assignment]),
                m.group_instance_id) for m in g.members()]
            simple = _groups.group_protocol_type(log, gid) == ""
            out[gid] = _done(ConsumerGroupDescription(
                gid, simple, members, (g.assignor or "") if members else "", _state(log, gid), node))
        return out

    def list_groups(self, group=None, timeout=None):
        out = []
        for gid in ([group] if group else self._log.groups()):
            gm = GroupMetadata()
            gm.broker = BrokerMetadata(0, self._log.path, 0)
            gm.id = gid
            gm.state = _groups.group_state(self._log, gid)
            gm.protocol_type = _groups.group_protocol_type(self._log, gid)
            gm.protocol = self._log.group(gid).assignor or ""
            for m in self._log.group(gid).members():
                mm = GroupMember()
                mm.id, mm.client_id, mm.client_host = m.member_id, m.client_id, m.host
                gm.members.append(mm)
            out.append(gm)
        return out

    def list_consumer_group_offsets(self, list_consumer_group_offsets_request, **kwargs):
        """{group id: future -> ConsumerGroupTopicPartitions} of committed offsets."""
        _checks.options(kwargs, {"request_timeout", "require_stable"})
        _checks.group_offsets_request(list_consumer_group_offsets_request, altering=False)
        out = {}
        store = self._log.offset_store
        for req in list_consumer_group_offsets_request:
            if req.topic_partitions is None:
                entries = store.all_committed_metadata(req.group_id)
                parts = [TopicPartition(tp.topic, tp.partition, e.offset) for tp, e in sorted(entries.items())]
            else:
                got = store.committed_metadata(req.group_id, [_tp(p) for p in req.topic_partitions])
                parts = []
                for p in req.topic_partitions:
                    e = got.get(_tp(p))
                    parts.append(TopicPartition(p.topic, p.partition, OFFSET_INVALID if e is None else e.offset))
            out[req.group_id] = _done(ConsumerGroupTopicPartitions(req.group_id, parts))
        return out

    def alter_consumer_group_offsets(self, alter_consumer_group_offsets_request, **kwargs):
        """Set a group's committed offsets (the group must be empty); {group id: future}."""
        _checks.options(kwargs, {"request_timeout"})
        _checks.group_offsets_request(alter_consumer_group_offsets_request, altering=True)
        out = {}
        for req in alter_consumer_group_offsets_request:
            try:
                plan = {_tp(p): p.offset for p in req.topic_partitions}
                self._log.group(req.group_id).reset_offsets(plan)
                out[req.group_id] = _done(ConsumerGroupTopicPartitions(req.group_id, [
                    TopicPartition(tp.topic, tp.partition, off) for tp, off in sorted(plan.items())]))
            except _el.GroupNotEmptyError as e:
                out[req.group_id] = _done(exc=_exc(KafkaError.UNKNOWN_MEMBER_ID, str(e)))
            except _el.EventLogError as e:
                out[req.group_id] = _done(exc=_from_el(e))
        return out

    def delete_consumer_groups(self, group_ids, **kwargs):
        """Delete empty groups; {group id: future}."""
        _checks.options(kwargs, {"request_timeout"})
        _checks.group_ids(group_ids)
        out = {}
        for gid in group_ids:
            try:
                if gid not in self._log.groups():
                    raise _exc(KafkaError.GROUP_ID_NOT_FOUND, "Broker: The group id does not exist")
                self._log.group(gid).delete()
                out[gid] = _done(None)
            except KafkaException as e:
                out[gid] = _done(exc=e)
            except _el.EventLogError as e:
                out[gid] = _done(exc=_from_el(e))
        return out

    def _run(self, fn, *args):
        try:
            return _done(fn(*args))
        except KafkaException as e:
            return _done(exc=e)
        except _el.EventLogError as e:
            return _done(exc=_from_el(e))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
