"""kafka.admin.client: KafkaAdminClient over an eventlog directory."""
from __future__ import annotations

import collections

from eventlog import errors as _el
from eventlog.compat import _common
from eventlog.compat import _groups
from eventlog.compat import _topic_configs
from eventlog.compat.kafka import errors
from eventlog.compat.kafka._shared import _LEADER_EPOCH, _check_configs, _open, _translated
from eventlog.compat.kafka.errors import IllegalStateError, KafkaError
from eventlog.compat.kafka.producer.kafka import _PRODUCER_DEFAULTS
from eventlog.compat.kafka.structs import OffsetAndMetadata, TopicPartition
from eventlog.compat.kafka.admin._storage import StorageAdminMixin
from eventlog.compat.kafka.admin._types import (CreatePartitionsResponse, CreatePartitionsResult, ConsumerProtocolMemberAssignment, ConsumerProtocolMemberMetadata, GroupInformation,
                     MemberInformation, NewPartitions, NewTopic)


_ADMIN_DEFAULTS = {k: v for k, v in _PRODUCER_DEFAULTS.items()
                   if k not in ("key_serializer", "value_serializer", "partitioner", "linger_ms")}


class KafkaAdminClient(StorageAdminMixin):
    """kafka-python's KafkaAdminClient over an eventlog directory: topics and groups here;
    configs, records, partition offsets and log dirs in StorageAdminMixin."""

    DEFAULT_CONFIG = _ADMIN_DEFAULTS

    def __init__(self, **configs):
        self.config = _check_configs(configs, _ADMIN_DEFAULTS, "KafkaAdminClient")
        self._ref = _open(self.config["bootstrap_servers"], "KafkaAdminClient")
        self._closed = False

    def close(self):
        if not self._closed:
            self._closed = True
            self._ref.release()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    @property
    def _log(self):
        if self._closed:
            raise IllegalStateError("KafkaAdminClient is closed")
        return self._ref.log

    # topics
    def _new_topics(self, new_topics):
        if isinstance(new_topics, dict):
            return [NewTopic(n, o.get("num_partitions", -1), o.get("replication_factor", -1),
                             o.get("assignments"), o.get("configs")) for n, o in new_topics.items()]
        out = []
        for t in new_topics:
            out.append(NewTopic(t) if isinstance(t, str) else t)
        return out

    def create_topics(self, new_topics, timeout_ms=None, validate_only=False, raise_errors=True,
                      wait_for_metadata=False):
        log = self._log
        results = []
        first_error = None
        for t in self._new_topics(new_topics):
            err, msg = 0, None
            try:
                n = t.num_partitions
                if n in (None, -1):
                    n = len(t.replica_assignments) if t.replica_assignments else self._ref.target.num_partitions
                if not isinstance(n, int) or n < 1:
                    raise errors.InvalidPartitionsError(f"Number of partitions must be larger than 0: {n}")
                try:
                    settings = _topic_configs.topic_settings(t.topic_configs)
                except ValueError as e:
                    raise errors.InvalidConfigurationError(str(e)) from None
                if not _common.valid_topic(t.name):
                    raise errors.InvalidTopicError(f"Topic name {t.name!r} is not valid")
                if t.name in log.topics():
                    raise errors.TopicAlreadyExistsError(f"Topic '{t.name}' already exists.")
                if not validate_only:
                    with _translated():
                        log.create_topic(t.name, partitions=n, **settings)
            except errors.BrokerResponseError as e:
                err, msg = e.errno, str(e.args[0]) if e.args else None
                first_error = first_error or e
            results.append({"name": t.name, "error_code": err, "error_message": msg})
        if first_error is not None and raise_errors:
            raise first_error
        return {"topics": results}

    def delete_topics(self, topics, timeout_ms=None, raise_errors=True):
        log = self._log
        results = []
        first_error = None
        for name in topics:
            err = 0
            try:
                log.delete_topic(name)
            except (_el.UnknownTopicError, _el.InvalidTopicError):
                e = errors.UnknownTopicOrPartitionError(f"Topic {name!r} does not exist")
                err = e.errno
                first_error = first_error or e
            results.append({"name": name, "error_code": err, "error_message": None})
        if first_error is not None and raise_errors:
            raise first_error
        return {"topics": results}

    def list_topics(self):
        return list(self._log.topics())

    def describe_topics(self, topics=None):
        log = self._log
        names = log.topics() if topics is None else topics
        out = []
        for name in names:
            try:
                n = log.topic(name).config.partitions
            except (_el.UnknownTopicError, _el.InvalidTopicError):
                out.append({"error_code": 3, "name": name, "topic": name, "is_internal": False, "partitions": []})
                continue
            out.append({"error_code": 0, "name": name, "topic": name, "is_internal": False,
                        "partitions": [{"error_code": 0, "partition_index": i, "partition": i, "leader_id": 0,
                                        "leader": 0, "replica_nodes": [0], "replicas": [0], "isr_nodes": [0],
                                        "isr": [0], "offline_replicas": []} for i in range(n)]})
        return out

    def create_partitions(self, topic_partitions, timeout_ms=None, validate_only=False, raise_errors=True):
        log = self._log
        results = []
        for name, np in topic_partitions.items():
            total = np.total_count if isinstance(np, NewPartitions) else int(np)
            with _translated():
                t = log.topic(name)
                if total <= t.config.partitions:
                    e = errors.InvalidPartitionsError(
                        f"Topic currently has {t.config.partitions} partitions, which is higher than or "
                        f"equal to the requested {total}.")
                    if raise_errors:
                        raise e
                    results.append({"name": name, "error_code": e.errno, "error_message": str(e)})
                    continue
                if not validate_only:
                    t.add_partitions(total)
            results.append({"name": name, "error_code": 0, "error_message": None})
        return CreatePartitionsResponse(0, [CreatePartitionsResult(**r) for r in results])

    # groups (2.x names and shapes)
    def list_consumer_groups(self, broker_ids=None, states_filter=None):
        return [(g, "consumer") for g in self._log.groups()]

    def describe_consumer_groups(self, group_ids, group_coordinator_id=None, include_authorized_operations=False):
        log = self._log
        out = []
        for gid in group_ids:
            g = log.group(gid)
            members = []
            strategy = ""
            for m in g.members():
                by_topic = collections.defaultdict(list)
                for tp in m.assignment:
                    by_topic[tp.topic].append(tp.partition)
                members.append(MemberInformation(
                    m.member_id, m.client_id, m.host,
                    ConsumerProtocolMemberMetadata(0, sorted(m.topics), b""),
                    ConsumerProtocolMemberAssignment(0, sorted((t, sorted(p)) for t, p in by_topic.items()), b"")))
                strategy = g.assignor or ""
            state = _groups.group_state(log, gid)
            out.append(GroupInformation(0, gid, state, _groups.group_protocol_type(log, gid), strategy,
                                        members, None))
        return out

    def list_consumer_group_offsets(self, group_id, group_coordinator_id=None, partitions=None):
        log = self._log
        store = log.offset_store
        if partitions is None:
            entries = store.all_committed_metadata(group_id)
        else:
            entries = {tp: e for tp, e in store.committed_metadata(
                group_id, [TopicPartition(*tp) for tp in partitions]).items() if e is not None}
        return {TopicPartition(*tp): OffsetAndMetadata(
            e.offset, _groups.application_metadata(e.metadata) or "", _LEADER_EPOCH)
            for tp, e in sorted(entries.items())}

    def delete_consumer_groups(self, group_ids, group_coordinator_id=None):
        out = []
        for gid in group_ids:
            try:
                if gid not in self._log.groups():
                    raise errors.GroupIdNotFoundError(f"group {gid!r} does not exist")
                with _translated():
                    self._log.group(gid).delete()
                out.append((gid, errors.NoError))
            except KafkaError as e:
                out.append((gid, type(e)))
        return out

    # 3.x names and shapes
    def list_groups(self, broker_ids=None, states_filter=None, types_filter=None):
        return [{"group_id": g, "protocol_type": "consumer", "group_state": _groups.group_state(self._log, g),
                 "group_type": "classic"} for g in self._log.groups()]

    def describe_groups(self, group_ids, group_coordinator_id=None, include_authorized_operations=False):
        """{group id: dict} as kafka-python 3.x: the DescribeGroups response as dicts, with each
        member's `member_metadata` (subscription) and `member_assignment` decoded."""
        out = {}
        log = self._log
        for info in self.describe_consumer_groups(group_ids):
            live = {m.member_id: m for m in log.group(info.group).members()}
            # kafka-python's assignors send subscription version 0 (topics, user_data);
            # cooperative-sticky sends version 1, which adds the partitions the member owns
            cooperative = info.protocol == "cooperative-sticky"
            members = []
            for m in info.members:
                em = live.get(m.member_id)
                meta = {"topics": list(m.member_metadata.subscription), "user_data": ""}
                if cooperative:
                    owned = collections.defaultdict(list)
                    for tp in (em.owned if em is not None else ()):
                        owned[tp.topic].append(tp.partition)
                    meta["owned_partitions"] = [{"topic": tp, "partitions": sorted(ps)} for tp, ps in sorted(owned.items())]
                members.append({
                    "member_id": m.member_id, "group_instance_id": getattr(em, "group_instance_id", None),
                    "client_id": m.client_id, "client_host": m.client_host,
                    "member_metadata": meta,
                    "member_assignment": {
                        "assigned_partitions": [{"topic": tp, "partitions": ps}
                                                for tp, ps in m.member_assignment.assignment],
                        "user_data": ""}})
            error = None
            if info.state == "Dead":   # the broker's answer for a group it does not know (v6+)
                error = str(errors.GroupIdNotFoundError(f"Group {info.group} not found."))
            out[info.group] = {
                "group_id": info.group, "group_state": info.state, "protocol_type": info.protocol_type,
                "protocol_data": info.protocol, "error": error, "members": members,
                "authorized_operations": None}
        return out

    def list_group_offsets(self, group_specs):
        if isinstance(group_specs, str):
            group_specs = {group_specs: None}
        elif isinstance(group_specs, (list, tuple)):
            group_specs = {g: None for g in group_specs}
        return {g: self.list_consumer_group_offsets(g, partitions=p) for g, p in group_specs.items()}

    def delete_groups(self, group_ids, group_coordinator_id=None):
        """{group id: 'OK' or the error class's name}, as kafka-python 3.x."""
        return {g: ("OK" if e is errors.NoError else e.__name__) for g, e in self.delete_consumer_groups(group_ids)}

    def describe_cluster(self):
        return {"cluster_id": "eventlog", "controller_id": 0,
                "brokers": [{"node_id": 0, "host": self._ref.log.path, "port": 0, "rack": None}]}


# -- kafka-python's module layout, for eventlog.compat.patch("kafka") ---------------------------
