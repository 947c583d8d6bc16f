"""Differential scenarios for kafka-python: the real client on a real Kafka broker vs
eventlog.compat.kafka on a log directory."""
import json
import time

import pytest

from _scenarios import T0, exc_name, params, registry, run_pair, until

CLIENT = "kafka"
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
SCENARIOS, scenario = registry()


def producer(s, **kw):
    return s.closing(s.kafka.KafkaProducer(**s.kconf, **kw))


def consumer(s, *topics, **kw):
    kw.setdefault("auto_offset_reset", "earliest")
    return s.closing(s.kafka.KafkaConsumer(*topics, **s.kconf, **kw))


def group_consumer(s, *topics, **kw):
    """A consumer in a group, noticed gone 6 s after it leaves without a goodbye."""
    kw.setdefault("session_timeout_ms", 6000)
    kw.setdefault("heartbeat_interval_ms", 500)
    return consumer(s, *topics, **kw)


def subscribe(c, topics, **kw):
    """Subscribe once the consumer knows the topics' partitions: a kafka-python leader without
    them assigns nothing and does not rejoin until its next metadata refresh (minutes)."""
    until(lambda: all(c.partitions_for_topic(x) for x in topics), 10)
    c.subscribe(topics, **kw)


def drain(c, n, timeout=20.0, max_records=None):
    out = []
    deadline = time.monotonic() + timeout
    while len(out) < n and time.monotonic() < deadline:
        for _tp, recs in c.poll(timeout_ms=100, **({"max_records": max_records} if max_records else {})).items():
            out.extend(recs)
    return out


def rec(r):
    return (r.partition, r.offset, r.key, r.value)


def tps(s, t, n):
    return [s.kafka.TopicPartition(t, i) for i in range(n)]


# -- producing ----------------------------------------------------------------------------------

@scenario
def keyed_placement_is_murmur2(s):
    t = s.topic("keyed", 5)
    p = producer(s)
    keys = [b"user-%d" % i for i in range(40)] + [b"", b"\x00\xff", "ключ".encode()]
    return [(k, p.send(t, value=b"v", key=k).get(10)[1:4:2]) for k in keys]


@scenario
def keyed_placement_with_key_serializer(s):
    t = s.topic("keyser", 7)
    p = producer(s, key_serializer=str.encode)
    return [p.send(t, value=b"v", key=f"order-{i}").get(10).partition for i in range(30)]


@scenario
def metadata_fields(s):
    t = s.topic("md", 1)
    p = producer(s)
    md = p.send(t, value=b"12345", key=b"kk", timestamp_ms=T0 + 1).get(10)
    md2 = p.send(t, value=None, key=b"tomb").get(10)
    return [(m.topic, m.partition, m.topic_partition, m.offset, m.serialized_key_size,
             m.serialized_value_size) for m in (md, md2)]


@scenario
def headers_and_timestamps_round_trip(s):
    t = s.topic("hdr", 1)
    p = producer(s)
    p.send(t, b"v1", key=b"k", headers=[("a", b"1"), ("b", b""), ("a", b"2")], timestamp_ms=T0).get(10)
    p.send(t, b"v2", headers=[]).get(10)
    c = consumer(s)
    c.assign([s.kafka.TopicPartition(t, 0)])
    return [(r.key, r.value, r.headers, r.timestamp if r.offset == 0 else None, r.timestamp_type,
             r.serialized_key_size, r.serialized_value_size) for r in drain(c, 2)]


@scenario
def json_serializers_round_trip(s):
    t = s.topic("json", 2)
    p = producer(s, value_serializer=lambda v: json.dumps(v).encode(), key_serializer=str.encode)
    for i in range(6):
        p.send(t, {"n": i, "s": "é"}, key=f"k{i % 3}")
    p.flush()
    c = consumer(s, value_deserializer=lambda b: json.loads(b.decode()), key_deserializer=bytes.decode)
    c.assign(tps(s, t, 2))
    return sorted((r.partition, r.offset, r.key, json.dumps(r.value, sort_keys=True)) for r in drain(c, 6))


@scenario
def explicit_partition_and_tombstone(s):
    t = s.topic("explicit", 3)
    p = producer(s)
    a = p.send(t, b"x", partition=2).get(10)
    b = p.send(t, None, key=b"gone", partition=1).get(10)
    c = consumer(s)
    c.assign(tps(s, t, 3))
    return (a.partition, a.offset, b.partition, sorted(rec(r) for r in drain(c, 2)))


@scenario
def send_argument_errors(s):
    t = s.topic("errs", 2)
    p = producer(s)
    p.send(t, b"warm").get(10)
    return [
        exc_name(p.send, t),                                    # neither key nor value
        exc_name(p.send, t, b"v", partition=9),                 # no such partition
        exc_name(p.send, t, b"v", headers=[("a", "str")]),      # header value not bytes
        exc_name(p.send, t, b"v", headers={"a": b"1"}),         # headers not a list
        exc_name(p.send, t, "text"),                            # str value, no serializer
    ]


@scenario
def future_callbacks_and_errbacks(s):
    t = s.topic("cb", 2)
    p = producer(s)
    got = []
    for i in range(5):
        f = p.send(t, b"v%d" % i, key=b"k%d" % i)
        f.add_callback(lambda md, tag: got.append((tag, md.partition, md.offset)), tag=i)
        f.add_errback(lambda e: got.append(("error", type(e).__name__)))
    p.flush()
    until(lambda: len(got) == 5, 10)
    f = p.send(t, b"late", partition=0)
    f.get(10)
    f.add_callback(lambda md: got.append(("after-done", md.offset)))
    return sorted(got, key=repr), f.is_done, f.succeeded(), f.failed()


@scenario
def custom_partitioner(s):
    t = s.topic("custom", 4)

    class LengthPartitioner(s.kafka.partitioner.Partitioner):
        def partition(self, topic, key, serialized_key, value, serialized_value, cluster):
            parts = sorted(cluster.partitions_for_topic(topic))
            return parts[len(serialized_key or b"") % len(parts)]

    p = producer(s, partitioner=LengthPartitioner())
    return [p.send(t, b"v", key=b"k" * n).get(10).partition for n in range(9)]


# -- consuming with assign --------------------------------------------------------------------

@scenario
def assign_consumes_everything_in_order(s):
    t = s.topic("all", 3)
    p = producer(s)
    for i in range(30):
        p.send(t, b"v%d" % i, key=b"k%d" % (i % 7))
    p.flush()
    c = consumer(s)
    c.assign(tps(s, t, 3))
    recs = drain(c, 30)
    per = {}
    for r in recs:
        per.setdefault(r.partition, []).append(r.offset)
    return sorted(rec(r) for r in recs), {k: v == sorted(v) for k, v in per.items()}, sorted(c.assignment())


@scenario
def auto_offset_reset_latest(s):
    t = s.topic("latest", 1)
    p = producer(s)
    for i in range(5):
        p.send(t, b"old%d" % i)
    p.flush()
    c = consumer(s, auto_offset_reset="latest")
    tp = s.kafka.TopicPartition(t, 0)
    c.assign([tp])
    pos = c.position(tp)
    for i in range(3):
        p.send(t, b"new%d" % i)
    p.flush()
    return pos, [rec(r) for r in drain(c, 3)], c.position(tp)


@scenario
def seek_and_positions(s):
    t = s.topic("seek", 1)
    p = producer(s)
    for i in range(10):
        p.send(t, b"v%d" % i)
    p.flush()
    c = consumer(s)
    tp = s.kafka.TopicPartition(t, 0)
    c.assign([tp])
    c.seek(tp, 4)
    first = drain(c, 3, max_records=3)[:3]
    out = [[r.offset for r in first]]
    c.seek(tp, first[-1].offset + 1)
    out.append(c.position(tp))
    c.seek_to_beginning(tp)
    out.append(c.position(tp))
    c.seek_to_end()
    out.append(c.position(tp))
    c.seek(tp, 8)
    out.append([r.offset for r in drain(c, 2)])
    return out


@scenario
def poll_max_records(s):
    t = s.topic("maxrec", 1)
    p = producer(s)
    for i in range(10):
        p.send(t, b"v%d" % i)
    p.flush()
    c = consumer(s)
    tp = s.kafka.TopicPartition(t, 0)
    c.assign([tp])
    sizes, got = [], []
    deadline = time.monotonic() + 20
    while len(got) < 10 and time.monotonic() < deadline:
        recs = c.poll(timeout_ms=200, max_records=4).get(tp, [])
        if recs:
            sizes.append(len(recs))
            got += [r.offset for r in recs]
    return got, all(n <= 4 for n in sizes), c.position(tp)


@scenario
def pause_and_resume(s):
    t = s.topic("pause", 2)
    p = producer(s)
    for i in range(3):
        p.send(t, b"a%d" % i, partition=0)
        p.send(t, b"b%d" % i, partition=1)
    p.flush()
    c = consumer(s)
    p0, p1 = tps(s, t, 2)
    c.assign([p0, p1])
    c.pause(p0)
    first = drain(c, 3)
    extra = drain(c, 1, timeout=0.5)
    paused = sorted(c.paused())
    c.resume(p0)
    rest = drain(c, 3)
    return sorted(rec(r) for r in first), extra, paused, sorted(rec(r) for r in rest), sorted(c.paused())


@scenario
def log_offsets_api(s):
    t = s.topic("offs", 2)
    p = producer(s)
    for i in range(3):
        p.send(t, b"x", partition=0)
    p.send(t, b"y", partition=1)
    p.flush()
    c = consumer(s)
    parts = tps(s, t, 2)
    return (c.beginning_offsets(parts), c.end_offsets(parts), c.partitions_for_topic(t), t in c.topics())


@scenario
def offsets_for_times(s):
    t = s.topic("times", 2)
    p = producer(s)
    for ts in (1000, 2000, 3000):
        p.send(t, b"v", timestamp_ms=T0 + ts, partition=0)
    p.send(t, b"v", timestamp_ms=T0 + 5000, partition=1)
    p.flush()
    c = consumer(s)
    tp0, tp1 = tps(s, t, 2)
    ends = until(lambda: c.end_offsets([tp0, tp1]) == {tp0: 3, tp1: 1}, 10)
    out = []
    for ts in (0, 1000, 2500, 3000, 4000, 9999):
        r = c.offsets_for_times({tp0: T0 + ts, tp1: T0 + ts})
        out.append(sorted((tp.partition, None if v is None else (v.offset, v.timestamp)) for tp, v in r.items()))
    return ends, out, exc_name(c.offsets_for_times, {tp0: -5})


@scenario
def iterate_until_consumer_timeout(s):
    t = s.topic("iter", 2)
    p = producer(s)
    for i in range(8):
        p.send(t, b"v%d" % i, key=b"%d" % i)
    p.flush()
    c = consumer(s, consumer_timeout_ms=1500)
    c.assign(tps(s, t, 2))
    got = sorted(rec(r) for r in c)
    return got, sorted(c.position(tp) for tp in tps(s, t, 2))


@scenario
def subscribe_without_group_reads_all_partitions(s):
    t = s.topic("nogroup", 3)
    p = producer(s)
    for i in range(9):
        p.send(t, b"v%d" % i, partition=i % 3)
    p.flush()
    c = consumer(s, t)
    # as in subscribe(): wait until the real client knows the topic's partitions, else it may
    # assign itself nothing until its next metadata refresh
    until(lambda: c.partitions_for_topic(t), 10)
    got = drain(c, 9)
    return sorted(rec(r) for r in got), sorted(c.assignment()), c.subscription()


# -- groups and commits -----------------------------------------------------------------------

@scenario
def group_commit_and_resume(s):
    t = s.topic("resume", 2)
    g = s.group()
    p = producer(s)
    for i in range(6):
        p.send(t, b"v%d" % i, partition=i % 2)
    p.flush()
    c1 = group_consumer(s, group_id=g, enable_auto_commit=False)
    subscribe(c1, [t])
    first = drain(c1, 6)
    c1.commit()
    committed = {tp: c1.committed(tp) for tp in tps(s, t, 2)}
    c1.close()
    for i in range(2):
        p.send(t, b"new%d" % i, partition=i % 2)
    p.flush()
    c2 = group_consumer(s, group_id=g, enable_auto_commit=False)
    subscribe(c2, [t])
    second = drain(c2, 2)
    return sorted(rec(r) for r in first), committed, sorted(rec(r) for r in second)


@scenario
def commit_offsets_with_metadata_in_assign_mode(s):
    t = s.topic("meta", 2)
    g = s.group()
    c = consumer(s, group_id=g, enable_auto_commit=False)
    parts = tps(s, t, 2)
    c.assign(parts)
    before = c.committed(parts[0])
    c.commit({parts[0]: s.kafka.OffsetAndMetadata(5, "checkpoint", -1)})
    md = c.committed(parts[0], metadata=True)
    return before, c.committed(parts[0]), (md.offset, md.metadata), c.committed(parts[1])


@scenario
def commit_offsets_with_metadata_in_a_group(s):
    t = s.topic("metasub", 1)
    g = s.group()
    c = group_consumer(s, group_id=g, enable_auto_commit=False)
    subscribe(c, [t])
    until(lambda: c.poll(timeout_ms=100) == {} and c.assignment(), 20)
    tp = tps(s, t, 1)[0]
    out = []
    for md in ("checkpoint", ""):
        c.commit({tp: s.kafka.OffsetAndMetadata(3, md, -1)})
        m = c.committed(tp, metadata=True)
        out.append((m.offset, m.metadata))
    c.commit({tp: s.kafka.OffsetAndMetadata(4, "last", -1)})
    c.close()
    c2 = consumer(s, group_id=g, enable_auto_commit=False)
    m = c2.committed(tp, metadata=True)
    return out, (m.offset, m.metadata)


@scenario
def commit_async_calls_back(s):
    t = s.topic("async", 1)
    g = s.group()
    p = producer(s)
    for i in range(4):
        p.send(t, b"v%d" % i)
    p.flush()
    c = consumer(s, group_id=g, enable_auto_commit=False)
    tp = s.kafka.TopicPartition(t, 0)
    c.assign([tp])
    drain(c, 4)
    calls = []
    c.commit_async(callback=lambda offsets, resp: calls.append(
        (sorted((k, v.offset) for k, v in offsets.items()), isinstance(resp, Exception))))
    until(lambda: calls or c.poll(timeout_ms=50) and False, 10)
    return calls, c.committed(tp)


@scenario
def auto_commit_on_close(s):
    t = s.topic("autoc", 2)
    g = s.group()
    p = producer(s)
    for i in range(4):
        p.send(t, b"v%d" % i, partition=i % 2)
    p.flush()
    c = consumer(s, group_id=g)
    subscribe(c, [t])
    drain(c, 4)
    c.close()
    c2 = consumer(s, group_id=g, enable_auto_commit=False)
    return {tp: c2.committed(tp) for tp in tps(s, t, 2)}


@scenario
def auto_commit_interval_commits_consumed_positions(s):
    t = s.topic("autoint", 1)
    g = s.group()
    p = producer(s)
    for i in range(5):
        p.send(t, b"v%d" % i)
    p.flush()
    c = consumer(s, group_id=g, auto_commit_interval_ms=200)
    tp = s.kafka.TopicPartition(t, 0)
    c.assign([tp])
    got = drain(c, 5)
    time.sleep(0.4)
    committed = until(lambda: c.poll(timeout_ms=100) == {} and c.committed(tp), 10)
    return len(got), committed


@scenario
def rebalance_listener_single_member(s):
    t = s.topic("listen", 3)
    g = s.group()
    events = []

    class Listener(s.kafka.ConsumerRebalanceListener):
        def on_partitions_revoked(self, revoked):
            events.append(("revoked", sorted(tp.partition for tp in revoked)))

        def on_partitions_assigned(self, assigned):
            events.append(("assigned", sorted(tp.partition for tp in assigned)))

    c = consumer(s, group_id=g)
    subscribe(c, [t], listener=Listener())
    until(lambda: c.poll(timeout_ms=100) is not None and len(c.assignment()) == 3, 20)
    c.close()
    return events


@scenario
def two_members_split_partitions(s):
    t = s.topic("split", 4)
    g = s.group()
    p = producer(s)
    for i in range(8):
        p.send(t, b"v%d" % i, partition=i % 4)
    p.flush()
    a = group_consumer(s, group_id=g, enable_auto_commit=False)
    b = group_consumer(s, group_id=g, enable_auto_commit=False)
    # both know the topic's partitions before joining: a kafka-python leader without them
    # sends an empty assignment
    until(lambda: a.partitions_for_topic(t) and b.partitions_for_topic(t), 10)
    subscribe(a, [t])
    until(lambda: a.poll(timeout_ms=100) is not None and len(a.assignment()) == 4, 20)
    subscribe(b, [t])

    def balanced():
        a.poll(timeout_ms=50)
        b.poll(timeout_ms=50)
        return len(a.assignment()) == 2 and len(b.assignment()) == 2
    until(balanced, 45)
    aa, bb = a.assignment(), b.assignment()
    return sorted(aa | bb), not (aa & bb), sorted([len(aa), len(bb)])


@scenario
def pattern_subscription(s):
    t1 = s.topic("pat-a", 1)
    t2 = s.topic("pat-b", 2)
    s.topic("other", 1)
    g = s.group()
    c = consumer(s, group_id=g)
    c.subscribe(pattern=f"^{s.prefix}-pat-.*")
    until(lambda: c.poll(timeout_ms=100) is not None and len(c.assignment()) == 3, 20)
    return sorted(c.assignment()), sorted(c.subscription()), [t1, t2]


# -- errors and admin ---------------------------------------------------------------------------

@scenario
def state_errors(s):
    t = s.topic("state", 2)
    c = consumer(s)
    tp0, tp1 = tps(s, t, 2)
    out = [exc_name(c.commit), exc_name(c.committed, tp0), exc_name(c.poll)]
    c.assign([tp0])
    out += [exc_name(c.position, tp1), exc_name(c.seek, tp1, 0), exc_name(c.seek, tp0, -1),
            exc_name(c.subscribe, [t]), exc_name(c.poll, timeout_ms=-1)]
    c.close()
    out.append(exc_name(c.poll))
    return out


@scenario
def admin_lists_topics_and_group_offsets(s):
    t = s.topic("adm", 2)
    g = s.group()
    c = consumer(s, group_id=g, enable_auto_commit=False)
    parts = tps(s, t, 2)
    c.assign(parts)
    c.commit({parts[0]: s.kafka.OffsetAndMetadata(3, "", -1), parts[1]: s.kafka.OffsetAndMetadata(7, "", -1)})
    a = s.closing(s.kafka.admin.KafkaAdminClient(**s.kconf))
    if hasattr(a, "list_group_offsets"):
        offsets = a.list_group_offsets({g: parts})[g]
    else:
        offsets = a.list_consumer_group_offsets(g, partitions=parts)
    return t in a.list_topics(), sorted((tp, om.offset) for tp, om in offsets.items())


@scenario
def admin_topic_lifecycle(s):
    a = s.closing(s.kafka.admin.KafkaAdminClient(**s.kconf))
    name = f"{s.prefix}-life"
    a.create_topics([s.kafka.admin.NewTopic(name, 2, 1)])
    seen = until(lambda: name in a.list_topics(), 20, 0.1)
    dup = exc_name(a.create_topics, [s.kafka.admin.NewTopic(name, 2, 1)])
    desc = [(d["name"], d["error_code"], d["is_internal"],
             sorted((p["partition_index"], p["error_code"], p["replica_nodes"] == [p["leader_id"]])
                    for p in d["partitions"]))
            for d in a.describe_topics([name])]
    a.delete_topics([name])
    gone = until(lambda: name not in a.list_topics(), 20, 0.1)
    missing = exc_name(a.delete_topics, [f"{s.prefix}-never"])
    return seen, dup, desc, gone, missing


@scenario
def admin_describe_and_list_groups(s):
    t = s.topic("adm2", 2)
    g = s.group()
    c = group_consumer(s, group_id=g, client_id="billing-worker")
    subscribe(c, [t])
    until(lambda: c.poll(timeout_ms=100) is not None and len(c.assignment()) == 2, 20)
    a = s.closing(s.kafka.admin.KafkaAdminClient(**s.kconf))
    d = a.describe_groups([g])[g]
    listed = [x for x in a.list_groups() if x["group_id"] == g]
    members = [(m["client_id"], m.get("member_metadata"), m["member_assignment"]) for m in d["members"]]
    return ((d["group_id"], d["group_state"], d["protocol_type"], d["protocol_data"], d["error"]), members,
            listed, a.describe_groups([s.group("nobody")]))


@scenario
def admin_describe_and_alter_topic_configs(s):
    t = s.topic("cfg", 1, config={"retention.ms": "100000"})
    a = s.closing(s.kafka.admin.KafkaAdminClient(**s.kconf))
    CR, RT = s.kafka.admin.ConfigResource, s.kafka.admin.ConfigResourceType

    def desc(flt="modified", keys=None):
        d = a.describe_configs([CR(RT.TOPIC, t, keys)], config_filter=flt)["topic"][t]
        return {k: (v["value"], v["config_source"], v["config_type"], v["read_only"]) for k, v in d.items()}
    def desc_showing(expect):
        """desc() once it shows `expect` ({name: value, or None for unset}): a broker applies an
        altered config asynchronously (its metadata log), so a describe right after may be stale."""
        got = [None]

        def shown():
            got[0] = desc()
            return all(got[0].get(k, (None,))[0] == v for k, v in expect.items())
        until(shown, 15, 0.05)
        return got[0]
    out = [desc(), desc("all", {"retention.ms": None, "cleanup.policy": None, "retention.bytes": None})]
    out.append(a.alter_configs([CR(RT.TOPIC, t, {"retention.ms": "200000", "segment.ms": "3600000"})]))
    out.append(desc_showing({"retention.ms": "200000", "segment.ms": "3600000"}))
    out.append(a.alter_configs([CR(RT.TOPIC, t, {"cleanup.policy": (s.kafka.admin.AlterConfigOp.APPEND, "compact"),
                                                 "segment.ms": (s.kafka.admin.AlterConfigOp.DELETE, None)})]))
    out.append(desc_showing({"cleanup.policy": "delete,compact", "segment.ms": None}))  # the broker keeps a list's order
    out.append(desc("all", {"min.insync.replicas": None, "file.delete.delay.ms": None}))
    out.append(a.alter_configs([CR(RT.TOPIC, t, {"file.delete.delay.ms": "1234", "compression.type": "lz4"})]))
    out.append(desc_showing({"file.delete.delay.ms": "1234", "compression.type": "lz4"}))
    out.append(exc_name(a.alter_configs, [CR(RT.TOPIC, t, {"nope.x": "1"})]))
    missing = f"{s.prefix}-nocfg"
    r = a.alter_configs([CR(RT.TOPIC, missing, {"retention.ms": "1"})], raise_on_unknown=False)
    out.append(r["topic"][missing].split(":")[0])
    out.append(a.describe_configs([CR(RT.TOPIC, missing)]))
    return [o if not isinstance(o, dict) else json.loads(json.dumps(o).replace(s.prefix, "P")) for o in out]


@scenario
def admin_records_and_partition_offsets(s):
    t = s.topic("recs", 2)
    p = producer(s)
    for i in range(5):
        p.send(t, b"v%d" % i, partition=0, timestamp_ms=T0 + i * 1000)
    p.flush()
    a = s.closing(s.kafka.admin.KafkaAdminClient(**s.kconf))
    OS = s.kafka.admin.OffsetSpec
    tp0, tp1, tp7 = (s.kafka.TopicPartition(t, i) for i in (0, 1, 7))
    out = [a.list_partition_offsets({tp0: OS.EARLIEST, tp1: OS.LATEST}),
           a.list_partition_offsets({tp0: T0 + 2500, tp1: OS.MAX_TIMESTAMP}),
           a.list_partition_offsets({tp0: OS.MAX_TIMESTAMP, tp1: T0}),
           exc_name(a.list_partition_offsets, {tp7: OS.LATEST}, timeout_ms=3000),
           a.delete_records({tp0: 2}),
           exc_name(a.delete_records, {tp0: 99}),
           exc_name(a.delete_records, {tp7: 1}, timeout_ms=3000),
           a.list_partition_offsets({tp0: OS.EARLIEST, tp1: OS.EARLIEST})]
    d = a.describe_topic_partitions([t, f"{s.prefix}-nodtp"])
    shape = [(x["name"] == t, x["error_code"], x["topic_id"] is not None, x["is_internal"],
              [(q["partition_index"], q["error_code"], q["replica_nodes"] == [q["leader_id"]] == q["isr_nodes"],
                q["leader_epoch"], q["offline_replicas"], q["eligible_leader_replicas"]) for q in x["partitions"]])
             for x in d["topics"]]
    paged = a.describe_topic_partitions([t], response_partition_limit=1)
    dirs = a.describe_log_dirs(topic_partitions={t: [0, 1]})
    ld = dirs[0]["log_dirs"]
    sizes = {q["partition_index"]: q["partition_size"] > 0 for x in ld[0]["topics"] if x["name"] == t
             for q in x["partitions"]}
    return (out, shape, d["next_cursor"], len(paged["topics"][0]["partitions"]),
            paged["next_cursor"] and paged["next_cursor"]["partition_index"],
            len(dirs), len(ld), ld[0]["error_code"], sorted(ld[0]), sizes)


COMPACT = {"cleanup.policy": "compact", "segment.ms": "100", "min.cleanable.dirty.ratio": "0.01",
           "min.compaction.lag.ms": "0"}


@scenario
def compaction_keeps_the_last_record_per_key(s):
    # Records carry timestamps 1 ms apart; the last one is 60 s later, which rolls the segment
    # (segment.ms compares record timestamps), so everything before it may be cleaned.
    t = s.topic("compact", 1, config=COMPACT)
    p = producer(s)
    for i in range(30):
        p.send(t, b"v%d" % i, key=b"k%d" % (i % 4), timestamp_ms=T0 + i)
    p.send(t, None, key=b"k1", timestamp_ms=T0 + 30)          # a tombstone: kept (delete.retention.ms)
    p.flush()                                                 # the roll record in a batch of its own
    p.send(t, b"roll", key=b"last", timestamp_ms=T0 + 60_000)
    p.flush()
    tp = s.kafka.TopicPartition(t, 0)

    def read_all():
        c = consumer(s, consumer_timeout_ms=2000)
        try:
            c.assign([tp])
            out = []
            for r in c:
                out.append((r.offset, r.key, r.value))
                if r.offset == 31:
                    break
            return out
        finally:
            c.close()
    # (how much a first read sees is a race with the broker's cleaner: only the end state counts)
    return s.clean(t, lambda: (lambda r: len(r) < 32 and r)(read_all()))


# -- transactions (issue 15) ------------------------------------------------------------------------

def txn_producer(s, name="tx", **kw):
    return producer(s, transactional_id=f"{s.prefix}-{name}", **kw)


def exc_text(fn, *a, **k):
    try:
        fn(*a, **k)
    except Exception as e:
        return str(e)
    return ""


def until_seen(c, pred, timeout=20.0):
    """Poll `c` until a record satisfying `pred` came; return every record polled (a positive
    sync: what is absent then was not readable when a later record was)."""
    out = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not any(pred(r) for r in out):
        for _tp, recs in c.poll(timeout_ms=100).items():
            out.extend(recs)
    return out


@scenario
def transaction_abort_then_commit(s):
    """kafka-python's own transactional test, in our words: an aborted transaction is never
    read with read_committed; a committed one is, after the abort's marker; read_uncommitted
    reads all four records. Every send is waited for (as the suite does), so each record is
    written before the transaction ends."""
    t = s.topic("txmsgs", 1)
    tp = s.kafka.TopicPartition(t, 0)
    p = txn_producer(s)
    p.init_transactions()
    p.begin_transaction()
    mds = [p.send(t, partition=0, value=b"msg1").get(10), p.send(t, partition=0, value=b"msg2").get(10)]
    p.abort_transaction()
    p.begin_transaction()
    mds += [p.send(t, partition=0, value=b"msg3").get(10), p.send(t, partition=0, value=b"msg4").get(10)]
    p.commit_transaction()
    rc = consumer(s, isolation_level="read_committed", consumer_timeout_ms=10000)
    rc.assign([tp])
    seen = []
    for r in rc:
        seen.append((r.offset, r.value))
        if len(seen) == 2:
            break
    ru = consumer(s)
    ru.assign([tp])
    return ([(m.partition, m.offset) for m in mds], seen, rc.end_offsets([tp]),
            [rec(r) for r in drain(ru, 4)], ru.end_offsets([tp]), rc.highwater(tp))


@scenario
def transaction_open_holds_read_committed_back(s):
    """An open transaction's records and every record after them in their partition wait
    for the end of the transaction (the last stable offset); other partitions read on;
    read_uncommitted reads everything at once."""
    t = s.topic("txopen", 2)
    tp0, tp1 = (s.kafka.TopicPartition(t, i) for i in (0, 1))
    p = txn_producer(s)
    p.init_transactions()
    p.begin_transaction()
    a = p.send(t, b"in-txn", key=b"k", partition=0).get(10)
    plain = producer(s)
    plain.send(t, b"after", partition=0).get(10)
    plain.send(t, b"other", partition=1).get(10)
    rc = consumer(s, isolation_level="read_committed")
    rc.assign([tp0, tp1])
    first = until_seen(rc, lambda r: r.value == b"other")
    open_view = ([rec(r) for r in first], rc.end_offsets([tp0, tp1]), rc.position(tp0))
    rc.seek_to_end(tp0)
    at_end = rc.position(tp0)
    rc.seek(tp0, 0)
    ru = consumer(s)
    ru.assign([tp0, tp1])
    uncommitted = sorted(rec(r) for r in drain(ru, 3))
    p.commit_transaction()
    after = sorted(rec(r) for r in drain(rc, 2))
    return (a.offset, open_view, at_end, uncommitted, ru.end_offsets([tp0, tp1]), after,
            rc.end_offsets([tp0, tp1]), rc.position(tp0))


@scenario
def transaction_fenced_by_a_newer_producer(s):
    """A second producer with the same transactional_id fences the first and aborts its open
    transaction. The first finds out at its next commit, abort, send_offsets_to_transaction
    (ProducerFencedError) or record (InvalidProducerEpochError); from then on every
    transactional call fails naming the error state."""
    t = s.topic("txfence", 1)
    tp = s.kafka.TopicPartition(t, 0)
    out = []
    for n, how in enumerate(("commit", "abort", "offsets", "send")):
        p1 = txn_producer(s, "fence%d" % n)
        p1.init_transactions()
        p1.begin_transaction()
        p1.send(t, b"old-%s" % how.encode(), partition=0).get(10)
        p2 = txn_producer(s, "fence%d" % n)
        p2.init_transactions()
        if how == "commit":
            first = exc_name(p1.commit_transaction)
        elif how == "abort":
            first = exc_name(p1.abort_transaction)
        elif how == "offsets":
            first = exc_name(p1.send_offsets_to_transaction,
                             {tp: s.kafka.OffsetAndMetadata(1, "", 0)}, s.group("fence"))
        else:
            first = exc_name(p1.send(t, b"more", partition=0).get, 10)
            # kafka-python tries to bump the epoch before it settles in its error state
            until(lambda: "error state" in exc_text(p1.begin_transaction), 20, 0.05)
        later = [exc_name(p1.commit_transaction), exc_name(p1.abort_transaction),
                 exc_name(p1.begin_transaction), exc_name(p1.send, t, b"x", partition=0),
                 exc_name(p1.send_offsets_to_transaction, {tp: s.kafka.OffsetAndMetadata(1, "", 0)}, "g"),
                 "error state" in exc_text(p1.commit_transaction), exc_name(p1.init_transactions)]
        p2.begin_transaction()
        p2.send(t, b"new-%s" % how.encode(), partition=0).get(10)
        p2.commit_transaction()
        out.append((how, first, later))
    rc = consumer(s, isolation_level="read_committed")
    rc.assign([tp])
    return out, [rec(r) for r in drain(rc, 4)], rc.end_offsets([tp])


@scenario
def transaction_offsets_commit_with_it(s):
    """kafka-python's own offsets test, in our words, and a consume-transform-produce step:
    offsets sent to a committed transaction are committed with their metadata; those of an
    aborted one are not."""
    t_in, t_out = s.topic("txin", 2), s.topic("txout", 1)
    g = s.group("txg")
    tp0, tp1 = (s.kafka.TopicPartition(t_in, i) for i in (0, 1))
    plain = producer(s)
    for i in range(4):
        plain.send(t_in, b"in-%d" % i, partition=i % 2).get(10)
    p = txn_producer(s)
    p.init_transactions()
    p.begin_transaction()
    p.send(t_out, partition=0, value=b"msg1").get(10)
    p.send_offsets_to_transaction({tp0: s.kafka.OffsetAndMetadata(0, "metadata", 0)}, g)
    p.commit_transaction()
    p.begin_transaction()
    p.send_offsets_to_transaction({tp1: s.kafka.OffsetAndMetadata(1, "bad", 0)}, g)
    p.abort_transaction()
    a = s.closing(s.kafka.admin.KafkaAdminClient(**s.kconf))
    first = a.list_group_offsets(g)
    # consume-transform-produce with the consumer's group metadata
    c = consumer(s, group_id=g, enable_auto_commit=False)
    c.assign([tp0, tp1])
    c.seek(tp0, 0)
    c.seek(tp1, 0)
    got = drain(c, 4)
    p.begin_transaction()
    for r in got:
        p.send(t_out, r.value.upper(), partition=0)
    p.send_offsets_to_transaction({s.kafka.TopicPartition(r.topic, r.partition): s.kafka.OffsetAndMetadata(r.offset + 1, "", 0)
                                   for r in got}, c.group_metadata())
    p.commit_transaction()
    rc = consumer(s, isolation_level="read_committed")
    rc.assign([s.kafka.TopicPartition(t_out, 0)])
    return (first, sorted((tp.partition, c.committed(tp)) for tp in (tp0, tp1)),
            sorted(r.value for r in drain(rc, 5)))


@scenario
def transaction_keyed_placement_is_murmur2(s):
    t = s.topic("txkeyed", 5)
    p = txn_producer(s)
    p.init_transactions()
    p.begin_transaction()
    futs = [p.send(t, value=b"v", key=b"user-%d" % i) for i in range(30)]
    p.commit_transaction()
    return [f.is_done for f in futs], [f.get(10).partition for f in futs]


@scenario
def transactional_call_order_errors(s):
    """Each transactional call made out of order fails as kafka-python fails it."""
    t = s.topic("txorder", 1)
    g = s.group("txorder")
    om = {s.kafka.TopicPartition(t, 0): s.kafka.OffsetAndMetadata(0, "", 0)}
    p = txn_producer(s)
    out = [exc_text(p.begin_transaction).replace(s.prefix, "P"), exc_name(p.send, t, b"x"),
           exc_name(p.commit_transaction), exc_name(p.abort_transaction)]
    p.init_transactions()
    out += [exc_name(p.init_transactions), exc_text(p.send, t, b"x"), exc_text(p.commit_transaction).replace(s.prefix, "P"),
            exc_name(p.abort_transaction), exc_text(p.send_offsets_to_transaction, om, g)]
    p.begin_transaction()
    out += [exc_text(p.begin_transaction).replace(s.prefix, "P"), exc_name(p.send_offsets_to_transaction, om, 42),
            p.send(t, b"x", partition=0).get(10).offset, exc_name(p.commit_transaction),
            exc_name(p.commit_transaction)]
    p.begin_transaction()
    out.append(exc_name(p.commit_transaction))         # nothing sent: nothing to commit
    plain = producer(s)
    out += [exc_text(plain.init_transactions), exc_name(plain.begin_transaction),
            exc_name(plain.send_offsets_to_transaction, om, g)]
    out.append(exc_name(producer, s, transactional_id=f"{s.prefix}-x", enable_idempotence=False))
    out.append(exc_name(producer, s, transactional_id=f"{s.prefix}-x", acks=1))
    out.append(exc_name(consumer, s, isolation_level="serializable"))
    return out



@pytest.mark.parametrize("sc", params(SCENARIOS))
def test_kafka_python_facade_matches_real_client(sc, sides):
    run_pair(sc, sides)
