"""The facades on their own: where clients are routed, patching imports, configuration
checks, and the behaviour the mock cluster cannot show (admin topics and groups,
offsets_for_times, lost partitions, fenced commits). No real client needed."""
import sys
import time

import pytest

import eventlog
from eventlog import compat
from eventlog.compat import _common
from eventlog.compat import confluent_kafka as ck
from eventlog.compat import kafka as kp

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture
def url(tmp_path):
    return f"eventlog://{tmp_path / 'log'}"


def drain_k(c, n, timeout=10.0):
    out = []
    deadline = time.monotonic() + timeout
    while len(out) < n and time.monotonic() < deadline:
        for recs in c.poll(timeout_ms=100).values():
            out += recs
    return out


def drain_c(c, n, timeout=10.0):
    out = []
    deadline = time.monotonic() + timeout
    while len(out) < n and time.monotonic() < deadline:
        m = c.poll(0.1)
        if m is not None and m.error() is None:
            out.append(m)
    return out


# -- routing --------------------------------------------------------------------------------------

def test_url_forms(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    t = _common.parse_url(f"eventlog://{tmp_path}/a?num_partitions=3&auto_create_topics=false")
    assert (t.path, t.num_partitions, t.auto_create) == (str(tmp_path / "a"), 3, False)
    assert _common.parse_url("eventlog:rel/dir").path == str(tmp_path / "rel" / "dir")
    assert _common.parse_url("eventlog://localhost/abs").path == "/abs"
    assert _common.parse_url("localhost:9092") is None
    with pytest.raises(_common.NoLogConfigured, match="three slashes"):
        _common.parse_url("eventlog://somehost/x")
    with pytest.raises(_common.NoLogConfigured, match="unknown parameter"):
        _common.parse_url("eventlog:///x?colour=red")
    with pytest.raises(_common.NoLogConfigured, match="int >= 1"):
        _common.parse_url("eventlog:///x?num_partitions=0")


def test_servers_that_are_not_eventlog_go_to_use_log_then_env(tmp_path, monkeypatch):
    monkeypatch.delenv(_common.ENV_DIR, raising=False)
    with pytest.raises(kp.errors.NoBrokersAvailable, match="EVENTLOG_BOOTSTRAP_DIR"):
        kp.KafkaProducer(bootstrap_servers="kafka:9092")
    with pytest.raises(ck.KafkaException, match="eventlog:///abs/path"):
        ck.Producer({"bootstrap.servers": "kafka:9092"})
    monkeypatch.setenv(_common.ENV_DIR, str(tmp_path / "env"))
    with kp.KafkaProducer(bootstrap_servers=["kafka:9092", "kafka2:9092"]) as p:
        p.send("t", b"x").get(5)
    assert eventlog.open(tmp_path / "env").topics() == ["t"]
    with compat.use_log(str(tmp_path / "used"), num_partitions=4):
        p = ck.Producer({"bootstrap.servers": "localhost:9092"})
        p.produce("t2", b"x")
        assert p.flush(5) == 0
        p.close()
    log = eventlog.open(tmp_path / "used")
    assert log.topic("t2").config.partitions == 4   # auto-created with the route's default
    # an explicit eventlog URL wins over use_log and the environment
    with compat.use_log(str(tmp_path / "used")):
        with kp.KafkaProducer(bootstrap_servers=f"eventlog://{tmp_path / 'explicit'}") as p:
            p.send("t3", b"x").get(5)
    assert eventlog.open(tmp_path / "explicit").topics() == ["t3"]


def test_clients_of_one_directory_share_one_log_and_close_it(url):
    p1 = kp.KafkaProducer(bootstrap_servers=url)
    p2 = ck.Producer({"bootstrap.servers": url})
    assert p1._ref.log is p2._ref.log
    log = p1._ref.log
    p1.close()
    assert not log._closed
    p2.close()
    assert log._closed


def test_auto_create_off(tmp_path):
    u = f"eventlog://{tmp_path}?auto_create_topics=false"
    with kp.KafkaProducer(bootstrap_servers=u) as p:
        with pytest.raises(kp.errors.KafkaTimeoutError, match="auto-creation is off"):
            p.send("missing", b"x")
    p = ck.Producer({"bootstrap.servers": u})
    with pytest.raises(ck.KafkaException) as e:
        p.produce("missing", b"x")
    assert e.value.args[0].code() == ck.KafkaError._UNKNOWN_TOPIC
    p.close()


# -- patching -------------------------------------------------------------------------------------

def test_patch_and_undo_restore_sys_modules():
    before = {k: v for k, v in sys.modules.items() if k.split(".")[0] in ("kafka", "confluent_kafka")}
    with compat.patch("kafka", "confluent_kafka") as p:
        import confluent_kafka
        import kafka
        from confluent_kafka.admin import AdminClient, NewTopic  # noqa: F401
        from kafka.admin import KafkaAdminClient  # noqa: F401
        from kafka.errors import CommitFailedError, NoBrokersAvailable  # noqa: F401
        from kafka.structs import OffsetAndMetadata, TopicPartition
        assert kafka is kp and confluent_kafka is ck
        assert compat.patched("kafka") and compat.patched("confluent_kafka")
        assert TopicPartition is eventlog.TopicPartition
        assert OffsetAndMetadata(5, "m") == (5, "m", -1)       # 2.x two-field form still works
        assert OffsetAndMetadata(5, "m", 3).leader_epoch == 3    # 3.x form
        assert p.active
    after = {k: v for k, v in sys.modules.items() if k.split(".")[0] in ("kafka", "confluent_kafka")}
    assert after == before
    assert not compat.patched("kafka")


def test_patch_unknown_name():
    with pytest.raises(ValueError, match="known: kafka, confluent_kafka"):
        compat.patch("pulsar")


# -- configuration ------------------------------------------------------------------------------

def test_kafka_python_config_checks(url):
    with pytest.raises(kp.errors.KafkaConfigurationError, match="Unrecognized configs"):
        kp.KafkaConsumer(bootstrap_servers=url, colour="red")
    with pytest.raises(kp.errors.KafkaConfigurationError, match="without enable_idempotence"):
        kp.KafkaProducer(bootstrap_servers=url, transactional_id="tx", enable_idempotence=False)
    with pytest.raises(kp.errors.KafkaConfigurationError, match="Unrecognized isolation_level 'serializable'"):
        kp.KafkaConsumer(bootstrap_servers=url, isolation_level="serializable")
    with pytest.raises(kp.errors.KafkaConfigurationError, match="custom kafka-python assignors"):
        kp.KafkaConsumer(bootstrap_servers=url, group_id="g", partition_assignment_strategy=[object()])
    # network-only settings are accepted and ignored
    kp.KafkaProducer(bootstrap_servers=url, security_protocol="SSL", ssl_cafile="/nope", acks="all",
                     compression_type="gzip", retries=5, api_version=(2, 3)).close()


def test_confluent_config_checks(url):
    with pytest.raises(ck.KafkaException, match="requires `enable.idempotence=true`"):
        ck.Producer({"bootstrap.servers": url, "transactional.id": "tx", "enable.idempotence": False})
    with pytest.raises(ck.KafkaException, match="unknown configuration 'colour'"):
        ck.Producer({"bootstrap.servers": url, "colour": "red"})
    with pytest.raises(ck.KafkaException, match="partitioner"):
        ck.Producer({"bootstrap.servers": url, "partitioner": "alphabetical"})
    with pytest.raises(ValueError, match="group.id"):
        ck.Consumer({"bootstrap.servers": url})
    ck.Producer({"bootstrap.servers": url, "security.protocol": "SASL_SSL", "sasl.mechanisms": "PLAIN",
                 "ssl.ca.location": "/nope", "socket.keepalive.enable": True, "debug": "all",
                 "acks": "all", "enable.idempotence": True, "compression.type": "lz4"}).close()


def test_kafka_python_2x_callable_partitioner(url):
    with kp.KafkaProducer(bootstrap_servers=url, partitioner=lambda key, all_, avail: all_[-1]) as p:
        assert p.send("t", b"x", key=b"k").get(5).partition == 0
    log = eventlog.open(url[len("eventlog://"):])
    log.create_topic("t4", partitions=4)
    with kp.KafkaProducer(bootstrap_servers=url, partitioner=lambda key, all_, avail: all_[-1]) as p:
        assert p.send("t4", b"x", key=b"k").get(5).partition == 3


# -- what the mock cannot show --------------------------------------------------------------------

def test_offsets_for_times_both_facades(url):
    with kp.KafkaProducer(bootstrap_servers=url) as p:
        for ts in (1000, 2000, 3000):
            p.send("times", b"v", timestamp_ms=ts)
    tp = kp.TopicPartition("times", 0)
    c = kp.KafkaConsumer(bootstrap_servers=url)
    r = c.offsets_for_times({tp: 2500})
    assert (r[tp].offset, r[tp].timestamp) == (2, 3000)
    assert c.offsets_for_times({tp: 9999}) == {tp: None}
    with pytest.raises(ValueError):
        c.offsets_for_times({tp: -5})
    c.close()
    cc = ck.Consumer({"bootstrap.servers": url, "group.id": "g"})
    got = cc.offsets_for_times([ck.TopicPartition("times", 0, 1500), ck.TopicPartition("times", 0, 9999)])
    assert [p.offset for p in got] == [1, ck.OFFSET_END]
    cc.close()


def test_kafka_admin_topics(url):
    a = kp.KafkaAdminClient(bootstrap_servers=url)
    r = a.create_topics([kp.admin.NewTopic("orders", 3, 1, topic_configs={"retention.ms": "60000",
                                                                          "cleanup.policy": "compact"})])
    assert r["topics"][0]["error_code"] == 0
    log = eventlog.open(url[len("eventlog://"):])
    cfg = log.topic("orders").config
    assert (cfg.partitions, cfg.retention_ms, cfg.cleanup_policy) == (3, 60000, "compact")
    with pytest.raises(kp.errors.TopicAlreadyExistsError):
        a.create_topics([kp.admin.NewTopic("orders", 3, 1)])
    with pytest.raises(kp.errors.InvalidConfigurationError, match="unknown topic config"):
        a.create_topics([kp.admin.NewTopic("bad", 1, 1, topic_configs={"colour": "red"})])
    a.create_topics([kp.admin.NewTopic("dflt", -1, -1)])       # broker default partition count
    assert log.topic("dflt").config.partitions == 1
    assert sorted(a.list_topics()) == ["dflt", "orders"]
    a.create_partitions({"orders": kp.admin.NewPartitions(5)})
    assert log.topic("orders").config.partitions == 5
    a.delete_topics(["dflt"])
    with pytest.raises(kp.errors.UnknownTopicOrPartitionError):
        a.delete_topics(["dflt"])
    assert a.list_topics() == ["orders"]
    a.close()


def test_confluent_admin_topics(url):
    a = ck.admin.AdminClient({"bootstrap.servers": url})
    fs = a.create_topics([ck.admin.NewTopic("a", 2), ck.admin.NewTopic("b", 1, config={"max.message.bytes": "500"})])
    assert {k: f.result() for k, f in fs.items()} == {"a": None, "b": None}
    with pytest.raises(ck.KafkaException) as e:
        a.create_topics([ck.admin.NewTopic("a", 2)])["a"].result()
    assert e.value.args[0].code() == ck.KafkaError.TOPIC_ALREADY_EXISTS
    md = a.list_topics(timeout=5)
    assert sorted(md.topics) == ["a", "b"] and sorted(md.topics["a"].partitions) == [0, 1]
    a.create_partitions([ck.admin.NewPartitions("a", 4)])["a"].result()
    with pytest.raises(ck.KafkaException) as e:
        a.create_partitions([ck.admin.NewPartitions("a", 2)])["a"].result()
    assert e.value.args[0].code() == ck.KafkaError.INVALID_PARTITIONS
    a.delete_topics(["b"])["b"].result()
    with pytest.raises(ck.KafkaException) as e:
        a.delete_topics(["b"])["b"].result()
    assert e.value.args[0].code() == ck.KafkaError.UNKNOWN_TOPIC_OR_PART
    p = ck.Producer({"bootstrap.servers": url})
    p.produce("b", b"x")   # deleted; producing creates it anew (auto-creation, 1 partition)
    assert p.flush(5) == 0
    assert sorted(a.list_topics().topics["b"].partitions) == [0]
    p.close()
    a.close()


def test_group_admin_with_a_live_member(url):
    a = ck.admin.AdminClient({"bootstrap.servers": url})
    a.create_topics([ck.admin.NewTopic("t", 2)])["t"].result()
    c = ck.Consumer({"bootstrap.servers": url, "group.id": "billing", "client.id": "worker-1",
                     "enable.auto.commit": False})
    c.subscribe(["t"])
    deadline = time.monotonic() + 10
    while len(c.assignment()) < 2 and time.monotonic() < deadline:
        c.poll(0.1)
    c.commit(offsets=[ck.TopicPartition("t", 0, 0)], asynchronous=False)
    d = a.describe_consumer_groups(["billing"])["billing"].result()
    assert d.state == ck.ConsumerGroupState.STABLE
    assert [(m.client_id, sorted((p.topic, p.partition) for p in m.assignment.topic_partitions))
            for m in d.members] == [("worker-1", [("t", 0), ("t", 1)])]
    assert [g.group_id for g in a.list_consumer_groups().result().valid] == ["billing"]
    ka = kp.KafkaAdminClient(bootstrap_servers=url)
    (info,) = ka.describe_consumer_groups(["billing"])
    assert (info.group, info.state, len(info.members)) == ("billing", "Stable", 1)
    assert info.members[0].member_assignment.assignment == [("t", [0, 1])]
    assert ka.list_consumer_groups() == [("billing", "consumer")]
    assert ka.describe_consumer_groups(["nobody"])[0].state == "Dead"
    # an empty group's offsets can be changed and the group deleted; not while it has members
    r = a.delete_consumer_groups(["billing"])["billing"]
    with pytest.raises(ck.KafkaException):
        r.result()
    c.close()
    assert a.describe_consumer_groups(["billing"])["billing"].result().state == ck.ConsumerGroupState.EMPTY
    a.alter_consumer_group_offsets([ck.ConsumerGroupTopicPartitions("billing", [ck.TopicPartition("t", 1, 7)])])[
        "billing"].result()
    assert ka.list_consumer_group_offsets("billing") == {kp.TopicPartition("t", 0): (0, "", 0),
                                                         kp.TopicPartition("t", 1): (7, "", 0)}
    assert ka.delete_consumer_groups(["billing"]) == [("billing", kp.errors.NoError)]
    assert a.list_consumer_groups().result().valid == []
    ka.close()
    a.close()


def test_lost_partitions_and_fenced_commits(url):
    """A member that stops polling for max.poll.interval.ms leaves the group: its next poll
    reports _MAX_POLL_EXCEEDED, the one after the partitions lost, and a commit meanwhile is
    refused as in Kafka."""
    log = eventlog.open(url[len("eventlog://"):])
    log.create_topic("t", partitions=1)
    events = []
    c = ck.Consumer({"bootstrap.servers": url, "group.id": "g", "max.poll.interval.ms": 300,
                     "enable.auto.commit": False})
    c.subscribe(["t"], on_assign=lambda _c, ps: events.append(("assign", len(ps))),
                on_revoke=lambda _c, ps: events.append(("revoke", len(ps))),
                on_lost=lambda _c, ps: events.append(("lost", len(ps))))
    deadline = time.monotonic() + 10
    while not c.assignment() and time.monotonic() < deadline:
        c.poll(0.05)
    time.sleep(1.0)   # longer than max.poll.interval.ms: the member leaves on its own
    with pytest.raises(ck.KafkaException) as e:
        c.commit(offsets=[ck.TopicPartition("t", 0, 1)], asynchronous=False)
    assert e.value.args[0].code() == ck.KafkaError.ILLEGAL_GENERATION
    # as librdkafka: the first poll reports _MAX_POLL_EXCEEDED, the next runs on_lost
    m = c.poll(0.5)
    assert m.error().code() == ck.KafkaError._MAX_POLL_EXCEEDED
    assert events == [("assign", 1)]
    c.poll(0.5)
    assert events[:2] == [("assign", 1), ("lost", 1)]
    c.close()

    lost = []

    class Listener(kp.ConsumerRebalanceListener):
        def on_partitions_revoked(self, revoked):
            lost.append(("revoked", sorted(revoked)))

        def on_partitions_lost(self, parts):
            lost.append(("lost", sorted(parts)))

    k = kp.KafkaConsumer(bootstrap_servers=url, group_id="g2", max_poll_interval_ms=300, enable_auto_commit=False)
    k.subscribe(["t"], listener=Listener())
    deadline = time.monotonic() + 10
    while not k.assignment() and time.monotonic() < deadline:
        k.poll(timeout_ms=50)
    time.sleep(1.0)
    with pytest.raises(kp.errors.CommitFailedError):
        k.commit({kp.TopicPartition("t", 0): kp.OffsetAndMetadata(1, "", -1)})
    k.poll(timeout_ms=500)
    assert ("lost", [kp.TopicPartition("t", 0)]) in lost
    k.close()


def test_eof_again_after_new_records(url):
    c = ck.Consumer({"bootstrap.servers": url, "group.id": "g", "enable.partition.eof": True,
                     "auto.offset.reset": "earliest"})
    log = eventlog.open(url[len("eventlog://"):])
    log.create_topic("t", partitions=1)
    c.assign([ck.TopicPartition("t", 0)])
    m = c.poll(2)
    assert m.error().code() == ck.KafkaError._PARTITION_EOF and m.offset() == 0
    assert c.poll(0.2) is None            # one EOF per arrival at the end
    log.topic("t").partition(0).append(b"x")
    got = [c.poll(2), c.poll(2)]
    assert [(x.offset(), x.error() is None) for x in got] == [(0, True), (1, False)]
    c.close()


def test_kafka_iterator_positions_count_only_yielded_records(url):
    with kp.KafkaProducer(bootstrap_servers=url) as p:
        for i in range(10):
            p.send("t", b"v%d" % i)
    c = kp.KafkaConsumer(bootstrap_servers=url, group_id="g", auto_offset_reset="earliest",
                         enable_auto_commit=False, consumer_timeout_ms=500)
    tp = kp.TopicPartition("t", 0)
    c.assign([tp])
    it = iter(c)
    assert [next(it).offset for _ in range(3)] == [0, 1, 2]
    assert c.position(tp) == 3          # 10 fetched, 3 handed out
    c.commit()
    assert c.committed(tp) == 3
    c.seek(tp, 8)
    assert [r.offset for r in c] == [8, 9]
    c.close()


def test_confluent_delivery_report_errors_and_only_error_mode(url):
    got = []
    p = ck.Producer({"bootstrap.servers": url, "delivery.report.only.error": True,
                     "on_delivery": lambda e, m: got.append(e)})
    p.produce("t", b"x")
    assert p.flush(5) == 0 and got == []
    p.close()
    with pytest.raises(RuntimeError):
        p.produce("t", b"x")
