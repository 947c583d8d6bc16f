"""confluent-kafka's transactional API on the facade (issue 15 item 5): librdkafka's state
machine and the flags of its errors (`retriable`, `fatal`, `txn_requires_abort`, as the real
client sets them against a real broker: tests/compat/test_diff_confluent.py compares the two),
delivery reports of transactional records, `isolation.level` and `consumer_group_metadata`."""
import subprocess
import sys
import time

import pytest

import eventlog
from eventlog.compat import confluent_kafka as ck


@pytest.fixture
def url(tmp_path):
    log = eventlog.open(tmp_path / "log")
    log.create_topic("t", partitions=2)
    log.close()
    return f"eventlog://{tmp_path / 'log'}"


def flags(fn, *a):
    with pytest.raises(ck.KafkaException) as ei:
        fn(*a)
    e = ei.value.args[0]
    return e.name(), e.retriable(), e.fatal(), e.txn_requires_abort()


def txn_producer(url, txn_id="tx", reports=None, **conf):
    if reports is not None:
        conf["on_delivery"] = lambda err, msg: reports.append(
            (err.name() if err else None, msg.partition(), msg.offset(), msg.value()))
    p = ck.Producer({"bootstrap.servers": url, "transactional.id": txn_id, **conf})
    p.init_transactions(10)
    return p


def read(url, isolation=None, topic="t", partitions=2, timeout=10.0):
    """Values a fresh consumer reads until EOF on every partition, and the EOF offsets."""
    conf = {"bootstrap.servers": url, "group.id": "reader", "enable.partition.eof": True,
            "enable.auto.commit": False}
    if isolation:
        conf["isolation.level"] = isolation
    c = ck.Consumer(conf)
    c.assign([ck.TopicPartition(topic, p, ck.OFFSET_BEGINNING) for p in range(partitions)])
    values, eof = [], {}
    deadline = time.monotonic() + timeout
    while len(eof) < partitions and time.monotonic() < deadline:
        m = c.poll(0.1)
        if m is None:
            continue
        if m.error() is None:
            values.append(m.value())
        elif m.error().code() == ck.KafkaError._PARTITION_EOF:
            eof[m.partition()] = m.offset()
    c.close()
    assert len(eof) == partitions, f"no EOF on every partition: {eof}"
    return sorted(values), eof


def test_calls_out_of_order_raise_state_errors_that_are_neither_retriable_fatal_nor_abortable(url):
    p = ck.Producer({"bootstrap.servers": url, "transactional.id": "tx"})
    state = ("_STATE", False, False, False)
    assert flags(p.begin_transaction) == state
    assert flags(p.commit_transaction, 1) == state
    assert flags(p.produce, "t", b"x") == state
    p.init_transactions(10)
    assert flags(p.init_transactions, 10) == state
    assert flags(p.abort_transaction) == state
    with pytest.raises(ck.KafkaException, match="Operation not valid in state Ready"):
        p.commit_transaction()
    p.begin_transaction()
    with pytest.raises(ck.KafkaException, match="state InTransaction"):
        p.begin_transaction()
    p.abort_transaction()
    assert p.close() is True
    plain = ck.Producer({"bootstrap.servers": url})
    assert flags(plain.init_transactions) == ("_NOT_CONFIGURED", False, False, False)
    plain.close()


def test_commit_serves_the_reports_and_makes_the_records_visible_to_read_committed(url):
    reports = []
    p = txn_producer(url, reports=reports)
    p.begin_transaction()
    for i in range(4):
        p.produce("t", b"v%d" % i, partition=i % 2)
    assert len(p) == 4
    assert read(url)[0] == []                           # the default isolation.level is read_committed
    assert read(url, "read_uncommitted")[0] == []       # not written yet (linger): nothing at all
    p.commit_transaction(10)
    assert sorted(reports) == [(None, 0, 0, b"v0"), (None, 0, 1, b"v2"), (None, 1, 0, b"v1"), (None, 1, 1, b"v3")]
    assert len(p) == 0
    # the commit marker takes one offset per partition: EOF after it
    assert read(url) == ([b"v0", b"v1", b"v2", b"v3"], {0: 3, 1: 3})
    p.close()


def test_records_written_by_poll_after_linger_are_reported_before_the_commit(url):
    reports = []
    p = txn_producer(url, reports=reports, **{"linger.ms": 0})
    p.begin_transaction()
    p.produce("t", b"a", partition=0)
    deadline = time.monotonic() + 10
    while not reports and time.monotonic() < deadline:
        p.poll(0.1)
    assert reports == [(None, 0, 0, b"a")]
    # written but not committed: read_uncommitted sees it, read_committed stops before it
    assert read(url, "read_uncommitted", partitions=1) == ([b"a"], {0: 1})
    assert read(url, "read_committed", partitions=1) == ([], {0: 0})
    c = ck.Consumer({"bootstrap.servers": url, "group.id": "wm"})
    assert c.get_watermark_offsets(ck.TopicPartition("t", 0)) == (0, 0)           # the LSO
    assert c.get_watermark_offsets(ck.TopicPartition("t", 0), cached=True) == (0, 1)
    c.close()
    p.commit_transaction()
    assert read(url, partitions=1) == ([b"a"], {0: 2})
    p.close()


def test_abort_purges_buffered_records_and_hides_written_ones(url):
    reports = []
    p = txn_producer(url, reports=reports)
    p.begin_transaction()
    p.produce("t", b"written", partition=0)
    assert p.flush(10) == 0
    p.produce("t", b"buffered", partition=1)
    p.abort_transaction(10)
    assert reports == [(None, 0, 0, b"written"), ("_PURGE_QUEUE", 1, ck.OFFSET_INVALID, b"buffered")]
    assert read(url) == ([], {0: 2, 1: 0})
    assert read(url, "read_uncommitted")[0] == [b"written"]
    p.begin_transaction()     # the producer goes on
    p.produce("t", b"next", partition=1)
    p.commit_transaction()
    assert read(url)[0] == [b"next"]
    p.close()


def test_a_second_producer_fences_the_first_with_a_fatal_error(url):
    reports = []
    first = txn_producer(url, reports=reports)
    first.begin_transaction()
    first.produce("t", b"zombie", partition=0)
    second = txn_producer(url)
    fenced = ("_FENCED", False, True, False)
    assert flags(first.commit_transaction) == fenced
    for call in (first.begin_transaction, first.abort_transaction, first.init_transactions):
        assert flags(call) == fenced
    assert flags(first.produce, "t", b"more") == ("_FATAL", False, False, False)
    assert reports == [("_PURGE_QUEUE", 0, ck.OFFSET_INVALID, b"zombie")]
    with pytest.warns(RuntimeWarning, match="abort_transaction failed during close: .*fenced"):
        assert first.close() is True   # as confluent-kafka's close with a transaction open
    second.begin_transaction()
    second.produce("t", b"winner", partition=0)
    second.commit_transaction()
    assert read(url)[0] == [b"winner"]
    second.close()


def test_a_write_that_finds_the_producer_fenced_is_raised_once_by_poll_or_flush(url):
    p = txn_producer(url)
    p.begin_transaction()
    txn_producer(url).close()
    p.produce("t", b"x", partition=0)
    assert flags(p.flush, 5) == ("_FENCED", False, True, False)
    assert p.flush(5) == 0
    assert flags(p.commit_transaction) == ("_FENCED", False, True, False)
    with pytest.warns(RuntimeWarning, match="failed during close"):
        p.close()


def test_fencing_by_a_producer_in_another_process(url):
    p = txn_producer(url, "shared")
    p.begin_transaction()
    p.produce("t", b"old", partition=0)
    assert p.flush(5) == 0
    code = ("import sys; from eventlog.compat import confluent_kafka as ck\n"
            "p = ck.Producer({'bootstrap.servers': sys.argv[1], 'transactional.id': 'shared'})\n"
            "p.init_transactions(10); p.begin_transaction(); p.produce('t', b'new', partition=0)\n"
            "p.commit_transaction(10); p.close()\n")
    subprocess.run([sys.executable, "-c", code, url], check=True, timeout=60)
    with pytest.raises(ck.KafkaException) as ei:
        p.commit_transaction()
    assert ei.value.args[0].code() == ck.KafkaError._FENCED and ei.value.args[0].fatal()
    with pytest.warns(RuntimeWarning, match="failed during close"):
        p.close()
    # the other process's init aborted the open transaction: only its record is visible
    assert read(url)[0] == [b"new"]


def test_a_record_the_topic_refuses_makes_the_transaction_abortable(url):
    admin = ck.admin.AdminClient({"bootstrap.servers": url})
    admin.create_topics([ck.admin.NewTopic("small", 1, 1, config={"max.message.bytes": "2000"})])["small"].result(10)
    reports = []
    p = txn_producer(url, reports=reports)
    p.begin_transaction()
    p.produce("small", b"x" * 5000)
    abortable = ("MSG_SIZE_TOO_LARGE", False, False, True)
    assert flags(p.commit_transaction) == abortable
    assert reports == [("MSG_SIZE_TOO_LARGE", 0, ck.OFFSET_INVALID, b"x" * 5000)]
    assert flags(p.begin_transaction) == abortable
    c = ck.Consumer({"bootstrap.servers": url, "group.id": "g"})
    assert flags(p.send_offsets_to_transaction, [ck.TopicPartition("t", 0, 1)], c.consumer_group_metadata()) \
        == abortable
    assert flags(p.produce, "small", b"y") == ("_STATE", False, False, False)
    p.abort_transaction()
    p.begin_transaction()
    p.produce("small", b"fits")
    p.commit_transaction()
    assert read(url, topic="small", partitions=1)[0] == [b"fits"]
    c.close()
    p.close()


def test_offsets_sent_to_a_transaction_are_committed_with_it_only(url):
    c = ck.Consumer({"bootstrap.servers": url, "group.id": "eos"})
    gm = c.consumer_group_metadata()
    p = txn_producer(url)
    tp = ck.TopicPartition("t", 0)
    for offset, commit in ((5, False), (3, True)):
        p.begin_transaction()
        p.produce("t", b"out", partition=1)
        p.send_offsets_to_transaction([ck.TopicPartition("t", 0, offset)], gm)
        (p.commit_transaction if commit else p.abort_transaction)()
        if not commit:
            assert c.committed([tp])[0].offset == ck.OFFSET_INVALID
    assert c.committed([tp])[0].offset == 3
    p.begin_transaction()
    with pytest.raises(TypeError, match="list of TopicPartition"):
        p.send_offsets_to_transaction({tp: 1}, gm)
    with pytest.raises(TypeError, match="consumer_group_metadata"):
        p.send_offsets_to_transaction([ck.TopicPartition("t", 0, 1)], "eos")
    p.send_offsets_to_transaction([ck.TopicPartition("t", 0, ck.OFFSET_INVALID)], gm)   # skipped, as librdkafka
    p.commit_transaction()
    assert c.committed([tp])[0].offset == 3
    c.close()
    p.close()


def test_close_aborts_an_open_transaction(url):
    reports = []
    p = txn_producer(url, reports=reports)
    p.begin_transaction()
    p.produce("t", b"x", partition=0)
    assert p.flush() == 0
    assert p.close() is True
    assert read(url) == ([], {0: 2, 1: 0})


def test_configuration_as_librdkafka_checks_it(url, tmp_path):
    p = txn_producer(url, "timed", **{"transaction.timeout.ms": 15000})
    log = eventlog.open(tmp_path / "log")
    assert log.transaction_coordinator().load("timed")["transaction_timeout_ms"] == 15000
    log.close()
    p.close()
    for conf, match in (({"transaction.timeout.ms": 0}, "outside allowed range 1000..2147483647"),
                        ({"enable.idempotence": False}, "requires `enable.idempotence=true`"),
                        ({"acks": 1}, "`acks` must be set to `all`")):
        with pytest.raises(ck.KafkaException, match=match):
            ck.Producer({"bootstrap.servers": url, "transactional.id": "x", **conf})
    with pytest.raises(ck.KafkaException, match='Invalid value "bogus" for configuration property "isolation.level"'):
        ck.Consumer({"bootstrap.servers": url, "group.id": "g", "isolation.level": "bogus"})


HOLD_LOCK = """
import sys, eventlog
log = eventlog.open(sys.argv[1])
with log.transaction_coordinator().held(sys.argv[2]):
    print("held", flush=True)
    sys.stdin.read()      # until the test closes our stdin (or kills us)
"""


def test_init_that_times_out_is_retriable_and_conflicts_until_called_again(url, tmp_path):
    # another process holds the id's lock (as a producer committing with that id does)
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(tmp_path / "log"), "busy"],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        p = ck.Producer({"bootstrap.servers": url, "transactional.id": "busy"})
        assert flags(p.init_transactions, 0.2) == ("_TIMED_OUT", True, False, False)
        conflict = ("_CONFLICT", True, False, False)
        assert flags(p.begin_transaction) == conflict
        assert flags(p.commit_transaction, 0.2) == conflict
        assert flags(p.abort_transaction, 0.2) == conflict
    finally:
        holder.stdin.close()
        holder.wait(30)
    p.init_transactions(10)     # resumes, as librdkafka's does
    p.begin_transaction()
    p.produce("t", b"x", partition=0)
    p.commit_transaction()
    assert read(url)[0] == [b"x"]
    p.close()
