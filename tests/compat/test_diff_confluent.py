"""Differential scenarios for confluent-kafka: the real client on a real Kafka broker vs
eventlog.compat.confluent_kafka on a log directory."""
import time

import pytest

from _scenarios import T0, exc_name, params, registry, run_pair, until

CLIENT = "confluent_kafka"
SCENARIOS, scenario = registry()


def producer(s, **conf):
    return s.closing(s.ck.Producer({**s.cconf, **conf}))


def consumer(s, group, **conf):
    base = {"group.id": group, "auto.offset.reset": "earliest",
            # a member that leaves without a goodbye is noticed after this: keep it short
            "session.timeout.ms": 6000, "heartbeat.interval.ms": 200}
    base.update(conf)
    return s.closing(s.ck.Consumer({**s.cconf, **base}))


def drain(c, n, timeout=20.0):
    out = []
    deadline = time.monotonic() + timeout
    while len(out) < n and time.monotonic() < deadline:
        m = c.poll(0.1)
        if m is not None and m.error() is None:
            out.append(m)
    return out


def rec(m):
    return (m.partition(), m.offset(), m.key(), m.value())


def tpl(parts):
    return [(p.topic, p.partition, p.offset) for p in parts]


def fill(s, t, n, partitions=1, **kw):
    p = producer(s)
    for i in range(n):
        p.produce(t, b"v%d" % i, partition=i % partitions, **kw)
    assert p.flush(10) == 0
    return p


def wait_assigned(c, n, timeout=20.0):
    return until(lambda: c.poll(0.1) is None and len(c.assignment()) == n or len(c.assignment()) == n, timeout)


# -- producing ----------------------------------------------------------------------------------

def _placement(s, name="place", **conf):
    t = s.topic(name, 6)
    p = producer(s, **conf)
    got = []
    keys = [b"user-%d" % i for i in range(40)] + [b"\x00\xff", "ключ".encode()]
    for k in keys:
        p.produce(t, b"v", key=k, on_delivery=lambda e, m: got.append((m.key(), m.partition(), e)))
    p.flush(10)
    return sorted(got)


@scenario
def default_placement_is_consistent_random(s):
    return _placement(s)


@scenario
def murmur2_random_placement(s):
    return _placement(s, partitioner="murmur2_random")


@scenario
def consistent_and_fnv1a_placement(s):
    return _placement(s, "c", partitioner="consistent"), _placement(s, "f", partitioner="fnv1a")


@scenario
def delivery_reports_served_by_flush(s):
    t = s.topic("dr", 2)
    p = producer(s)
    got = []
    for i in range(6):
        p.produce(t, value=b"v%d" % i, key=b"k%d" % i, partition=i % 2,
                  on_delivery=lambda err, msg: got.append((err, msg.topic(), msg.partition(), msg.offset(),
                                                           msg.key(), msg.value(), msg.headers())))
    before = len(p)
    left = p.flush(10)
    return before, left, len(p), sorted(got, key=repr)


@scenario
def poll_serves_reports_and_counts_them(s):
    t = s.topic("drpoll", 1)
    got = []
    p = producer(s, on_delivery=lambda err, msg: got.append(msg.offset()))
    for i in range(3):
        p.produce(t, b"v%d" % i)
    served = 0
    deadline = time.monotonic() + 10
    while len(got) < 3 and time.monotonic() < deadline:
        served += p.poll(0.5)
    # one event per produce batch: the three messages travel in one batch on both sides
    return served, got, len(p), p.poll(0)


@scenario
def headers_timestamps_and_str_payloads(s):
    t = s.topic("hdr", 1)
    p = producer(s)
    p.produce(t, "text value", key="text key", headers=[("a", b"1"), ("b", "two"), ("a", None)],
              timestamp=T0)
    p.produce(t, b"v2", headers={"only": b"x"})
    p.produce(t, None, key=b"tombstone")
    p.flush(10)
    c = consumer(s, s.group())
    c.assign([s.ck.TopicPartition(t, 0, s.ck.OFFSET_BEGINNING)])
    return [(m.key(), m.value(), m.headers(), m.timestamp() if m.offset() == 0 else m.timestamp()[0], len(m))
            for m in drain(c, 3)]


@scenario
def produce_errors(s):
    t = s.topic("perr", 2)
    p = producer(s, **{"message.max.bytes": 2000})
    p.produce(t, b"warm")
    p.flush(10)
    p.list_topics(t, timeout=10)

    def code(fn, *a, **k):
        try:
            fn(*a, **k)
        except s.ck.KafkaException as e:
            return ("KafkaException", e.args[0].name())
        except Exception as e:
            return type(e).__name__
        return None
    return [code(p.produce, t, b"x", partition=7), code(p.produce, t, b"x" * 5000),
            code(p.produce, t, 123), code(p.produce, t, b"v", headers=[(1, b"x")])]


@scenario
def queue_full_raises_buffer_error(s):
    t = s.topic("qfull", 1)
    p = producer(s, **{"queue.buffering.max.messages": 5})
    out = []
    for i in range(7):
        try:
            p.produce(t, b"v%d" % i)
            out.append("ok")
        except BufferError:
            out.append("BufferError")
    p.flush(10)
    p.produce(t, b"after")
    return out, p.flush(10)


# -- consuming ------------------------------------------------------------------------------------

@scenario
def subscribe_consume_commit_resume(s):
    t = s.topic("resume", 3)
    g = s.group()
    fill(s, t, 9, partitions=3)
    c = consumer(s, g, **{"enable.auto.commit": False})
    c.subscribe([t])
    first = drain(c, 9)
    committed = tpl(c.commit(asynchronous=False))
    c.close()
    fill(s, t, 3, partitions=3)
    c2 = consumer(s, g, **{"enable.auto.commit": False})
    c2.subscribe([t])
    second = drain(c2, 3)
    return sorted(rec(m) for m in first), sorted(committed), sorted(rec(m) for m in second)


@scenario
def commit_message_and_offsets(s):
    t = s.topic("cmsg", 2)
    g = s.group()
    fill(s, t, 6, partitions=2)
    c = consumer(s, g, **{"enable.auto.commit": False})
    c.assign([s.ck.TopicPartition(t, 0), s.ck.TopicPartition(t, 1)])
    msgs = drain(c, 6)
    m = [x for x in msgs if x.partition() == 0][1]
    r1 = tpl(c.commit(message=m, asynchronous=False))
    r2 = tpl(c.commit(offsets=[s.ck.TopicPartition(t, 1, 2)], asynchronous=False))
    committed = tpl(c.committed([s.ck.TopicPartition(t, 0), s.ck.TopicPartition(t, 1)], timeout=10))
    return r1, r2, committed


def _commit_metadata(s, c, t):
    out = []
    for md in (None, "hello", "नमस्ते", "", None):
        parts = [s.ck.TopicPartition(t, 0, 1)] if md is None else [s.ck.TopicPartition(t, 0, 1, md)]
        c.commit(offsets=parts, asynchronous=False)
        got = c.committed([s.ck.TopicPartition(t, 0)], timeout=10)
        out.append((md, [(p.offset, p.metadata) for p in got]))
    return out


@scenario
def commit_metadata_assign_mode(s):
    # null metadata reads back as None, "" as "", text as given
    t = s.topic("cmeta", 1)
    c = consumer(s, s.group(), **{"enable.auto.commit": False})
    c.assign([s.ck.TopicPartition(t, 0)])
    return _commit_metadata(s, c, t)


@scenario
def commit_metadata_subscribed(s):
    # a group member's commits keep the application's metadata too
    t = s.topic("cmetasub", 1)
    g = s.group()
    c = consumer(s, g, **{"enable.auto.commit": False})
    c.subscribe([t])
    wait_assigned(c, 1)
    out = _commit_metadata(s, c, t)
    c.commit(offsets=[s.ck.TopicPartition(t, 0, 1, "last")], asynchronous=False)
    c.close()
    c2 = consumer(s, g, **{"enable.auto.commit": False})
    return out, [(p.offset, p.metadata) for p in c2.committed([s.ck.TopicPartition(t, 0)], timeout=10)]


@scenario
def commit_with_nothing_stored(s):
    t = s.topic("noff", 1)
    g = s.group()
    fill(s, t, 2)
    c = consumer(s, g, **{"enable.auto.commit": False})
    c.subscribe([t])

    def code():
        try:
            c.commit(asynchronous=False)
        except s.ck.KafkaException as e:
            return e.args[0].name()
        return None
    before = code()
    drain(c, 2)
    first = tpl(c.commit(asynchronous=False))
    again = code()
    return before, first, again


@scenario
def async_commit_reports_through_on_commit(s):
    t = s.topic("oncommit", 2)
    g = s.group()
    fill(s, t, 4, partitions=2)
    calls = []
    c = consumer(s, g, **{"enable.auto.commit": False,
                          "on_commit": lambda err, parts: calls.append((err and err.name(), sorted(tpl(parts))))})
    c.subscribe([t])
    drain(c, 4)
    assert c.commit() is None
    until(lambda: calls or c.poll(0.1) and False, 10)
    c.commit()
    until(lambda: len(calls) > 1 or c.poll(0.1) and False, 10)
    return calls


@scenario
def manual_offset_store(s):
    t = s.topic("store", 1)
    g = s.group()
    fill(s, t, 5)
    c = consumer(s, g, **{"enable.auto.commit": False, "enable.auto.offset.store": False})
    c.subscribe([t])
    msgs = drain(c, 5)
    c.store_offsets(message=msgs[2])
    r = tpl(c.commit(asynchronous=False))
    c.store_offsets(offsets=[s.ck.TopicPartition(t, 0, 4)])
    r2 = tpl(c.commit(asynchronous=False))
    return r, r2, tpl(c.committed([s.ck.TopicPartition(t, 0)], timeout=10))


@scenario
def store_offsets_refused_with_auto_store(s):
    t = s.topic("store2", 1)
    g = s.group()
    fill(s, t, 1)
    c = consumer(s, g)
    c.subscribe([t])
    m = drain(c, 1)[0]
    try:
        c.store_offsets(message=m)
    except s.ck.KafkaException as e:
        return e.args[0].name()
    return None


@scenario
def auto_commit_on_close(s):
    t = s.topic("autoclose", 2)
    g = s.group()
    fill(s, t, 4, partitions=2)
    c = consumer(s, g)
    c.subscribe([t])
    drain(c, 4)
    c.close()
    c2 = consumer(s, g)
    return tpl(c2.committed([s.ck.TopicPartition(t, 0), s.ck.TopicPartition(t, 1)], timeout=10))


@scenario
def close_revokes_then_commits_and_reports(s):
    t = s.topic("closecb", 2)
    g = s.group()
    fill(s, t, 4, partitions=2)
    calls = []
    c = consumer(s, g, on_commit=lambda err, parts: calls.append(("commit", err and err.name(), sorted(tpl(parts)))))
    c.subscribe([t], on_revoke=lambda cons, parts: calls.append(("revoke", sorted(tpl(parts)))))
    drain(c, 4)
    c.close()
    return calls


@scenario
def session_timeout_below_the_brokers_minimum_is_refused(s):
    # group.min.session.timeout.ms is 6000 on a default broker: the JoinGroup fails, poll
    # reports it (and again at each retry), the member never joins, the group stays unknown
    t = s.topic("sto", 1)
    fill(s, t, 1)
    g = s.group()
    c = consumer(s, g, **{"session.timeout.ms": 100})
    c.subscribe([t])
    m = until(lambda: c.poll(0.2), 10)
    seen = (m.error().name(), m.error().str(), m.timestamp(), m.topic(), c.assignment())
    committed = exc_name(c.commit, m)
    a = s.ck.admin.AdminClient(s.cconf)
    d = a.describe_consumer_groups([g])[g].result(10)
    c.unsubscribe()
    return seen, committed, d.state.name, len(d.members)


@scenario
def partition_eof_events(s):
    t = s.topic("eof", 2)
    g = s.group()
    fill(s, t, 3, partitions=1)
    c = consumer(s, g, **{"enable.partition.eof": True})
    c.subscribe([t])
    events = []
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and sum(1 for e in events if e[0] == "eof") < 2:
        m = c.poll(0.1)
        if m is None:
            continue
        if m.error() is not None:
            events.append(("eof", m.partition(), m.offset(), m.error().code() == s.ck.KafkaError._PARTITION_EOF,
                           m.timestamp(), m.error().str().replace("broker 1 ", "broker N ").replace("broker 0 ", "broker N ")))
        else:
            events.append(("msg", m.partition(), m.offset()))
    per = {p: [e for e in events if e[1] == p] for p in (0, 1)}
    return per


@scenario
def assign_with_offsets(s):
    t = s.topic("asg", 3)
    g = s.group()
    fill(s, t, 9, partitions=3)
    c = consumer(s, g, **{"auto.offset.reset": "latest"})
    c.assign([s.ck.TopicPartition(t, 0, 2), s.ck.TopicPartition(t, 1, s.ck.OFFSET_BEGINNING),
              s.ck.TopicPartition(t, 2, s.ck.OFFSET_END)])
    first = drain(c, 4)
    p = producer(s)
    p.produce(t, b"new", partition=2)
    p.flush(10)
    second = drain(c, 1)
    return sorted(rec(m) for m in first), [rec(m) for m in second], tpl(c.assignment())


@scenario
def incremental_assign_and_unassign(s):
    t = s.topic("incr", 3)
    g = s.group()
    fill(s, t, 6, partitions=3)
    c = consumer(s, g)
    c.incremental_assign([s.ck.TopicPartition(t, 0, 0)])
    a = sorted(rec(m) for m in drain(c, 2))
    c.incremental_assign([s.ck.TopicPartition(t, 2, 1)])
    b = sorted(rec(m) for m in drain(c, 1))
    c.incremental_unassign([s.ck.TopicPartition(t, 0)])
    after = tpl(c.assignment())
    try:
        c.incremental_assign([s.ck.TopicPartition(t, 2, 0)])
        dup = None
    except s.ck.KafkaException as e:
        dup = e.args[0].name()
    c.unassign()
    return a, b, after, dup, c.assignment(), c.poll(0.3)


@scenario
def seek_and_position(s):
    t = s.topic("seek", 1)
    g = s.group()
    fill(s, t, 10)
    c = consumer(s, g)
    tp = s.ck.TopicPartition(t, 0)
    c.assign([s.ck.TopicPartition(t, 0, 0)])
    out = [tpl(c.position([tp]))]
    drain(c, 3)
    out.append(tpl(c.position([tp])))
    c.seek(s.ck.TopicPartition(t, 0, 7))
    out.append(tpl(c.position([tp])))
    out.append([m.offset() for m in drain(c, 2)])
    out.append(tpl(c.position([tp])))
    try:
        c.seek(s.ck.TopicPartition(t, 5, 0))
    except s.ck.KafkaException as e:
        out.append(e.args[0].name())
    return out


@scenario
def pause_and_resume(s):
    t = s.topic("pause", 2)
    g = s.group()
    fill(s, t, 6, partitions=2)
    c = consumer(s, g)
    p0, p1 = s.ck.TopicPartition(t, 0), s.ck.TopicPartition(t, 1)
    c.assign([p0, p1])
    c.pause([p0])
    first = drain(c, 3)
    extra = drain(c, 1, timeout=0.5)
    c.resume([p0])
    rest = drain(c, 3)
    return sorted(rec(m) for m in first), extra, sorted(rec(m) for m in rest)


@scenario
def watermarks_and_committed_defaults(s):
    t = s.topic("wm", 2)
    g = s.group()
    fill(s, t, 5, partitions=1)
    c = consumer(s, g)
    return (c.get_watermark_offsets(s.ck.TopicPartition(t, 0), timeout=10),
            c.get_watermark_offsets(s.ck.TopicPartition(t, 1), timeout=10),
            tpl(c.committed([s.ck.TopicPartition(t, 0)], timeout=10)))


@scenario
def consume_batches(s):
    t = s.topic("batch", 1)
    g = s.group()
    fill(s, t, 12)
    c = consumer(s, g)
    c.assign([s.ck.TopicPartition(t, 0, 0)])
    got = []
    deadline = time.monotonic() + 20
    while len(got) < 12 and time.monotonic() < deadline:
        batch = c.consume(num_messages=5, timeout=0.5)
        assert len(batch) <= 5
        got += [m.offset() for m in batch if m.error() is None]
    return got


@scenario
def offsets_for_times(s):
    t = s.topic("times", 2)
    p = producer(s)
    for ts in (1000, 2000, 3000):
        p.produce(t, b"v", timestamp=T0 + ts, partition=0)
    p.produce(t, b"v", timestamp=T0 + 5000, partition=1)
    p.flush(10)
    c = consumer(s, s.group())
    # one partition once per call: librdkafka answers -1 for a partition listed twice
    return [tpl(c.offsets_for_times([s.ck.TopicPartition(t, 0, T0 + ts), s.ck.TopicPartition(t, 1, T0 + ts)], timeout=10))
            for ts in (0, 1000, 2500, 3000, 4000, 9999)]


@scenario
def assign_before_the_topic_exists(s):
    # librdkafka's assign() is local: partitions of a topic that does not exist yet are
    # assigned, calls that need the broker's answer fail (per call or per partition), and
    # the partitions are fetched once the topic is created
    t = f"{s.prefix}-late"
    c = consumer(s, s.group(), **{"enable.auto.offset.store": False, "enable.auto.commit": False,
                                  "topic.metadata.refresh.interval.ms": 500})
    c.assign([s.ck.TopicPartition(t, 0, s.ck.OFFSET_BEGINNING), s.ck.TopicPartition(t, 3)])

    def code(fn, *a, **k):
        try:
            return ("ok", fn(*a, **k))
        except s.ck.KafkaException as e:
            return ("error", e.args[0].name())
    out = [[(p.topic, p.partition) for p in c.assignment()],
           code(c.seek, s.ck.TopicPartition(t, 3, 5)),   # (not started: no fetch state yet)
           code(c.get_watermark_offsets, s.ck.TopicPartition(t, 0), timeout=5),
           code(c.get_watermark_offsets, s.ck.TopicPartition(t, 0), cached=True),
           code(lambda: tpl(c.offsets_for_times([s.ck.TopicPartition(t, 0, T0)], timeout=5))),
           code(c.store_offsets, offsets=[s.ck.TopicPartition(t, 3, 5)]),
           code(c.commit, offsets=[s.ck.TopicPartition(t, 0)], asynchronous=False),
           code(lambda: tpl(c.position([s.ck.TopicPartition(t, 0)])))]
    errors = [m.error().name() for m in (c.poll(0.2) for _ in range(5)) if m is not None and m.error()]
    out.append(errors)
    s.topic("late", 4)
    fill(s, t, 3)
    out.append([rec(m) for m in drain(c, 3, timeout=30)])
    r = c.offsets_for_times([s.ck.TopicPartition(t, 0, T0), s.ck.TopicPartition(t, 9, T0)], timeout=10)
    out.append([(p.partition, p.error.name() if p.error else None) for p in r])
    return out


# -- rebalancing ----------------------------------------------------------------------------------

@scenario
def rebalance_callbacks_single_member(s):
    t = s.topic("cbs", 3)
    g = s.group()
    events = []
    c = consumer(s, g)
    c.subscribe([t], on_assign=lambda cons, parts: events.append(("assign", tpl(parts))),
                on_revoke=lambda cons, parts: events.append(("revoke", tpl(parts))))
    wait_assigned(c, 3)
    c.close()
    return events


@scenario
def on_assign_sets_start_offsets(s):
    t = s.topic("onassign", 2)
    g = s.group()
    fill(s, t, 8, partitions=2)

    def on_assign(cons, parts):
        for p in parts:
            p.offset = 3 if p.partition == 0 else s.ck.OFFSET_END
        cons.assign(parts)

    c = consumer(s, g)
    c.subscribe([t], on_assign=on_assign)
    first = drain(c, 1)
    p = producer(s)
    p.produce(t, b"late", partition=1)
    p.flush(10)
    second = drain(c, 1)
    return [rec(m) for m in first], [rec(m) for m in second]


def _two_members(s, strategy):
    t = s.topic("two", 4)
    g = s.group()
    a = consumer(s, g, **{"partition.assignment.strategy": strategy})
    b = consumer(s, g, **{"partition.assignment.strategy": strategy})
    a.subscribe([t])
    wait_assigned(a, 4)
    b.subscribe([t])

    def balanced():
        a.poll(0.05)
        b.poll(0.05)
        return len(a.assignment()) == 2 and len(b.assignment()) == 2
    until(balanced, 30)
    aa, bb = set(tpl(a.assignment())), set(tpl(b.assignment()))
    b.close()
    until(lambda: a.poll(0.05) is None and len(a.assignment()) == 4 or len(a.assignment()) == 4, 30)
    return sorted(aa | bb), not (aa & bb), sorted([len(aa), len(bb)]), len(a.assignment())


@scenario
def two_members_eager_range(s):
    return _two_members(s, "range")


@scenario
def two_members_cooperative_sticky(s):
    return _two_members(s, "cooperative-sticky")


@scenario
def cooperative_resubscribe_assigns_only_new_partitions(s):
    t1 = s.topic("coop-a", 1)
    t2 = s.topic("coop-b", 1)
    fill(s, t1, 1)
    events = []
    c = consumer(s, s.group(), **{"partition.assignment.strategy": "cooperative-sticky",
                                   "enable.auto.commit": False})

    def cbs():
        return dict(on_assign=lambda cons, parts: events.append(("assign", tpl(parts))),
                    on_revoke=lambda cons, parts: events.append(("revoke", tpl(parts))),
                    on_lost=lambda cons, parts: events.append(("lost", tpl(parts))))
    c.subscribe([t1], **cbs())
    first = [rec(m) for m in drain(c, 1)]
    c.subscribe([t1, t2], **cbs())
    fill(s, t2, 1)
    second = [rec(m) for m in drain(c, 1)]
    both = sorted(tpl(c.assignment()))
    c.subscribe([t2], **cbs())              # t1's partition is revoked, t2's stays
    until(lambda: c.poll(0.1) is None and len(c.assignment()) == 1, 20)
    # (librdkafka also calls on_assign with an empty list after a cooperative revoke; eventlog
    # never does: a known difference, docs/compat.md)
    return first, second, both, sorted(tpl(c.assignment())), [e for e in events if e != ("assign", [])]


@scenario
def regex_subscription(s):
    t1 = s.topic("rx-a", 1)
    t2 = s.topic("rx-b", 2)
    s.topic("other", 1)
    g = s.group()
    c = consumer(s, g, **{"topic.metadata.refresh.interval.ms": 500})
    c.subscribe([f"^{s.prefix}-rx-.*"])
    wait_assigned(c, 3)
    return sorted(tpl(c.assignment())), [t1, t2]


# -- errors, metadata, admin ------------------------------------------------------------------------

@scenario
def consumer_state_errors(s):
    t = s.topic("cerr", 1)
    out = [exc_name(s.ck.Consumer, {**s.cconf})]
    c = consumer(s, s.group())
    c.close()
    out += [exc_name(c.poll, 0), exc_name(c.assignment)]
    out.append(exc_name(c.close))
    return out, t


@scenario
def list_topics_metadata(s):
    t = s.topic("meta", 3)
    p = producer(s)
    md = p.list_topics(timeout=10)
    one = p.list_topics(t, timeout=10)
    tm = md.topics[t]
    return (sorted(tm.partitions), tm.error, sorted(one.topics), [pm.id for pm in one.topics[t].partitions.values()])


@scenario
def admin_group_offsets(s):
    t = s.topic("adm", 2)
    g = s.group()
    fill(s, t, 4, partitions=2)
    c = consumer(s, g, **{"enable.auto.commit": False, "client.id": "billing-worker"})
    c.subscribe([t])
    drain(c, 4)
    c.commit(asynchronous=False)
    a = s.ck.admin.AdminClient(s.cconf)
    offsets = a.list_consumer_group_offsets([s.ck.ConsumerGroupTopicPartitions(g, [
        s.ck.TopicPartition(t, 0), s.ck.TopicPartition(t, 1)])])[g].result(10)
    return offsets.group_id, sorted(tpl(offsets.topic_partitions))


@scenario
def admin_describe_and_list_groups(s):
    t = s.topic("adm2", 2)
    g = s.group()
    c = consumer(s, g, **{"client.id": "billing-worker"})
    c.subscribe([t])
    wait_assigned(c, 2)
    a = s.ck.admin.AdminClient(s.cconf)
    desc = a.describe_consumer_groups([g])[g].result(10)
    listed = [x.group_id for x in a.list_consumer_groups().result(10).valid]
    members = [(m.client_id, sorted(tpl(m.assignment.topic_partitions))) for m in desc.members]
    return desc.group_id, desc.state.name, members, g in listed


@scenario
def admin_topic_lifecycle(s):
    a = s.ck.admin.AdminClient(s.cconf)
    name, other = f"{s.prefix}-life", f"{s.prefix}-never"

    def outcome(futures):
        out = {}
        for k, f in futures.items():
            try:
                out[k] = ("ok", f.result(30))
            except s.ck.KafkaException as e:
                out[k] = ("error", e.args[0].name())
        return out

    def listed():
        return name in a.list_topics(timeout=10).topics
    created = outcome(a.create_topics([s.ck.admin.NewTopic(name, 2, 1)]))
    seen = until(listed, 20, 0.1)
    dup = outcome(a.create_topics([s.ck.admin.NewTopic(name, 2, 1)]))
    bad = outcome(a.create_topics([s.ck.admin.NewTopic(f"{s.prefix}-zero", 0, 1)]))
    parts = sorted(a.list_topics(name, timeout=10).topics[name].partitions)
    deleted = outcome(a.delete_topics([name, other]))
    gone = until(lambda: not listed(), 20, 0.1)
    return created, seen, dup, bad, parts, deleted, gone


@scenario
def admin_describe_empty_and_unknown_groups(s):
    t = s.topic("adm3", 1)
    g = s.group()
    fill(s, t, 2)
    c = consumer(s, g, **{"enable.auto.commit": False})
    c.subscribe([t])
    drain(c, 2)
    c.commit(asynchronous=False)
    c.close()
    a = s.ck.admin.AdminClient(s.cconf)
    out = []
    simple = s.group("simple")           # offsets committed by an assign()-mode consumer only
    c = consumer(s, simple, **{"enable.auto.commit": False})
    c.assign([s.ck.TopicPartition(t, 0, 0)])
    c.commit(offsets=[s.ck.TopicPartition(t, 0, 1)], asynchronous=False)
    c.close()
    for gid in (g, s.group("nobody"), simple):
        try:
            d = a.describe_consumer_groups([gid])[gid].result(10)
            out.append((d.group_id, d.state.name, len(d.members), d.is_simple_consumer_group))
        except s.ck.KafkaException as e:
            out.append(("error", e.args[0].name()))
    return out


@scenario
def admin_topic_configs_keep_what_the_client_set(s):
    # values eventlog does not act on (gzip: eventlog compresses with zstd; file.delete.delay.ms)
    # describe as the client set them; an empty cleanup.policy is accepted; list order is kept
    ca = s.ck.admin
    a = ca.AdminClient(s.cconf)
    t1 = s.topic("cfg1", 1, config={"compression.type": "gzip"})
    t2 = s.topic("cfg2", 1, config={"compression.type": "gzip"})

    def desc(*topics):
        fs = a.describe_configs([ca.ConfigResource(ca.ResourceType.TOPIC, t) for t in topics])
        return [sorted((e.name, e.value, e.source) for e in f.result(10).values() if not e.is_default)
                for _r, f in sorted(fs.items(), key=lambda kv: kv[0].name)]
    def desc_showing(topics, expect):
        """desc(*topics) once each topic's non-default configs show `expect` (one {name: value,
        or None for unset} per topic): a broker applies an altered config asynchronously (its
        metadata log), so a describe right after may be stale."""
        got = [None]

        def shown():
            got[0] = desc(*topics)
            return all(dict((n, v) for n, v, _src in d).get(k) == v
                       for d, e in zip(got[0], expect) for k, v in e.items())
        until(shown, 15, 0.05)
        return got[0]
    out = [desc(t1, t2)]
    op = ca.AlterConfigOpType
    r1 = ca.ConfigResource(ca.ResourceType.TOPIC, t1, incremental_configs=[
        ca.ConfigEntry("cleanup.policy", "compact", incremental_operation=op.APPEND),
        ca.ConfigEntry("retention.ms", "10000", incremental_operation=op.SET)])
    r2 = ca.ConfigResource(ca.ResourceType.TOPIC, t2, incremental_configs=[
        ca.ConfigEntry("cleanup.policy", "delete", incremental_operation=op.SUBTRACT),
        ca.ConfigEntry("file.delete.delay.ms", "12345", incremental_operation=op.SET)])
    out.append([f.result(10) for f in a.incremental_alter_configs([r1, r2]).values()])
    out.append(desc_showing((t1, t2), ({"retention.ms": "10000"}, {"file.delete.delay.ms": "12345"})))
    r2 = ca.ConfigResource(ca.ResourceType.TOPIC, t2, incremental_configs=[
        ca.ConfigEntry("compression.type", None, incremental_operation=op.DELETE)])
    a.incremental_alter_configs([r2])[r2].result(10)
    out.append(desc_showing((t2,), ({"compression.type": None},)))
    r1 = ca.ConfigResource(ca.ResourceType.TOPIC, t1, set_config={"compression.type": "snappy",
                                                                   "file.delete.delay.ms": "777"})
    a.alter_configs([r1])[r1].result(10)                    # replaces every set config
    out.append(desc_showing((t1,), ({"compression.type": "snappy", "file.delete.delay.ms": "777"},)))
    return out


COMPACT = {"cleanup.policy": "compact", "segment.ms": "100", "min.cleanable.dirty.ratio": "0.01",
           "min.compaction.lag.ms": "0"}


@scenario
def compaction_keeps_the_last_record_per_key(s):
    # Records carry timestamps 1 ms apart; the last one is 60 s later, which rolls the segment
    # (segment.ms compares record timestamps), so everything before it may be cleaned.
    t = s.topic("compact", 1, config=COMPACT)
    p = producer(s)
    for i in range(30):
        p.produce(t, b"v%d" % i, key=b"k%d" % (i % 4), timestamp=T0 + i)
    p.produce(t, None, key=b"k1", timestamp=T0 + 30)          # a tombstone: kept (delete.retention.ms)
    assert p.flush(10) == 0                                   # the roll record in a batch of its own
    p.produce(t, b"roll", key=b"last", timestamp=T0 + 60_000)
    assert p.flush(10) == 0

    def read_all():
        c = s.ck.Consumer({**s.cconf, "group.id": s.group("reader"), "enable.auto.commit": False})
        try:
            c.assign([s.ck.TopicPartition(t, 0, s.ck.OFFSET_BEGINNING)])
            out = []
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and not (out and out[-1][0] == 31):
                m = c.poll(0.1)
                if m is not None and m.error() is None:
                    out.append((m.offset(), m.key(), m.value()))
            return out
        finally:
            c.close()
    # (how much a first read sees is a race with the broker's cleaner: only the end state counts)
    return s.clean(t, lambda: (lambda r: len(r) < 32 and r)(read_all()))


# -- transactions ----------------------------------------------------------------------------------

def txn_producer(s, txn_id, reports=None, **conf):
    def dr(err, msg):
        reports.append((err.name() if err else None, msg.partition(), msg.offset() if err is None else None,
                        msg.value()))
    if reports is not None:
        conf["on_delivery"] = dr
    p = producer(s, **{"transactional.id": f"{s.prefix}-{txn_id}", **conf})
    p.init_transactions(30)
    return p


def read_to_eof(s, t, partitions, isolation=None, timeout=20.0):
    """(values, {partition: EOF offset}) a fresh consumer with `isolation` (None: the client's
    default) reads from the start of `t` until every partition reports EOF."""
    conf = {"enable.partition.eof": True, "enable.auto.commit": False}
    if isolation is not None:
        conf["isolation.level"] = isolation
    c = consumer(s, s.group("reader"), **conf)
    c.assign([s.ck.TopicPartition(t, p, s.ck.OFFSET_BEGINNING) for p in range(partitions)])
    values, eof = [], {}
    deadline = time.monotonic() + timeout
    while len(eof) < partitions and time.monotonic() < deadline:
        m = c.poll(0.1)
        if m is None:
            continue
        if m.error() is None:
            values.append(m.value())
        elif m.error().code() == s.ck.KafkaError._PARTITION_EOF:
            eof[m.partition()] = m.offset()
    c.close()
    return sorted(values), eof


def txn_error(fn, *a):
    """What a transactional call raises: (code name, retriable, fatal, txn_requires_abort)."""
    try:
        fn(*a)
    except Exception as e:
        err = e.args[0] if e.args else None
        if not hasattr(err, "txn_requires_abort"):
            return type(e).__name__
        return err.name(), err.retriable(), err.fatal(), err.txn_requires_abort()
    return None


@scenario
def txn_state_errors(s):
    p = producer(s, **{"transactional.id": f"{s.prefix}-states"})
    before = [txn_error(p.begin_transaction), txn_error(p.commit_transaction, 10),
              txn_error(p.abort_transaction, 10)]
    p.init_transactions(30)
    ready = [txn_error(p.init_transactions, 10), txn_error(p.commit_transaction, 10),
             txn_error(p.abort_transaction, 10), txn_error(p.produce, s.topic("st", 1), b"x")]
    p.begin_transaction()
    return before, ready, txn_error(p.begin_transaction), txn_error(p.abort_transaction, 10)


@scenario
def txn_commit_reports_and_read_committed(s):
    t = s.topic("tc", 2)
    reports = []
    p = txn_producer(s, "commit", reports)
    p.begin_transaction()
    for i in range(5):
        p.produce(t, b"c%d" % i, partition=i % 2)
    p.commit_transaction(30)
    served_by_commit = sorted(reports, key=repr)
    # 3 records + the commit marker in partition 0, 2 + marker in partition 1
    return served_by_commit, read_to_eof(s, t, 2), read_to_eof(s, t, 2, "read_uncommitted")


@scenario
def txn_abort_hides_written_records_and_purges_buffered_ones(s):
    t = s.topic("ta", 1)
    reports = []
    p = txn_producer(s, "abort", reports)
    p.begin_transaction()
    p.produce(t, b"written-1")
    p.produce(t, b"written-2")
    assert p.flush(30) == 0
    flushed = list(reports)
    p.abort_transaction(30)
    p.begin_transaction()
    p.produce(t, b"kept")
    p.commit_transaction(30)
    return flushed, reports[len(flushed):], read_to_eof(s, t, 1), read_to_eof(s, t, 1, "read_uncommitted")


@scenario
def txn_open_transaction_is_invisible_to_read_committed(s):
    t = s.topic("open", 1)
    plain = producer(s)
    plain.produce(t, b"before")
    assert plain.flush(30) == 0
    p = txn_producer(s, "open")
    p.begin_transaction()
    p.produce(t, b"pending-1")
    p.produce(t, b"pending-2")
    assert p.flush(30) == 0
    c = consumer(s, s.group("wm"))
    marks = c.get_watermark_offsets(s.ck.TopicPartition(t, 0), timeout=10)
    # the client's default isolation level is read_committed: it stops at the open transaction
    during = read_to_eof(s, t, 1), read_to_eof(s, t, 1, "read_committed"), read_to_eof(s, t, 1, "read_uncommitted")
    p.commit_transaction(30)
    return marks, during, read_to_eof(s, t, 1)


@scenario
def txn_a_second_producer_with_the_same_id_fences_the_first(s):
    t = s.topic("fence", 1)
    first = txn_producer(s, "fence")
    first.begin_transaction()
    first.produce(t, b"zombie")
    assert first.flush(30) == 0
    second = txn_producer(s, "fence")
    fenced = [txn_error(first.commit_transaction, 10), txn_error(first.produce, t, b"more"),
              txn_error(first.begin_transaction), txn_error(first.abort_transaction, 10)]
    second.begin_transaction()
    second.produce(t, b"winner")
    second.commit_transaction(30)
    return fenced, read_to_eof(s, t, 1)[0]


@scenario
def txn_an_empty_transaction_ends_without_the_coordinator(s):
    t = s.topic("empty", 1)
    first = txn_producer(s, "empty")
    first.begin_transaction()
    txn_producer(s, "empty")               # fences `first`, which has sent nothing yet
    empty = [txn_error(first.commit_transaction, 10), txn_error(first.begin_transaction),
             txn_error(first.abort_transaction, 10), txn_error(first.begin_transaction)]
    first.produce(t, b"late")
    return empty, txn_error(first.flush, 10), first.flush(10), txn_error(first.commit_transaction, 10)


@scenario
def txn_offsets_commit_with_the_transaction_only(s):
    t_in = s.topic("in", 1)
    t_out = s.topic("out", 1)
    fill(s, t_in, 4)
    g = s.group("eos")
    c = consumer(s, g, **{"enable.auto.commit": False})
    c.assign([s.ck.TopicPartition(t_in, 0, s.ck.OFFSET_BEGINNING)])
    got = drain(c, 4)
    p = txn_producer(s, "eos")

    def cycle(upto, commit):
        p.begin_transaction()
        for m in got[:upto]:
            p.produce(t_out, m.value().upper())
        p.send_offsets_to_transaction([s.ck.TopicPartition(t_in, 0, upto)], c.consumer_group_metadata())
        (p.commit_transaction if commit else p.abort_transaction)(30)
        return c.committed([s.ck.TopicPartition(t_in, 0)], timeout=10)[0].offset

    aborted = cycle(3, False)
    committed = cycle(2, True)
    args = (txn_error(p.send_offsets_to_transaction, [s.ck.TopicPartition(t_in, 0, 1)], "not metadata"),)
    return aborted, committed, read_to_eof(s, t_out, 1)[0], args


@scenario
def txn_a_record_the_topic_refuses_makes_the_transaction_abortable(s):
    t = s.topic("big", 1, config={"max.message.bytes": "2000"})
    reports = []
    p = txn_producer(s, "big", reports)
    p.begin_transaction()
    p.produce(t, b"x" * 5000)
    failed = txn_error(p.commit_transaction, 30)
    then = [txn_error(p.begin_transaction), txn_error(p.produce, t, b"y")]
    p.abort_transaction(30)
    # (the real client's next transaction on this producer then fails with
    # OUT_OF_ORDER_SEQUENCE_NUMBER, a librdkafka sequence quirk after the broker refused a
    # batch: not mirrored, so not compared)
    return failed, [r[0] for r in reports], then, read_to_eof(s, t, 1)[0]


@pytest.mark.parametrize("sc", params(SCENARIOS))
def test_confluent_kafka_facade_matches_real_client(sc, sides):
    run_pair(sc, sides)
