"""confluent-kafka behaviour the facade now mirrors (issue 13 items 3 and 4), checked against
what confluent-kafka 2.x documents and does: serializing clients with SerializationContext and
their error types, the closed guard, argument checks, delivery-report errors, produce_batch,
store_offsets codes, commit metadata, and the admin calls over topic settings."""
import time

import pytest

from eventlog.compat import confluent_kafka as ck
from eventlog.compat.confluent_kafka import admin as ca
from eventlog.compat.confluent_kafka.error import (ConsumeError, KeyDeserializationError,
                                                   ValueSerializationError)
from eventlog.compat.confluent_kafka.serialization import (MessageField, SerializationContext,
                                                           StringDeserializer, StringSerializer)


@pytest.fixture
def url(tmp_path):
    return f"eventlog://{tmp_path / 'log'}"


def poll_until(c, pred, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        m = c.poll(0.1)
        if m is not None and pred(m):
            return m
    raise AssertionError("no matching message before the deadline")


# -- serializing clients ----------------------------------------------------------------------------

def test_serializers_get_a_context_and_failures_raise_the_serialization_errors(url):
    seen = []

    def key_ser(obj, ctx):
        seen.append((ctx.topic, ctx.field))
        return StringSerializer()(obj, ctx)

    p = ck.SerializingProducer({"bootstrap.servers": url, "key.serializer": key_ser,
                                "value.serializer": StringSerializer()})
    p.produce("t", key="k", value="v")
    assert seen == [("t", MessageField.KEY)]
    with pytest.raises(ValueSerializationError) as e:
        p.produce("t", key="k", value=b"not a str")
    assert e.value.code == ck.KafkaError._VALUE_SERIALIZATION
    assert p.flush(5) == 0
    p.close()

    ctxs = []

    def key_des(data, ctx):
        ctxs.append((type(ctx), ctx.topic, ctx.field))
        if data == b"bad":
            raise ValueError("undecodable")
        return data.decode()

    c = ck.DeserializingConsumer({"bootstrap.servers": url, "group.id": "g", "auto.offset.reset": "earliest",
                                  "key.deserializer": key_des, "value.deserializer": StringDeserializer(),
                                  "enable.partition.eof": True})
    c.subscribe(["t"])
    m = poll_until(c, lambda m: True)
    assert (m.key(), m.value()) == ("k", "v")
    assert ctxs[0] == (SerializationContext, "t", MessageField.KEY)
    # a consumer error event is raised as ConsumeError, not returned
    with pytest.raises(ConsumeError) as e:
        poll_until(c, lambda m: True)
    assert e.value.code == ck.KafkaError._PARTITION_EOF
    assert e.value.kafka_message.error().code() == ck.KafkaError._PARTITION_EOF
    bad = ck.Producer({"bootstrap.servers": url})
    bad.produce("t", b"v2", key=b"bad")
    bad.flush(5)
    bad.close()
    with pytest.raises(KeyDeserializationError) as e:
        poll_until(c, lambda m: True)
    assert e.value.kafka_message.key() == b"bad"
    assert e.value.code == ck.KafkaError._KEY_DESERIALIZATION
    c.close()


# -- results and argument shapes -------------------------------------------------------------------

def test_missing_config_closed_and_uninitialised_clients(url):
    with pytest.raises(TypeError, match="expected configuration dict"):
        ck.Producer()
    with pytest.raises(TypeError):
        ca.AdminClient()
    with ck.Producer({"bootstrap.servers": url}) as p:
        p.produce("t", b"x")
    assert len(p) == 0
    with pytest.raises(RuntimeError, match="Producer has been closed"):
        p.produce("t", b"x")
    assert p.close() is True
    p2 = ck.Producer({"bootstrap.servers": url})
    assert p2.close() is True

    with ca.AdminClient({"bootstrap.servers": url}) as a:
        a.list_topics()
    with pytest.raises(RuntimeError, match="AdminClient has been closed"):
        a.create_topics([ca.NewTopic("x", 1)])
    with pytest.raises(RuntimeError, match="Handle has been closed"):
        a.list_topics()

    class Uninit(ck.Producer):
        def __init__(self, conf):
            pass

    with pytest.raises(RuntimeError, match="Producer has been closed"):
        Uninit({}).produce("t", b"x")

    class UninitC(ck.Consumer):
        def __init__(self, conf):
            pass

    uc = UninitC({})
    with pytest.raises(RuntimeError, match="Consumer closed"):
        uc.subscribe(["t"])
    for call in (uc.unsubscribe, uc.poll, uc.consume, uc.unassign, uc.assignment, uc.commit,
                 uc.memberid, uc.consumer_group_metadata,
                 lambda: uc.committed([ck.TopicPartition("t", 0)]),
                 lambda: uc.store_offsets(offsets=[ck.TopicPartition("t", 0, 1)]),
                 lambda: uc.offsets_for_times([ck.TopicPartition("t", 0)])):
        with pytest.raises(RuntimeError, match="Consumer closed"):
            call()
    with pytest.raises(RuntimeError, match="Handle has been closed"):   # librdkafka's handle method
        uc.list_topics()
    uc.close()                                                          # close() is allowed

    class UninitA(ca.AdminClient):
        def __init__(self, conf):
            pass

    with pytest.raises(RuntimeError, match="AdminClient has been closed"):
        UninitA({}).delete_topics(["t"])


def test_first_produce_to_a_missing_partition_fails_in_the_delivery_report(url):
    p = ck.Producer({"bootstrap.servers": url})
    reports = []
    p.produce("fresh", b"x", partition=5, on_delivery=lambda err, msg: reports.append((err, msg.partition())))
    assert p.flush(5) == 0
    assert reports[0][0].code() == ck.KafkaError._UNKNOWN_PARTITION and reports[0][1] == 5
    # once the client knows the topic's partitions, the error is immediate
    with pytest.raises(ck.KafkaException) as e:
        p.produce("fresh", b"x", partition=5)
    assert e.value.args[0].code() == ck.KafkaError._UNKNOWN_PARTITION
    p.close()


def test_produce_batch_checks_every_message_first_and_takes_callback(url):
    p = ck.Producer({"bootstrap.servers": url})
    with pytest.raises(TypeError, match="messages must be a list"):
        p.produce_batch("t", {"value": b"x"})
    with pytest.raises(TypeError, match="Message at index 1 must be a dict"):
        p.produce_batch("t", [{"value": b"a"}, "x"])
    with pytest.raises(TypeError, match="Message value at index 0 must be bytes or str"):
        p.produce_batch("t", [{"value": 3}])
    with pytest.raises(TypeError, match="Message key at index 0 must be bytes or str"):
        p.produce_batch("t", [{"value": b"a", "key": ["k"]}])
    with pytest.raises(TypeError, match="Message partition at index 0 must be int"):
        p.produce_batch("t", [{"value": b"a", "partition": "0"}])
    with pytest.raises(TypeError):
        p.produce_batch(None, [{"value": b"a"}])
    with pytest.raises(NotImplementedError, match="timestamps"):
        p.produce_batch("t", [{"value": b"a", "timestamp": 5}])
    assert p.flush(5) == 0
    assert p.list_topics().topics == {}      # nothing of a refused batch was produced
    got = []
    assert p.produce_batch("t", [{"value": b"a"}, {"value": "b"}, {}], callback=lambda e, m: got.append(m.value())) == 3
    assert p.flush(5) == 0
    assert got == [b"a", b"b", None]
    p.close()


def test_store_offsets_for_an_unassigned_partition_is_unknown_partition(url):
    c = ck.Consumer({"bootstrap.servers": url, "group.id": "g", "enable.auto.offset.store": False})
    c.subscribe(["t"])
    with pytest.raises(ck.KafkaException) as e:
        c.store_offsets(offsets=[ck.TopicPartition("t", 0, 42)])
    assert e.value.args[0].code() == ck.KafkaError._UNKNOWN_PARTITION
    c.close()


def test_commit_and_store_offsets_arguments_as_confluent_checks_them(url):
    log_conf = {"bootstrap.servers": url, "group.id": "g", "enable.auto.offset.store": False}
    ca.AdminClient({"bootstrap.servers": url}).create_topics([ca.NewTopic("t", 1)])["t"].result()
    c = ck.Consumer(log_conf)
    c.assign([ck.TopicPartition("t", 0)])
    msg = ck.Message(topic="t", partition=0)            # no offset: counts as OFFSET_INVALID
    with pytest.raises(ValueError, match="mutually exclusive"):
        c.store_offsets(message=msg, offsets=[ck.TopicPartition("t", 0, 1)])
    with pytest.raises(ValueError, match="expected either message or offsets"):
        c.store_offsets(message=None, offsets=None)
    with pytest.raises(ck.KafkaException) as e:
        c.commit(message=msg, asynchronous=False)
    assert e.value.args[0].code() == ck.KafkaError._NO_OFFSET
    assert c.commit(message=msg) is None                # asynchronous: nothing to commit, no error
    bad = ck.Message(topic="t", partition=0, offset=3, error=ck.KafkaError(ck.KafkaError._PARTITION_EOF))
    with pytest.raises(ck.KafkaException, match="Cannot commit offsets for message with error"):
        c.commit(message=bad)
    with pytest.raises(ck.KafkaException, match="Cannot store offsets for message with error"):
        c.store_offsets(message=bad)
    c.close()
    with ck.Consumer(dict(log_conf, **{"enable.auto.offset.store": True})) as c2:
        with pytest.raises(ValueError, match="mutually exclusive"):     # argument checks come first
            c2.store_offsets(message=msg, offsets=[ck.TopicPartition("t", 0, 1)])


def test_assign_to_a_missing_topic_is_local_and_fetches_once_it_exists(url):
    c = ck.Consumer({"bootstrap.servers": url, "group.id": "g", "auto.offset.reset": "earliest"})
    c.assign([ck.TopicPartition("later", 1, ck.OFFSET_BEGINNING)])
    assert [(p.topic, p.partition) for p in c.assignment()] == [("later", 1)]
    assert c.poll(0.2) is None                           # no error event: it just waits
    assert c.get_watermark_offsets(ck.TopicPartition("later", 1), cached=True) == (ck.OFFSET_INVALID,) * 2
    with pytest.raises(ck.KafkaException) as e:
        c.get_watermark_offsets(ck.TopicPartition("later", 1))
    assert e.value.args[0].code() == ck.KafkaError._UNKNOWN_PARTITION
    with pytest.raises(ck.KafkaException) as e:
        c.commit(offsets=[ck.TopicPartition("later", 1, 1)], asynchronous=False)
    assert e.value.args[0].code() == ck.KafkaError.UNKNOWN_TOPIC_OR_PART
    a = ca.AdminClient({"bootstrap.servers": url})
    a.create_topics([ca.NewTopic("later", 2)])["later"].result()
    with ck.Producer({"bootstrap.servers": url}) as p:
        p.produce("later", b"a", partition=1)
        p.produce("later", b"b", partition=0)
        p.flush()
    m = poll_until(c, lambda m: m.error() is None)
    assert (m.partition(), m.offset(), m.value()) == (1, 0, b"a")
    r = c.offsets_for_times([ck.TopicPartition("later", 0, 0), ck.TopicPartition("later", 5, 0)])
    assert [(p.partition, p.offset, p.error and p.error.code()) for p in r] == [
        (0, 0, None), (5, 0, ck.KafkaError._UNKNOWN_PARTITION)]
    c.close()


def test_commit_keeps_the_applications_metadata_for_assigned_partitions(url):
    p = ck.Producer({"bootstrap.servers": url})
    p.produce("t", b"x")
    p.flush(5)
    p.close()
    c = ck.Consumer({"bootstrap.servers": url, "group.id": "g"})
    c.assign([ck.TopicPartition("t", 0, 0)])
    got = c.commit(offsets=[ck.TopicPartition("t", 0, 1, metadata="batch-17")], asynchronous=False)
    assert got[0].metadata == "batch-17"
    [tp] = c.committed([ck.TopicPartition("t", 0)])
    assert (tp.offset, tp.metadata) == (1, "batch-17")
    c.close()


# -- admin argument checks -------------------------------------------------------------------------

def test_admin_argument_checks(url):
    a = ca.AdminClient({"bootstrap.servers": url})
    for bad, exc in ((None, TypeError), ("t", TypeError), ([], ValueError), ([None, ca.NewTopic("t", 1)], ValueError),
                     (["t"], TypeError)):
        with pytest.raises(exc):
            a.create_topics(bad)
    with pytest.raises(TypeError):
        a.create_topics([ca.NewTopic("t", 1)], validate_only="maybe")
    with pytest.raises(ValueError):
        a.create_topics([ca.NewTopic("t", 1)], request_timeout=-5)
    with pytest.raises(TypeError):
        a.create_topics([ca.NewTopic("t", 1)], unknown_operation="it is")
    with pytest.raises(TypeError):
        a.create_topics([ca.NewTopic("t", 1, config=["not", "a dict"])])
    with pytest.raises(ValueError):
        a.delete_topics([None, "t"])
    with pytest.raises(TypeError):
        a.list_consumer_groups(states=["EMPTY"])
    with pytest.raises(TypeError):
        a.describe_consumer_groups("g")
    with pytest.raises(ValueError):
        a.delete_consumer_groups([])
    with pytest.raises(TypeError):
        a.describe_topics(["t"])
    with pytest.raises(ValueError):
        a.describe_topics(ck.TopicCollection([""]))
    G = ck.ConsumerGroupTopicPartitions
    with pytest.raises(ValueError):
        a.list_consumer_group_offsets([G("g", [ck.TopicPartition("t", 1, 1)])])
    with pytest.raises(TypeError):
        a.list_consumer_group_offsets([G("g", "t")])
    with pytest.raises(ValueError):
        a.alter_consumer_group_offsets([G("g", [ck.TopicPartition("t", 0)])])   # no offset
    with pytest.raises(TypeError):
        a.list_offsets(None)
    with pytest.raises(ValueError):
        a.list_offsets({ck.TopicPartition("", 0, 10): ca.OffsetSpec.earliest()})
    with pytest.raises(TypeError, match="Expected Request to be a list, got 'NoneType'"):
        a.delete_records(None)
    with pytest.raises(ValueError):
        a.delete_records([ck.TopicPartition("")])
    with pytest.raises(TypeError, match="Expected 'election_type'"):
        a.elect_leaders("1", [ck.TopicPartition("t", 0)])
    with pytest.raises(ValueError):
        ca.ConfigResource("doesnt exist", "x")
    with pytest.raises(ValueError):
        a.incremental_alter_configs([])
    a.close()


# -- admin calls over topic settings and records ----------------------------------------------------

def test_describe_alter_and_incremental_alter_configs_of_a_topic(url):
    a = ca.AdminClient({"bootstrap.servers": url})
    a.create_topics([ca.NewTopic("t", 1, config={"retention.ms": "5000"})])["t"].result()
    r = ca.ConfigResource(ca.ResourceType.TOPIC, "t")
    cfg = a.describe_configs([r])[r].result()
    assert cfg["retention.ms"].value == "5000" and not cfg["retention.ms"].is_default
    assert cfg["cleanup.policy"].value == "delete" and cfg["cleanup.policy"].is_default
    inc = ca.ConfigResource(ca.ResourceType.TOPIC, "t", incremental_configs=[
        ca.ConfigEntry("cleanup.policy", "compact", incremental_operation=ca.AlterConfigOpType.APPEND),
        ca.ConfigEntry("retention.ms", None, incremental_operation=ca.AlterConfigOpType.DELETE)])
    assert a.incremental_alter_configs([inc])[inc].result() is None
    cfg = a.describe_configs([r])[r].result()
    assert cfg["cleanup.policy"].value == "delete,compact"      # the order given, as the broker keeps it
    assert cfg["retention.ms"].is_default
    # alter_configs replaces: what is not given goes back to its default
    alt = ca.ConfigResource(ca.ResourceType.TOPIC, "t", set_config={"segment.bytes": "1048576"})
    a.alter_configs([alt])[alt].result()
    cfg = a.describe_configs([r])[r].result()
    assert cfg["segment.bytes"].value == "1048576" and cfg["cleanup.policy"].value == "delete"
    bad = ca.ConfigResource(ca.ResourceType.TOPIC, "t", set_config={"no.such.config": "1"})
    with pytest.raises(ck.KafkaException) as e:
        a.alter_configs([bad])[bad].result()
    assert e.value.args[0].code() == ck.KafkaError.INVALID_CONFIG
    missing = ca.ConfigResource(ca.ResourceType.TOPIC, "nope")
    with pytest.raises(ck.KafkaException) as e:
        a.describe_configs([missing])[missing].result()
    assert e.value.args[0].code() == ck.KafkaError.UNKNOWN_TOPIC_OR_PART
    a.close()


def test_delete_records_moves_the_low_watermark_and_elections_are_not_needed(url):
    a = ca.AdminClient({"bootstrap.servers": url})
    a.create_topics([ca.NewTopic("t", 1)])["t"].result()
    p = ck.Producer({"bootstrap.servers": url})
    for i in range(5):
        p.produce("t", b"%d" % i, partition=0)
    p.flush(5)
    p.close()
    tp = ck.TopicPartition("t", 0, 3)
    assert a.delete_records([tp])[tp].result().low_watermark == 3
    c = ck.Consumer({"bootstrap.servers": url, "group.id": "g"})
    assert c.get_watermark_offsets(ck.TopicPartition("t", 0)) == (3, 5)
    c.close()
    res = a.elect_leaders(ck.ElectionType.PREFERRED, [ck.TopicPartition("t", 0), ck.TopicPartition("nosuch", 0)]).result()
    assert res[ck.TopicPartition("t", 0)].code() == ck.KafkaError.ELECTION_NOT_NEEDED
    assert res[ck.TopicPartition("nosuch", 0)].code() == ck.KafkaError.UNKNOWN_TOPIC_OR_PART   # as a broker answers
    a.close()


def test_list_offsets_max_timestamp_and_failures_in_the_future(url):
    a = ca.AdminClient({"bootstrap.servers": url})
    a.create_topics([ca.NewTopic("t", 1)])["t"].result()
    p = ck.Producer({"bootstrap.servers": url})
    for off, ts in enumerate((1000, 5000, 3000)):
        p.produce("t", b"x", partition=0, timestamp=ts)
    p.flush(5)
    p.close()
    tp = ck.TopicPartition("t", 0)
    r = a.list_offsets({tp: ca.OffsetSpec.max_timestamp()})[tp].result()
    assert (r.offset, r.timestamp) == (1, 5000)
    missing = ck.TopicPartition("nope", 0)
    f = a.list_offsets({missing: ca.OffsetSpec.latest()})[missing]    # no exception here
    with pytest.raises(ck.KafkaException) as e:
        f.result()
    assert e.value.args[0].code() == ck.KafkaError.UNKNOWN_TOPIC_OR_PART
    a.close()


def test_committed_metadata_is_none_when_none_was_given_and_null_bytes_are_refused(url):
    a = ca.AdminClient({"bootstrap.servers": url})
    a.create_topics([ca.NewTopic("t", 1)])["t"].result()
    a.close()
    c = ck.Consumer({"bootstrap.servers": url, "group.id": "g"})
    c.assign([ck.TopicPartition("t", 0, 0)])
    c.commit(offsets=[ck.TopicPartition("t", 0, 1)], asynchronous=False)
    [tp] = c.committed([ck.TopicPartition("t", 0)])
    assert (tp.offset, tp.metadata) == (1, None)
    with pytest.raises(ValueError):
        c.commit(offsets=[ck.TopicPartition("t", 0, 1, "xyz\x00abc")], asynchronous=False)
    c.close()


def test_stats_cb_gets_librdkafka_shaped_statistics_at_the_interval(url):
    import json
    got = []
    p = ck.Producer({"bootstrap.servers": url, "statistics.interval.ms": 50, "stats_cb": got.append})
    for i in range(3):
        p.produce("t", b"abc", partition=0)
    p.flush(5)
    deadline = time.monotonic() + 10
    while not got and time.monotonic() < deadline:
        p.poll(0.1)
    doc = json.loads(got[-1])
    assert doc["type"] == "producer" and doc["name"] and doc["brokers"] == {}
    part = doc["topics"]["t"]["partitions"]["0"]
    assert (part["txmsgs"], part["txbytes"], part["hi_offset"]) == (3, 9, 3)
    p.close()

    seen = []
    c = ck.Consumer({"bootstrap.servers": url, "group.id": "g", "auto.offset.reset": "earliest",
                     "statistics.interval.ms": 50, "stats_cb": seen.append})
    c.subscribe(["t"])
    poll_until(c, lambda m: m.error() is None)          # one of three read
    deadline = time.monotonic() + 10
    n = len(seen)
    while len(seen) == n and time.monotonic() < deadline:
        c.poll(0.05)
    doc = json.loads(seen[-1])
    part = doc["topics"]["t"]["partitions"]["0"]
    assert doc["type"] == "consumer" and part["rxmsgs"] >= 1
    assert part["consumer_lag"] == 3 - part["app_offset"]
    c.close()


def test_version_is_a_string_and_libversion_a_tuple():
    import confluent_kafka as real
    assert isinstance(ck.version(), str) and isinstance(real.version(), str)
    assert isinstance(ck.libversion(), tuple) and isinstance(ck.libversion()[1], int)


def test_max_poll_interval_exceeded_is_reported_then_partitions_are_lost(url):
    import eventlog
    p = ck.Producer({"bootstrap.servers": url})
    p.produce("t", b"a")
    p.flush(5)
    p.close()
    revoked = []
    c = ck.DeserializingConsumer({"bootstrap.servers": url, "group.id": "g", "auto.offset.reset": "earliest",
                                  "partition.assignment.strategy": "cooperative-sticky",
                                  "max.poll.interval.ms": 500, "session.timeout.ms": 6000})
    c.subscribe(["t"], on_revoke=lambda cons, parts: revoked.append(parts))
    assert poll_until(c, lambda m: True).value() == b"a"
    # don't poll: wait (with a deadline) until the group layer made the member leave
    log = eventlog.open(url[len("eventlog://"):])
    deadline = time.monotonic() + 20
    while log.group("g").members() and time.monotonic() < deadline:
        time.sleep(0.05)
    log.close()
    with pytest.raises(ConsumeError) as e:
        c.poll(1)
    assert e.value.code == ck.KafkaError._MAX_POLL_EXCEEDED
    assert revoked == []
    c.poll(1)
    assert len(revoked) == 1        # lost partitions go to on_revoke when there is no on_lost
    c.close()


def test_a_blocking_poll_counts_as_polling_for_max_poll_interval(url):
    # a poll that waits longer than max.poll.interval.ms for records keeps the member in its
    # group (librdkafka and the core count the time inside poll as polling): no
    # _MAX_POLL_EXCEEDED from the next poll, and the partitions are not lost
    ck.admin.AdminClient({"bootstrap.servers": url}).create_topics([ck.admin.NewTopic("t", 1)])["t"].result()
    lost = []
    c = ck.Consumer({"bootstrap.servers": url, "group.id": "g", "max.poll.interval.ms": 700,
                     "session.timeout.ms": 6000})
    c.subscribe(["t"], on_lost=lambda cons, parts: lost.append(parts))
    deadline = time.monotonic() + 10
    while not c.assignment() and time.monotonic() < deadline:
        assert c.poll(0.1) is None
    assert c.poll(2.0) is None
    m = c.poll(0.1)
    assert m is None, m.error()
    assert lost == [] and len(c.assignment()) == 1
    c.close()


def test_configuration_errors_say_what_librdkafka_says(url):
    with pytest.raises(ck.KafkaException, match='Invalid value for configuration property "partitioner": murmur"'):
        ck.Producer({"bootstrap.servers": url, "partitioner": "murmur"})
    with pytest.raises(ck.KafkaException, match="Unsupported partition.assignment.strategy: bad"):
        ck.Consumer({"bootstrap.servers": url, "group.id": "g", "partition.assignment.strategy": "bad"})


def test_a_session_timeout_a_broker_refuses_is_reported_by_poll_and_the_member_never_joins(url):
    c = ck.Consumer({"bootstrap.servers": url, "group.id": "g", "session.timeout.ms": 100})
    c.subscribe(["t"])
    m = poll_until(c, lambda m: m.error() is not None)
    assert m.error().code() == ck.KafkaError.INVALID_SESSION_TIMEOUT
    assert m.timestamp() == (ck.TIMESTAMP_NOT_AVAILABLE, -1)
    with pytest.raises(ck.KafkaException) as e:
        c.commit(m)
    assert e.value.args[0].code() == ck.KafkaError._INVALID_ARG
    d = ca.AdminClient({"bootstrap.servers": url}).describe_consumer_groups(["g"])["g"].result()
    assert (d.state, d.members) == (ck.ConsumerGroupState.DEAD, [])
    c.unsubscribe()
    assert c.poll(0.1) is None          # no subscription, no more JoinGroup failures
    c.close()


def test_acl_calls_check_arguments_as_confluent_does_then_fail_in_the_futures(url):
    a = ca.AdminClient({"bootstrap.servers": url})
    b1 = ca.AclBinding(ca.ResourceType.TOPIC, "t1", ca.ResourcePatternType.LITERAL, "User:u1", "*",
                       ca.AclOperation.WRITE, ca.AclPermissionType.ALLOW)
    f1 = ca.AclBindingFilter(ca.ResourceType.TOPIC, "t1", ca.ResourcePatternType.LITERAL, None, None,
                             ca.AclOperation.ANY, ca.AclPermissionType.ANY)
    for call, item in ((a.create_acls, b1), (a.delete_acls, f1)):
        with pytest.raises(TypeError):
            call(None)
        for bad in ("topic", [], ["topic"], [None, "topic"], [None, item], [item, item]):
            with pytest.raises(ValueError):
                call(bad)
        fs = call([item])
        with pytest.raises(ck.KafkaException) as e:
            fs[item].result()
        assert e.value.args[0].code() == ck.KafkaError.SECURITY_DISABLED
