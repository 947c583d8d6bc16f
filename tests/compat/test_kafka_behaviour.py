"""kafka-python 3.x behaviour the facade now mirrors (issue 13 item 3), checked against
kafka-python 3.0's source: delete_groups results, create_partitions' response object,
describe_groups member metadata, offsets_for_times on an unknown partition, and
KafkaProducer.max_usable_produce_magic."""
import time

import pytest

from eventlog.compat import kafka as kp


@pytest.fixture
def url(tmp_path):
    return f"eventlog://{tmp_path / 'log'}"


def test_delete_groups_says_ok_or_names_the_error(url):
    p = kp.KafkaProducer(bootstrap_servers=url)
    p.send("t", b"x").get(5)
    p.close()
    c = kp.KafkaConsumer("t", group_id="g", bootstrap_servers=url, auto_offset_reset="earliest")
    deadline = time.monotonic() + 10
    while not c.poll(timeout_ms=100) and time.monotonic() < deadline:
        pass
    c.commit()
    c.close()
    a = kp.KafkaAdminClient(bootstrap_servers=url)
    assert a.delete_groups(["g", "nope"]) == {"g": "OK", "nope": "GroupIdNotFoundError"}
    a.close()


def test_create_partitions_returns_a_response_with_results(url):
    a = kp.KafkaAdminClient(bootstrap_servers=url)
    a.create_topics([kp.admin.NewTopic("t", 1, 1)])
    r = a.create_partitions({"t": 3})
    assert [(x.name, x.error_code) for x in r.results] == [("t", 0)]
    r = a.create_partitions({"t": 2}, raise_errors=False)
    assert r.results[0].error_code == kp.errors.InvalidPartitionsError.errno
    a.close()


def test_describe_groups_members_have_decoded_metadata_and_assignment(url):
    a = kp.KafkaAdminClient(bootstrap_servers=url)
    a.create_topics([kp.admin.NewTopic("t", 2, 1)])
    c = kp.KafkaConsumer("t", group_id="g", bootstrap_servers=url)
    deadline = time.monotonic() + 10
    while len(c.assignment()) < 2 and time.monotonic() < deadline:
        c.poll(timeout_ms=100)
    [m] = a.describe_groups(["g"])["g"]["members"]
    assert m["member_metadata"]["topics"] == ["t"]
    assert m["member_assignment"]["assigned_partitions"] == [{"topic": "t", "partitions": [0, 1]}]
    c.close()
    a.close()


def test_offsets_for_times_unknown_topic_raises_kafka_timeout(url):
    c = kp.KafkaConsumer(bootstrap_servers=url)
    with pytest.raises(kp.errors.KafkaTimeoutError, match="Failed to get offsets by timestamps"):
        c.offsets_for_times({kp.TopicPartition("nope", 0): 0}, timeout_ms=100)
    c.close()


def test_max_usable_produce_magic():
    assert kp.KafkaProducer.max_usable_produce_magic((4, 0)) == 2
    assert kp.KafkaProducer.max_usable_produce_magic((0, 10, 1)) == 1
    assert kp.KafkaProducer.max_usable_produce_magic((0, 9)) == 0


# -- transactions (issue 15), checked against kafka-python 3.0's TransactionManager --------------

def read_committed(url, tps, n, **kw):
    c = kp.KafkaConsumer(bootstrap_servers=url, isolation_level=kw.pop("isolation_level", "read_committed"),
                         auto_offset_reset="earliest", consumer_timeout_ms=kw.pop("timeout_ms", 5000), **kw)
    c.assign(tps)
    out = []
    for r in c:
        out.append((r.partition, r.offset, r.value))
        if len(out) == n:
            break
    c.close()
    return out


def test_transactional_producer_abort_then_commit(url):
    """kafka-python's test_transactional_producer_messages, in our words: records of the
    aborted transaction are never read with read_committed, those of the committed one are;
    each send's future resolves inside the transaction (the record is written on get())."""
    tp = kp.TopicPartition("t", 0)
    p = kp.KafkaProducer(bootstrap_servers=url, transactional_id="testing")
    p.init_transactions()
    p.begin_transaction()
    assert [p.send("t", partition=0, value=v).get(5).offset for v in (b"msg1", b"msg2")] == [0, 1]
    p.abort_transaction()
    p.begin_transaction()
    f = p.send("t", partition=0, value=b"msg3")
    assert f.get(5).offset == 3                       # the abort marker took offset 2
    p.send("t", partition=0, value=b"msg4")
    p.commit_transaction()
    p.close()
    assert read_committed(url, [tp], 2) == [(0, 3, b"msg3"), (0, 4, b"msg4")]
    assert [v for _p, _o, v in read_committed(url, [tp], 4, isolation_level="read_uncommitted")] == \
        [b"msg1", b"msg2", b"msg3", b"msg4"]


def test_transactional_producer_offsets(url):
    """kafka-python's test_transactional_producer_offsets, in our words: offsets sent to a
    committed transaction are committed with their metadata, those of an aborted one not."""
    lg = kp.KafkaProducer(bootstrap_servers=url)
    for i in range(4):
        lg.send("in", b"x", partition=0).get(5)
    lg.close()
    kp.KafkaAdminClient(bootstrap_servers=url).create_partitions({"in": kp.admin.NewPartitions(2)})
    tp0, tp1 = kp.TopicPartition("in", 0), kp.TopicPartition("in", 1)
    p = kp.KafkaProducer(bootstrap_servers=url, transactional_id="testing")
    p.init_transactions()
    p.begin_transaction()
    p.send("out", partition=0, value=b"msg1").get(5)
    p.send_offsets_to_transaction({tp0: kp.OffsetAndMetadata(2, "metadata", 0)}, "txn-test-group")
    p.commit_transaction()
    p.begin_transaction()
    p.send_offsets_to_transaction({tp1: kp.OffsetAndMetadata(0, "bad", 0)}, "txn-test-group")
    p.abort_transaction()
    p.close()
    a = kp.KafkaAdminClient(bootstrap_servers=url)
    assert a.list_group_offsets("txn-test-group") == \
        {"txn-test-group": {tp0: kp.OffsetAndMetadata(2, "metadata", 0)}}
    a.close()


def test_fenced_producer_fails_as_kafka_python_does(url):
    tp = kp.TopicPartition("t", 0)
    p1 = kp.KafkaProducer(bootstrap_servers=url, transactional_id="tx")
    p1.init_transactions()
    p1.begin_transaction()
    p1.send("t", b"old", partition=0).get(5)
    p1.send("t", b"buffered", partition=0)
    p2 = kp.KafkaProducer(bootstrap_servers=url, transactional_id="tx")
    p2.init_transactions()                            # fences p1, aborts its transaction
    with pytest.raises(kp.errors.ProducerFencedError, match="fenced"):
        p1.commit_transaction()
    with pytest.raises(kp.errors.KafkaError, match="error state: .*ProducerFencedError"):
        p1.abort_transaction()
    with pytest.raises(kp.errors.KafkaError, match="Cannot perform send"):
        p1.send("t", b"late", partition=0)
    p1.init_transactions()                            # already done: nothing happens
    p2.begin_transaction()
    p2.send("t", b"new", partition=0)
    p2.commit_transaction()
    for p in (p1, p2):
        p.close()
    assert [v for _p, _o, v in read_committed(url, [tp], 1)] == [b"new"]


def test_fenced_record_future_fails_with_invalid_producer_epoch(url):
    p1 = kp.KafkaProducer(bootstrap_servers=url, transactional_id="tx")
    p1.init_transactions()
    p1.begin_transaction()
    kp.KafkaProducer(bootstrap_servers=url, transactional_id="tx").init_transactions()
    f = p1.send("t", b"x", partition=0)
    with pytest.raises(kp.errors.InvalidProducerEpochError):
        f.get(5)
    assert f.failed() and isinstance(f.exception, kp.errors.InvalidProducerEpochError)
    with pytest.raises(kp.errors.KafkaError, match="error state"):
        p1.commit_transaction()
    p1.close()


def test_open_transaction_and_last_stable_offset(url):
    """read_committed stops at the open transaction's first offset (end_offsets says so);
    highwater and read_uncommitted see the whole log; close() leaves the transaction open
    for the next producer with its id to abort."""
    tp = kp.TopicPartition("t", 0)
    p = kp.KafkaProducer(bootstrap_servers=url, transactional_id="tx")
    p.init_transactions()
    p.begin_transaction()
    p.send("t", b"open", partition=0).get(5)
    plain = kp.KafkaProducer(bootstrap_servers=url)
    plain.send("t", b"plain", partition=0).get(5)
    plain.close()
    c = kp.KafkaConsumer(bootstrap_servers=url, isolation_level="READ_COMMITTED", auto_offset_reset="earliest")
    c.assign([tp])
    assert c.poll(200) == {} and c.end_offsets([tp]) == {tp: 0} and c.highwater(tp) == 2
    p.close()
    kp.KafkaProducer(bootstrap_servers=url, transactional_id="tx").init_transactions()   # aborts it
    got = {}
    deadline = time.monotonic() + 10
    while not got and time.monotonic() < deadline:
        got = c.poll(100)
    assert [(r.offset, r.value) for r in got[tp]] == [(1, b"plain")]
    assert c.end_offsets([tp]) == {tp: 3}
    c.close()


def test_isolation_level_spellings(url):
    """kafka-python's spellings of read_committed give a consumer that stops at an open
    transaction (end_offsets is its LSO); the default is read_uncommitted, as kafka-python's."""
    tp = kp.TopicPartition("t", 0)
    p = kp.KafkaProducer(bootstrap_servers=url, transactional_id="tx")
    p.init_transactions()
    p.begin_transaction()
    p.send("t", b"open", partition=0).get(5)
    for v in ("read_committed", "READ_COMMITTED", "read-committed", 1, kp.IsolationLevel.READ_COMMITTED):
        c = kp.KafkaConsumer(bootstrap_servers=url, isolation_level=v)
        assert c.end_offsets([tp]) == {tp: 0}, v
        c.close()
    for c in (kp.KafkaConsumer(bootstrap_servers=url), kp.KafkaConsumer(bootstrap_servers=url, isolation_level=0)):
        assert c.end_offsets([tp]) == {tp: 1}
        c.close()
    assert kp.KafkaConsumer.DEFAULT_CONFIG["isolation_level"] == "read_uncommitted"
    with pytest.raises(kp.errors.KafkaConfigurationError, match="Unrecognized isolation_level"):
        kp.KafkaConsumer(bootstrap_servers=url, isolation_level=2)
    p.close()


def test_non_transactional_producer_refuses_transactional_calls(url):
    p = kp.KafkaProducer(bootstrap_servers=url)          # idempotent by default, as kafka-python 3
    with pytest.raises(kp.errors.IllegalStateError, match="non-transactional producer"):
        p.init_transactions()
    p.close()
    p = kp.KafkaProducer(bootstrap_servers=url, enable_idempotence=False)
    with pytest.raises(kp.errors.IllegalStateError, match="without setting a transactional_id"):
        p.init_transactions()
    with pytest.raises(kp.errors.IllegalStateError, match="without enabling transactions"):
        p.begin_transaction()
    p.close()
    with pytest.raises(kp.errors.KafkaConfigurationError, match="incompatible with user-provided acks=1"):
        kp.KafkaProducer(bootstrap_servers=url, transactional_id="tx", acks=1)


def test_send_offsets_argument_checks(url):
    p = kp.KafkaProducer(bootstrap_servers=url, transactional_id="tx")
    p.init_transactions()
    p.begin_transaction()
    tp = kp.TopicPartition("t", 0)
    with pytest.raises(TypeError, match="ConsumerGroupMetadata or a group_id str"):
        p.send_offsets_to_transaction({tp: kp.OffsetAndMetadata(0, "", 0)}, 42)
    with pytest.raises(TypeError, match="OffsetAndMetadata"):
        p.send_offsets_to_transaction({tp: 5}, "g")
    with pytest.raises(ValueError, match="member_id is empty"):
        p.send_offsets_to_transaction({tp: kp.OffsetAndMetadata(0, "", 0)},
                                      kp.structs.ConsumerGroupMetadata("g", 3, ""))
    p.abort_transaction()
    p.close()


def test_failed_write_is_abortable(url):
    """A transaction's records that cannot be written (here: their topic was deleted) fail
    their futures and put the producer in kafka-python's abortable error state: commit is
    refused naming the error, abort works, and the next transaction commits."""
    a = kp.KafkaAdminClient(bootstrap_servers=url)
    a.create_topics([kp.admin.NewTopic("gone", 1, 1), kp.admin.NewTopic("t", 1, 1)])
    p = kp.KafkaProducer(bootstrap_servers=url, transactional_id="tx")
    p.init_transactions()
    p.begin_transaction()
    p.send("t", b"x", partition=0)
    f = p.send("gone", b"y", partition=0)
    a.delete_topics(["gone"])
    a.close()
    with pytest.raises(kp.errors.UnknownTopicOrPartitionError):
        f.get(5)
    with pytest.raises(kp.errors.KafkaError, match="error state: .*UnknownTopicOrPartitionError"):
        p.commit_transaction()
    p.abort_transaction()
    p.begin_transaction()
    p.send("t", b"z", partition=0)
    p.commit_transaction()
    p.close()
    assert [v for _p, _o, v in read_committed(url, [kp.TopicPartition("t", 0)], 1)] == [b"z"]
