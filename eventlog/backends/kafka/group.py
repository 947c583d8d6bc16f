"""KafkaGroup: `log.group(id)` on a cluster, the directory ConsumerGroup's admin API over
Kafka's group coordinator (describe, list offsets, alter offsets, delete).

Rules it keeps: the same result types as a directory (`MemberDescription`, {TopicPartition:
offset}); offsets are reset or the group deleted only while it has no members
(GroupNotEmptyError otherwise, as in Kafka); nothing is cached between calls.
"""
from eventlog.backends.kafka._client import ck, map_error, unsupported
from eventlog.errors import GroupNotEmptyError, InvalidArgumentError, InvalidTypeError, UnknownTopicError
from eventlog.groups.admin import MemberDescription
from eventlog.record import TopicPartition


class KafkaGroup:
    """Admin view of a consumer group on a cluster: members, assignment, committed offsets,
    lag, reset_offsets, delete."""

    def __init__(self, log, group_id):
        if not isinstance(group_id, str):
            raise InvalidTypeError(f"group id must be a str, got {type(group_id).__name__}: {group_id!r}")
        self._log = log
        self.group_id = group_id

    def __repr__(self):
        return f"<KafkaGroup {self.group_id!r}>"

    def _describe(self):
        log = self._log
        fut = log.admin.describe_consumer_groups([self.group_id], request_timeout=log.timeout)
        return log.retrying(lambda: fut[self.group_id].result(timeout=log.timeout), f"describe group {self.group_id!r}")

    @property
    def state(self):
        """Kafka's group state name ("STABLE", "EMPTY", "PREPARING_REBALANCE", ...)."""
        return self._describe().state.name

    @property
    def assignor(self):
        return self._describe().partition_assignor or None

    @property
    def generation(self):
        return None   # not exposed by Kafka's DescribeGroups through confluent-kafka

    def assignment(self):
        """{member id: [TopicPartition]} of the current generation."""
        return {m.member_id: sorted(TopicPartition(t.topic, t.partition) for t in m.assignment.topic_partitions)
                for m in self._describe().members}

    def members(self):
        """The live members, sorted by id (a list of `MemberDescription`; pid, last_poll_ms and
        joined_ms are not known to a cluster and are -1 / 0)."""
        out = []
        for m in sorted(self._describe().members, key=lambda m: m.member_id):
            tps = sorted(TopicPartition(t.topic, t.partition) for t in m.assignment.topic_partitions)
            out.append(MemberDescription(
                member_id=m.member_id, group_instance_id=m.group_instance_id, client_id=m.client_id,
                host=m.host.lstrip("/"), pid=-1, topics=sorted({tp.topic for tp in tps}), pattern=None,
                assignment=tps, owned=tps, last_poll_ms=0, joined_ms=0, is_leader=False))
        return out

    def is_empty(self):
        """True if no member is running."""
        return not self._describe().members

    def committed(self):
        """{TopicPartition: committed offset} of every partition the group committed."""
        log = self._log
        req = ck().ConsumerGroupTopicPartitions(self.group_id)
        futs = log.admin.list_consumer_group_offsets([req], request_timeout=log.timeout)
        res = log.retrying(lambda: futs[self.group_id].result(timeout=log.timeout),
                            f"committed offsets of group {self.group_id!r}")
        return dict(sorted((TopicPartition(t.topic, t.partition), t.offset)
                           for t in res.topic_partitions if t.offset >= 0))

    def lag(self):
        """{TopicPartition: end offset - committed offset} for every committed partition."""
        out = {}
        for tp, off in self.committed().items():
            try:
                end = self._log.watermarks(tp)[1]
            except UnknownTopicError:
                continue
            out[tp] = max(0, end - off)
        return out

    def _require_empty(self, what):
        d = self._describe()
        if d.members:
            names = ", ".join(f"{m.member_id} ({m.client_id} on {m.host})" for m in d.members)
            raise GroupNotEmptyError(f"group {self.group_id!r} has live members: {names}; stop them "
                                     f"(close their consumers) before {what}")

    def reset_offsets(self, to, topics=None):
        """Set the committed offsets while no member runs. `to`: "earliest", "latest", a
        timestamp in ms, or {TopicPartition: offset}; `topics` as for a directory. Returns
        {TopicPartition: new offset}."""
        self._require_empty("resetting offsets")
        log = self._log
        if isinstance(to, dict):
            plan = {}
            for tp, o in to.items():
                if type(o) is not int or o < 0:
                    raise InvalidArgumentError(f"offset for {tp} must be an int >= 0, got {o!r}")
                plan[TopicPartition(*tp)] = o
        else:
            names = sorted({tp.topic for tp in self.committed()}) if topics is None else \
                ([topics] if isinstance(topics, str) else list(topics))
            tps = [TopicPartition(n, i) for n in names for i in range(log.partition_count(n))]
            if to in ("earliest", "latest"):
                plan = {tp: log.watermarks(tp)[0 if to == "earliest" else 1] for tp in tps}
            elif type(to) is int:
                found = log.offsets_for_times({tp: to for tp in tps})
                plan = {tp: (o if o is not None else log.watermarks(tp)[1]) for tp, o in found.items()}
            else:
                raise InvalidArgumentError(f"reset_offsets to must be 'earliest', 'latest', a timestamp in ms "
                                           f"or a dict {{TopicPartition: offset}}, got {to!r}")
        if not plan:
            return {}
        T = ck().TopicPartition
        req = ck().ConsumerGroupTopicPartitions(
            self.group_id, [T(tp.topic, tp.partition, o) for tp, o in sorted(plan.items())])
        futs = log.admin.alter_consumer_group_offsets([req], request_timeout=log.timeout)
        res = log.retrying(lambda: futs[self.group_id].result(timeout=log.timeout),
                            f"reset offsets of group {self.group_id!r}")
        for t in res.topic_partitions:
            if t.error is not None:
                raise map_error(t.error, f"reset offset of {t.topic}[{t.partition}]")
        return dict(sorted(plan.items()))

    def delete_offsets(self, topics):
        raise unsupported("ConsumerGroup.delete_offsets()", "Kafka's OffsetDelete, through "
                          "kafka-consumer-groups.sh --delete-offsets --group G --topic T")

    def delete(self):
        """Delete the group and its committed offsets (GroupNotEmptyError while members run)."""
        self._require_empty("deleting the group")
        log = self._log
        futs = log.admin.delete_consumer_groups([self.group_id], request_timeout=log.timeout)
        log.retrying(lambda: futs[self.group_id].result(timeout=log.timeout), f"delete group {self.group_id!r}")
