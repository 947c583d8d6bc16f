"""The Producer (issue 3): Kafka-compatible key placement, sticky / round-robin / explicit /
custom partitioning, futures, ordering across threads and processes, serializers,
backpressure, flush/close and the atexit flush, errors of the write, headers and timestamps.

Everything runs against real files in tmp_path; cross-process behaviour uses real OS
processes (multiprocessing "spawn", or a subprocess). A "slow writer" is made by holding the
partition's append.lock flock from another process, exactly as a concurrent appender would.
"""
import fcntl
import multiprocessing
import os
import random
import struct
import subprocess
import sys
import textwrap
import threading
import time
from contextlib import contextmanager

import pytest
from hypothesis import given, settings, strategies as st

import eventlog
from eventlog._os.clock import ManualClock
from eventlog.clients import partitioners
from eventlog.clients import serde
from eventlog.errors import (BufferFullError, EventLogError, InvalidArgumentError, InvalidTypeError,
                             KafkaTimeoutError, ProducerClosedError, RecordTooLargeError,
                             SerializationError, UnknownTopicError)
from eventlog.record import RecordMetadata

SPAWN = multiprocessing.get_context("spawn")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture
def log(any_log):
    """A directory, and (parametrized) the session's Kafka broker: see backend_fixtures.py."""
    return any_log


def read_all(part):
    out, off = [], part.start_offset
    while True:
        recs = part.read(off, max_records=10_000)
        if not recs:
            return out
        out += recs
        off = recs[-1].offset + 1


def topic_records(log, name):
    return [read_all(p) for p in log.topic(name).partitions]


def outcome(fn):
    """The error of an operation that may raise at once or fail its future: the exception,
    or None if it succeeded."""
    try:
        fut = fn()
    except Exception as e:  # noqa: BLE001 - we return it for the caller to judge
        return e
    return fut.exception(timeout=10)


# ---------------------------------------------------------------------------------------------
# Kafka's murmur2, written here independently of eventlog (a line-by-line port of
# org.apache.kafka.common.utils.Utils.murmur2 with Java's 32-bit int arithmetic)

def _i32(x):
    x &= 0xFFFFFFFF
    return x - (1 << 32) if x & 0x80000000 else x


def _ushr(x, n):  # Java's >>> on an int
    return (x & 0xFFFFFFFF) >> n


def ref_murmur2(data: bytes) -> int:
    length = len(data)
    m, r = 0x5BD1E995, 24
    h = _i32(0x9747B28C ^ length)
    for i in range(length // 4):
        i4 = i * 4
        k = _i32(data[i4] + (data[i4 + 1] << 8) + (data[i4 + 2] << 16) + (data[i4 + 3] << 24))
        k = _i32(k * m)
        k ^= _ushr(k, r)
        k = _i32(k)
        k = _i32(k * m)
        h = _i32(h * m)
        h = _i32(h ^ k)
    rest = length % 4
    tail = length & ~3
    if rest == 3:
        h = _i32(h ^ (data[tail + 2] << 16))
    if rest >= 2:
        h = _i32(h ^ (data[tail + 1] << 8))
    if rest >= 1:
        h = _i32(h ^ data[tail])
        h = _i32(h * m)
    h = _i32(h ^ _ushr(h, 13))
    h = _i32(h * m)
    h = _i32(h ^ _ushr(h, 15))
    return h


def ref_partition(key: bytes, n: int) -> int:
    return (ref_murmur2(key) & 0x7FFFFFFF) % n


# ---------------------------------------------------------------------------------------------
# Key placement

KAFKA_VECTORS = [(b"21", -973932308), (b"foobar", -790332482), (b"abc", 479470107)]


@pytest.mark.parametrize("key,expected", KAFKA_VECTORS)
def test_murmur2_matches_kafkas_own_test_vectors(key, expected):
    assert ref_murmur2(key) == expected  # the reference is right...
    assert partitioners.murmur2(key) == expected  # ...and so is eventlog's


@settings(max_examples=2000, deadline=None)
@given(st.binary(max_size=300))
def test_murmur2_matches_the_reference_for_any_bytes(key):
    assert partitioners.murmur2(key) == ref_murmur2(key)


@pytest.mark.parametrize("n", [1, 3, 7, 16])
def test_keyed_records_land_where_kafka_puts_them(log, n):
    log.create_topic("k", partitions=n)
    rng = random.Random(n)
    keys = [rng.randbytes(rng.choice([0, 1, 2, 3, 4, 5, 8, 13, 36, 64, 65, 100, 300])) for _ in range(1500)]
    keys += [b"21", b"foobar", b"abc", b"", b"user-1"]
    with log.producer(linger_ms=2) as p:
        # each key twice: the first send hashes it, the second takes the cached fast path
        futs = [(k, p.send("k", value=b"v", key=k)) for k in keys + keys]
        p.flush()
    for k, f in futs:
        assert f.result().partition == ref_partition(k, n), k
    # and what was written agrees with the futures
    by_part = topic_records(log, "k")
    for recs in by_part:
        for r in recs:
            assert r.partition == ref_partition(r.key, n)
    assert sum(map(len, by_part)) == 2 * len(keys)


def test_keyed_placement_with_a_key_serializer(log):
    log.create_topic("k", partitions=5)
    with log.producer(key_serializer=serde.str_serializer) as p:
        futs = {k: p.send("k", value=b"v", key=k) for k in (f"user-{i}" for i in range(300))}
        p.flush()
    for k, f in futs.items():
        assert f.result().partition == ref_partition(k.encode(), 5)


# ---------------------------------------------------------------------------------------------
# Sticky, round-robin, explicit and custom partitioners

def _runs(seq):
    runs = []
    for x in seq:
        if runs and runs[-1][0] == x:
            runs[-1][1] += 1
        else:
            runs.append([x, 1])
    return runs


@pytest.mark.directory_only(reason="keyless records use librdkafka's sticky partitioner on a cluster (its batches, its linger): docs/kafka.md")
def test_unkeyed_records_fill_one_partition_per_batch_and_spread_over_all(log):
    log.create_topic("s", partitions=4)
    n = 4000
    with log.producer(linger_ms=60_000, batch_size=2000) as p:
        futs = [p.send("s", b"x" * 100) for _ in range(n)]
        p.flush()
    parts = [f.result().partition for f in futs]
    runs = _runs(parts)
    # a batch fills one partition: every run but the last is one whole batch, all the same size
    sizes = {length for _p, length in runs[:-1]}
    assert len(sizes) == 1 and sizes.pop() > 1
    assert len(runs) > 100
    counts = [parts.count(i) for i in range(4)]
    assert all(c > n * 0.1 for c in counts), counts
    # within each partition, offsets follow the send order
    for i in range(4):
        offs = [f.result().offset for f, q in zip(futs, parts) if q == i]
        assert offs == list(range(len(offs)))


def test_sticky_partition_moves_on_linger_too(log):
    log.create_topic("s", partitions=3)
    seen = set()
    with log.producer(linger_ms=0) as p:
        for _ in range(200):
            seen.add(p.send("s", b"x").result(timeout=10).partition)
    assert seen == {0, 1, 2}


@pytest.mark.parametrize("part", ["round_robin", partitioners.RoundRobinPartitioner()])
def test_round_robin_spreads_evenly_and_ignores_keys(log, part):
    log.create_topic("rr", partitions=3)
    with log.producer(partitioner=part, linger_ms=1) as p:
        futs = [p.send("rr", b"v%d" % i, key=(b"same" if i % 2 else None)) for i in range(300)]
        p.flush()
    assert [f.result().partition for f in futs] == [i % 3 for i in range(300)]
    assert [len(r) for r in topic_records(log, "rr")] == [100, 100, 100]


def test_explicit_partition_wins_over_key_and_partitioner(log):
    log.create_topic("e", partitions=4)
    with log.producer(partitioner=lambda k, n: 0) as p:
        fs = [p.send("e", b"v", key=b"k%d" % i, partition=i % 4) for i in range(40)]
        p.flush()
    assert [f.result().partition for f in fs] == [i % 4 for i in range(40)]
    with log.producer() as p:
        f = p.send("e", b"v", key=b"abc", partition=0)
        assert f.result(timeout=10).partition == 0 != ref_partition(b"abc", 4)


@pytest.mark.parametrize("bad", [4, 5, -1, 2**40, "1", 1.0, True, None.__class__])
def test_explicit_partition_out_of_range_or_of_wrong_type_is_an_error_never_wrapped(log, bad):
    log.create_topic("e", partitions=4)
    with log.producer() as p:
        err = outcome(lambda: p.send("e", b"v", key=b"k", partition=bad))
        assert isinstance(err, EventLogError), err
        p.flush()
    assert [len(r) for r in topic_records(log, "e")] == [0, 0, 0, 0]


def test_custom_partitioner_function_and_object(log):
    log.create_topic("c", partitions=5)
    calls = []

    class Last:
        def __call__(self, key, count):
            calls.append((key, count))
            return count - 1

    with log.producer(partitioner=Last(), key_serializer=serde.str_serializer) as p:
        f1 = p.send("c", b"v", key="alice")
        f2 = p.send("c", b"v")
        p.flush()
    assert f1.result().partition == f2.result().partition == 4
    assert calls == [(b"alice", 5), (None, 5)]  # the serialized key, the partition count

    with log.producer(partitioner=lambda key, n: len(key or b"") % n) as p:
        assert p.send("c", b"v", key=b"xy").result(timeout=10).partition == 2


@pytest.mark.parametrize("result", [5, 6, 10**9, -1, 2.0, None, "0", True])
def test_custom_partitioner_returning_a_bad_partition_fails_and_writes_nothing(log, result):
    log.create_topic("c", partitions=5)
    with log.producer(partitioner=lambda key, n: result) as p:
        err = outcome(lambda: p.send("c", b"v", key=b"k"))
        assert isinstance(err, EventLogError)
        assert "partition" in str(err)
        p.flush()
        assert p.send("c", b"ok", key=b"k", partition=0).result(timeout=10).offset == 0
    assert [len(r) for r in topic_records(log, "c")] == [1, 0, 0, 0, 0]


def test_custom_partitioner_that_raises_surfaces_its_error(log):
    log.create_topic("c", partitions=2)

    def boom(key, n):
        raise RuntimeError("partitioner broke")

    with log.producer(partitioner=boom) as p:
        err = outcome(lambda: p.send("c", b"v", key=b"k"))
        assert isinstance(err, Exception) and "partitioner broke" in str(err)
        p.flush()
    assert [len(r) for r in topic_records(log, "c")] == [0, 0]


@pytest.mark.parametrize("bad,exc", [("nope", InvalidArgumentError), (42, InvalidTypeError),
                                     (partitioners.RoundRobinPartitioner, InvalidTypeError)])
def test_bad_partitioner_setting_is_refused(log, bad, exc):
    with pytest.raises(exc):
        log.producer(partitioner=bad)


# ---------------------------------------------------------------------------------------------
# Futures

def test_future_result_metadata_and_state(log):
    log.create_topic("f", partitions=2)
    with log.producer(linger_ms=60_000) as p:
        f = p.send("f", b"v", key=b"k", partition=1, timestamp_ms=1234)
        assert not f.done() and f.running() and not f.cancelled()
        assert f.cancel() is False  # a sent record cannot be recalled
        with pytest.raises(KafkaTimeoutError):
            f.result(timeout=0.05)
        with pytest.raises(TimeoutError):  # KafkaTimeoutError is also a builtin TimeoutError
            f.exception(timeout=0.05)
        p.flush()
        assert f.done() and not f.running()
        meta = f.result(timeout=0)
        assert meta == RecordMetadata("f", 1, 0, 1234)
        assert meta.topic_partition == ("f", 1)
        assert f.exception() is None
        assert f.get(timeout=1) == meta  # kafka-python's name
        assert "offset=0" in repr(f)


def test_future_offsets_match_the_log(log):
    log.create_topic("f", partitions=3)
    with log.producer(linger_ms=1) as p:
        futs = [(i, p.send("f", b"%d" % i, key=b"k%d" % (i % 11))) for i in range(2000)]
    recs = topic_records(log, "f")
    for i, f in futs:
        m = f.result()
        assert recs[m.partition][m.offset].value == b"%d" % i
        assert recs[m.partition][m.offset].timestamp_ms == m.timestamp_ms


def test_done_callbacks_before_and_after_completion(log):
    log.create_topic("f")
    called = []
    done_evt = threading.Event()
    with log.producer(linger_ms=60_000) as p:
        f = p.send("f", b"v")

        def cb(fut):
            called.append(("before", fut, threading.current_thread() is threading.main_thread()))
            done_evt.set()

        f.add_done_callback(cb)
        f.add_done_callback(lambda fut: 1 / 0)  # a failing callback must not break anything
        assert called == []
        p.flush()
        assert done_evt.wait(5)
        assert called[0][1] is f and called[0][1].result().offset == 0
        # after completion: called at once, in the calling thread
        f.add_done_callback(lambda fut: called.append(("after", fut, threading.current_thread()
                                                       is threading.main_thread())))
        assert called[-1] == ("after", f, True)
        assert len(called) == 2
        f2 = p.send("f", b"w")
        p.flush()
        assert f2.result(timeout=10).offset == 1  # the sender survived 1/0


def test_every_callback_runs_exactly_once_under_load(log):
    log.create_topic("f", partitions=2)
    n = 3000
    count = [0]
    lock = threading.Lock()
    all_done = threading.Event()

    def cb(fut):
        with lock:
            count[0] += 1
            if count[0] == n:
                all_done.set()

    with log.producer(linger_ms=0) as p:
        for i in range(n):
            p.send("f", b"v", key=b"%d" % (i % 7)).add_done_callback(cb)
        p.flush()
    assert all_done.wait(10)
    time.sleep(0.05)
    assert count[0] == n


def test_flush_or_close_inside_a_callback_does_not_deadlock(log):
    log.create_topic("f")
    res = []
    p = log.producer(linger_ms=1)

    def flush_cb(fut):
        try:
            p.flush(timeout=5)
            res.append("flushed")
        except EventLogError as e:
            res.append(e)

    p.send("f", b"1").add_done_callback(flush_cb)
    f2 = p.send("f", b"2")
    p.flush(timeout=10)
    assert len(res) == 1 and isinstance(res[0], EventLogError) and "callback" in str(res[0])
    assert f2.result(timeout=0).offset == 1
    # close() from a callback refuses further sends without waiting for itself
    p.send("f", b"3").add_done_callback(lambda fut: p.close())
    p.flush(timeout=10)
    with pytest.raises(ProducerClosedError):
        p.send("f", b"4")
    p.close()
    assert [r.value for r in read_all(log.topic("f").partition(0))] == [b"1", b"2", b"3"]


def test_failed_future_raises_its_error_and_calls_callbacks(log):
    with log.producer() as p:
        f = p.send("no-such-topic", b"v")
        got = []
        f.add_done_callback(got.append)
        assert got == [f] and f.done()
        assert isinstance(f.exception(), UnknownTopicError)
        with pytest.raises(UnknownTopicError, match="create_topic"):
            f.result()


# ---------------------------------------------------------------------------------------------
# Ordering: threads sharing one producer; several producer processes

_SEQ = struct.Struct("<II")  # (writer id, sequence number)


def test_order_per_partition_and_per_key_with_threads_sharing_a_producer(log):
    log.create_topic("o", partitions=3)
    nthreads, per = 4, 3000
    futs = [None] * nthreads
    start = threading.Barrier(nthreads)
    with log.producer(linger_ms=1, batch_size=4096) as p:
        def run(tid):
            start.wait()
            out = []
            for s in range(per):
                if s % 3 == 2:  # some unkeyed records, some with an explicit partition
                    out.append(p.send("o", _SEQ.pack(tid, s), partition=s % 3))
                else:
                    out.append(p.send("o", _SEQ.pack(tid, s), key=b"t%d-k%d" % (tid, s % 5)))
            futs[tid] = out

        ts = [threading.Thread(target=run, args=(t,)) for t in range(nthreads)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        p.flush()
    recs = topic_records(log, "o")
    seen = set()
    for part in recs:
        assert [r.offset for r in part] == list(range(len(part)))  # dense
        last_by_writer, last_by_key = {}, {}
        for r in part:
            tid, s = _SEQ.unpack(r.value)
            assert last_by_writer.get(tid, -1) < s  # per partition: each thread's send order
            last_by_writer[tid] = s
            if r.key is not None:
                assert last_by_key.get(r.key, -1) < s  # per key
                last_by_key[r.key] = s
            seen.add((tid, s))
    assert len(seen) == nthreads * per == sum(map(len, recs))
    for tid in range(nthreads):
        for s, f in enumerate(futs[tid]):
            m = f.result()
            assert _SEQ.unpack(recs[m.partition][m.offset].value) == (tid, s)


def _producer_process(path, topic, wid, n, start, results):
    log = eventlog.open(path)
    start.wait(30)
    out = []
    with log.producer(linger_ms=2, batch_size=8192) as p:
        for s in range(n):
            out.append(p.send(topic, _SEQ.pack(wid, s), key=b"w%d-%d" % (wid, s % 4)))
    results.put((wid, [(f.result().partition, f.result().offset) for f in out]))
    log.close()


def test_several_producer_processes_to_one_topic(tmp_path):
    path = str(tmp_path / "data")
    log = eventlog.open(path)
    log.create_topic("mp", partitions=2)
    nproc, n = 3, 3000
    start, results = SPAWN.Event(), SPAWN.Queue()
    procs = [SPAWN.Process(target=_producer_process, args=(path, "mp", w, n, start, results))
             for w in range(nproc)]
    for pr in procs:
        pr.start()
    start.set()
    reported = dict(results.get(timeout=120) for _ in procs)
    for pr in procs:
        pr.join(30)
        assert pr.exitcode == 0
    recs = topic_records(log, "mp")
    assert sum(map(len, recs)) == nproc * n
    for part in recs:
        assert [r.offset for r in part] == list(range(len(part)))  # dense across processes
        last = {}
        for r in part:
            wid, s = _SEQ.unpack(r.value)
            assert last.get(wid, -1) < s  # each producer's order kept
            last[wid] = s
    for wid, where in reported.items():
        for s, (p, off) in enumerate(where):
            assert _SEQ.unpack(recs[p][off].value) == (wid, s)
    log.close()


# ---------------------------------------------------------------------------------------------
# Serializers

def test_serializer_errors_raise_from_send_and_write_nothing(log):
    log.create_topic("j", partitions=1)
    with log.producer(value_serializer=serde.json_serializer, key_serializer=serde.str_serializer,
                      linger_ms=60_000) as p:
        ok1 = p.send("j", {"n": 1}, key="a")
        with pytest.raises(SerializationError):
            p.send("j", {"n": {1, 2}}, key="a")  # a set is not JSON
        with pytest.raises(SerializationError):
            p.send("j", {"n": 2}, key=5)  # key not a str
        with pytest.raises(SerializationError):
            p.send("j", float("nan"), key="a")
        ok2 = p.send("j", {"n": 3}, key="a")
        p.flush()
    assert (ok1.result().offset, ok2.result().offset) == (0, 1)
    assert [(r.key, r.value) for r in read_all(log.topic("j").partition(0))] == \
        [(b"a", b'{"n":1}'), (b"a", b'{"n":3}')]


def test_custom_serializer_failures_are_serialization_errors_with_the_cause(log):
    log.create_topic("j")

    def picky(v):
        if v == "bad":
            raise ValueError("no bad values")
        return v.encode()

    with log.producer(value_serializer=picky) as p:
        with pytest.raises(SerializationError, match="value") as ei:
            p.send("j", "bad")
        assert isinstance(ei.value.__cause__, ValueError)
        assert p.send("j", "good").result(timeout=10).offset == 0
    with log.producer(value_serializer=lambda v: "not bytes") as p:
        with pytest.raises(SerializationError, match="not bytes|str"):
            p.send("j", 1)
    with log.producer() as p:
        with pytest.raises(InvalidTypeError, match="value_serializer"):
            p.send("j", "a str without a serializer")
        with pytest.raises(InvalidTypeError):
            p.send("j", b"v", key="str key")
        # bytearray / memoryview are taken as bytes
        assert p.send("j", bytearray(b"ba"), key=memoryview(b"mv")).result(timeout=10).offset == 1
    assert [(r.key, r.value) for r in read_all(log.topic("j").partition(0))] == \
        [(None, b"good"), (b"mv", b"ba")]


@pytest.mark.parametrize("kw,exc", [
    (dict(linger_ms=-1), InvalidArgumentError), (dict(batch_size=0), InvalidArgumentError),
    (dict(buffer_memory="1"), InvalidArgumentError),
    pytest.param(dict(fsync="always"), InvalidArgumentError, marks=pytest.mark.directory_only(
        reason="any fsync= raises UnsupportedOperationError on a cluster")),
    (dict(value_serializer=42), InvalidTypeError), (dict(key_serializer="str"), InvalidTypeError),
])
def test_bad_producer_options(log, kw, exc):
    with pytest.raises(exc):
        log.producer(**kw)


# ---------------------------------------------------------------------------------------------
# Slow writer: another process holds the partition's append lock

def _hold_flock(path, held, release):
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    fcntl.flock(fd, fcntl.LOCK_EX)
    held.set()
    release.wait(120)
    os.close(fd)  # and the kernel would release it anyway when we exit


@contextmanager
def append_lock_held_elsewhere(partition):
    held, release = SPAWN.Event(), SPAWN.Event()
    pr = SPAWN.Process(target=_hold_flock, args=(os.path.join(partition.dir, "append.lock"), held, release))
    pr.start()
    try:
        assert held.wait(60), "the lock-holding process did not start"
        yield
    finally:
        release.set()
        pr.join(30)


@pytest.mark.directory_only(reason="holds the partition's append flock from another process")
def test_backpressure_blocks_send_up_to_max_block_ms_then_raises(log):
    topic = log.create_topic("bp", partitions=1)
    part = topic.partition(0)
    value = b"x" * 100
    p = log.producer(linger_ms=0, batch_size=200, buffer_memory=1000, max_block_ms=300)
    accepted = []
    with append_lock_held_elsewhere(part):
        t0 = time.monotonic()
        with pytest.raises(BufferFullError, match="max_block_ms"):
            for i in range(1000):
                accepted.append(p.send("bp", value, key=b"%d" % i))
        took = time.monotonic() - t0
        # it blocked (about max_block_ms), then raised: backpressure, not unbounded growth
        assert 0.29 <= took < 10
        assert 0 < len(accepted) < 20
        assert not accepted[-1].done()
        with pytest.raises(BufferFullError):  # still full: the next send blocks and raises too
            p.send("bp", value, key=b"again")
        assert part.end_offset == 0
    # the writer is free again: every accepted record is written, the refused ones are not
    p.flush(timeout=30)
    recs = read_all(part)
    assert [r.key for r in recs] == [b"%d" % i for i in range(len(accepted))]
    assert [f.result().offset for f in accepted] == list(range(len(accepted)))
    assert p.send("bp", value, key=b"after").result(timeout=10).offset == len(accepted)
    p.close()


@pytest.mark.directory_only(reason="holds the partition's append flock from another process")
def test_send_waits_for_space_and_succeeds_when_the_writer_catches_up(log):
    topic = log.create_topic("bp", partitions=1)
    part = topic.partition(0)
    p = log.producer(linger_ms=0, batch_size=200, buffer_memory=1000, max_block_ms=30_000)
    futs = []
    with append_lock_held_elsewhere(part):
        def sender():
            for i in range(50):
                futs.append(p.send("bp", b"x" * 100))
        t = threading.Thread(target=sender)
        t.start()
        t.join(0.5)
        assert t.is_alive(), "send should be blocked on the full buffer"
        assert len(futs) < 20
    t.join(30)
    assert not t.is_alive() and len(futs) == 50
    p.close()
    assert len(read_all(part)) == 50


@pytest.mark.directory_only(reason="holds the partition's append flock from another process")
def test_flush_and_close_timeouts_are_bounded(log):
    topic = log.create_topic("t", partitions=1)
    p = log.producer(linger_ms=60_000)
    with append_lock_held_elsewhere(topic.partition(0)):
        f = p.send("t", b"v")
        t0 = time.monotonic()
        with pytest.raises(KafkaTimeoutError):
            p.flush(timeout=0.2)
        assert time.monotonic() - t0 < 5
        t0 = time.monotonic()
        try:
            p.close(timeout=0.2)
        except KafkaTimeoutError:
            pass
        assert time.monotonic() - t0 < 5
        with pytest.raises(ProducerClosedError):
            p.send("t", b"w")
    # the record accepted before close is still written once the lock is free
    assert f.result(timeout=30).offset == 0


# ---------------------------------------------------------------------------------------------
# flush / close

def test_close_flushes_and_send_after_close_raises(log):
    log.create_topic("t", partitions=2)
    p = log.producer(linger_ms=60_000)
    futs = [p.send("t", b"v%d" % i, key=b"k%d" % (i % 3)) for i in range(100)]
    futs += [p.send("t", b"u%d" % i) for i in range(10)]
    assert not any(f.done() for f in futs)
    p.close()
    assert all(f.done() and f.exception() is None for f in futs)
    assert sum(map(len, topic_records(log, "t"))) == 110
    # every path of send refuses: the cached-key fast path, unkeyed, headers, new topic
    for kw in (dict(key=b"k1"), dict(), dict(headers=[("h", b"1")]), dict(partition=0)):
        with pytest.raises(ProducerClosedError):
            p.send("t", b"late", **kw)
    with pytest.raises(ProducerClosedError):
        p.send("other", b"late")
    p.close()  # idempotent
    p.flush()  # nothing to do


def test_context_manager_closes(log):
    log.create_topic("t")
    with log.producer(linger_ms=60_000) as p:
        f = p.send("t", b"v")
    assert f.done()
    with pytest.raises(ProducerClosedError):
        p.send("t", b"v")


def test_closing_the_log_flushes_its_producers(tmp_path):
    log = eventlog.open(tmp_path / "d")
    log.create_topic("t")
    p = log.producer(linger_ms=60_000)
    f = p.send("t", b"v")
    log.close()
    assert f.result(timeout=0).offset == 0


def test_linger_zero_writes_without_flush(log):
    part = log.create_topic("t").partition(0)
    with log.producer(linger_ms=0) as p:
        p.send("t", b"v")
        deadline = time.monotonic() + 5
        while part.end_offset < 1:
            assert time.monotonic() < deadline, "linger_ms=0 did not write within 5 s"
            time.sleep(0.001)


def test_linger_expiry_writes_each_lone_record_promptly(tmp_path):
    """A lone record is written once linger_ms has passed, even when the sender was idle
    (it waits in its idle wait, 0.5 s of the clock, which the clock never reaches here: an
    idle sender that ignored a new batch's linger would never write it)."""
    clock = ManualClock()
    with eventlog.open(tmp_path, clock=clock) as log:
        log.create_topic("t")
        with log.producer(linger_ms=5) as p:
            for i in range(20):
                f = p.send("t", b"v")
                assert not f.done()          # lingering: the clock has not moved
                clock.advance(0.004)
                clock.advance(0.002)         # linger_ms has passed now
                assert f.result(timeout=10).offset == i


def test_batch_size_triggers_a_write_before_linger(log):
    part = log.create_topic("t").partition(0)
    with log.producer(linger_ms=60_000, batch_size=1000) as p:
        futs = [p.send("t", b"x" * 100) for _ in range(12)]  # > 1000 bytes: one batch full
        assert futs[0].result(timeout=10).offset == 0
        assert not futs[-1].done()
    assert len(read_all(part)) == 12


@pytest.mark.directory_only(reason="fsync: a cluster makes records durable by replication")
def test_fsync_batch(log):
    log.create_topic("t")
    with log.producer(fsync="batch") as p:
        assert p.send("t", b"durable").result(timeout=10).offset == 0


_ATEXIT_SCRIPT = textwrap.dedent("""
    import sys
    sys.path.insert(0, {root!r})
    import eventlog
    log = eventlog.open({path!r})
    p = log.producer(linger_ms=600_000, batch_size=10_000_000)
    for i in range({n}):
        p.send("t", b"v%d" % i, key=b"k%d" % (i % 5))
    p.send("t", b"unkeyed")
    print("sent", flush=True)
    # exit without flush() or close()
""")


def test_records_sent_but_not_flushed_are_written_at_interpreter_exit(tmp_path):
    path = str(tmp_path / "d")
    log = eventlog.open(path)
    log.create_topic("t", partitions=3)
    n = 5000
    script = _ATEXIT_SCRIPT.format(root=ROOT, path=path, n=n)
    res = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert "sent" in res.stdout
    recs = topic_records(log, "t")
    values = sorted(r.value for part in recs for r in part)
    assert values == sorted([b"v%d" % i for i in range(n)] + [b"unkeyed"])
    log.close()


# ---------------------------------------------------------------------------------------------
# Errors of the write resolve the future

def test_unknown_topic_fails_the_future_not_send(log):
    with log.producer() as p:
        f = p.send("nope", b"v", key=b"k")
        assert isinstance(f.exception(timeout=5), UnknownTopicError)
        assert isinstance(f.exception(), EventLogError)


@pytest.mark.directory_only(reason="librdkafka keeps retrying records for a deleted topic until message.timeout.ms: docs/kafka.md")
def test_topic_deleted_after_first_use_fails_later_futures(log):
    log.create_topic("t")
    with log.producer(linger_ms=0) as p:
        assert p.send("t", b"v", key=b"k").result(timeout=10).offset == 0
        log.delete_topic("t")
        err = outcome(lambda: p.send("t", b"v", key=b"k"))
        assert isinstance(err, EventLogError)


@pytest.mark.directory_only(reason="Kafka's max.message.bytes bounds the record batch with its overhead, "
                            "not key + value + headers: docs/kafka.md")
def test_too_large_record_fails_its_future_only(log):
    log.create_topic("big", max_record_bytes=1000)
    with log.producer(linger_ms=60_000) as p:
        ok1 = p.send("big", b"a")
        too_big = p.send("big", b"x" * 1001)
        too_big_keyed = p.send("big", b"x" * 990, key=b"k" * 11)
        too_big_headers = p.send("big", b"x" * 990, headers=[("h", b"y" * 20)])
        exact = p.send("big", b"x" * 1000)  # exactly the limit: allowed (as append allows it)
        exact_keyed = p.send("big", b"x" * 990, key=b"k" * 10)
        ok2 = p.send("big", b"b")
        p.flush()
    for f in (too_big, too_big_keyed, too_big_headers):
        assert isinstance(f.exception(), RecordTooLargeError)
        assert "max_record_bytes" in str(f.exception())
    assert [f.result().offset for f in (ok1, exact, exact_keyed, ok2)] == [0, 1, 2, 3]


def test_compacted_topic_needs_keys(log):
    log.create_topic("cmp", cleanup_policy="compact")
    with log.producer() as p:
        f = p.send("cmp", b"v")
        assert isinstance(f.exception(timeout=5), EventLogError)
        assert "key" in str(f.exception())
        assert p.send("cmp", b"v", key=b"k").result(timeout=10).offset == 0
        assert p.send("cmp", None, key=b"k").result(timeout=10).offset == 1  # a tombstone


# ---------------------------------------------------------------------------------------------
# Headers and timestamps

@pytest.mark.directory_only(reason="timestamp_ms=0 means 'now' to librdkafka: docs/kafka.md")
def test_headers_and_explicit_timestamps_round_trip(log):
    part = log.create_topic("h").partition(0)
    now = int(time.time() * 1000)
    with log.producer(linger_ms=60_000) as p:
        fs = [
            p.send("h", b"plain"),
            p.send("h", b"hdr", headers=[("trace", b"1"), ("empty", b""), ("null", None)]),
            p.send("h", b"ts", timestamp_ms=1234),
            p.send("h", b"both", key=b"k", headers=(("a", bytearray(b"2")),), timestamp_ms=0),
            p.send("h", b"plain2"),
        ]
        p.flush()
    recs = read_all(part)
    assert [r.value for r in recs] == [b"plain", b"hdr", b"ts", b"both", b"plain2"]
    assert recs[1].headers == (("trace", b"1"), ("empty", b""), ("null", None))
    assert recs[3].headers == (("a", b"2"),)
    assert recs[0].headers == recs[2].headers == recs[4].headers == ()
    assert recs[2].timestamp_ms == 1234 and recs[3].timestamp_ms == 0
    assert abs(recs[0].timestamp_ms - now) < 60_000
    for f, r in zip(fs, recs):
        assert f.result().timestamp_ms == r.timestamp_ms
        assert f.result().offset == r.offset


@pytest.mark.parametrize("kw,exc", [
    (dict(headers=[("h", "str value")]), InvalidTypeError),
    (dict(headers=[(b"bytes name", b"v")]), InvalidTypeError),
    (dict(headers=[("only-name",)]), InvalidTypeError),
    (dict(headers="h=v"), InvalidTypeError),
    (dict(timestamp_ms=-1), InvalidArgumentError),
    (dict(timestamp_ms=1.5), InvalidArgumentError),
    (dict(timestamp_ms=True), InvalidArgumentError),
    (dict(timestamp_ms=2**63), InvalidArgumentError),
    (dict(headers=[("h", b"1")], timestamp_ms="now"), InvalidArgumentError),
])
def test_bad_headers_or_timestamp_raise_and_leave_the_batch_intact(log, kw, exc):
    part = log.create_topic("h").partition(0)
    with log.producer(linger_ms=60_000) as p:
        before = p.send("h", b"before", headers=[("n", b"0")], timestamp_ms=5)
        with pytest.raises(exc):
            p.send("h", b"bad", **kw)
        after = p.send("h", b"after", headers=[("n", b"2")], timestamp_ms=7)
        p.flush()
    assert before.exception() is None and after.exception() is None
    recs = read_all(part)
    assert [(r.value, r.headers, r.timestamp_ms) for r in recs] == \
        [(b"before", (("n", b"0"),), 5), (b"after", (("n", b"2"),), 7)]


def test_keyed_records_without_headers_after_one_with_headers_in_one_batch(log):
    """The second and third sends take the cached-key fast path into a batch that already
    holds a record with headers and a timestamp."""
    part = log.create_topic("h").partition(0)
    with log.producer(linger_ms=60_000) as p:
        fs = [p.send("h", b"0", key=b"k", headers=[("a", b"1")], timestamp_ms=42),
              p.send("h", b"1", key=b"k"),
              p.send("h", b"2", key=b"k"),
              p.send("h", b"3", key=b"k", timestamp_ms=43)]
        p.flush()
    assert [f.exception() for f in fs] == [None] * 4
    recs = read_all(part)
    assert [(r.value, r.headers) for r in recs] == \
        [(b"0", (("a", b"1"),)), (b"1", ()), (b"2", ()), (b"3", ())]
    assert (recs[0].timestamp_ms, recs[3].timestamp_ms) == (42, 43)
    assert recs[1].timestamp_ms == fs[1].result().timestamp_ms != 42


@pytest.mark.directory_only(reason="reads the segment files' batch layout")
def test_batches_written_together_keep_each_records_headers_and_timestamp(log):
    """While the writer is blocked, sealed batches pile up; they are then written as one
    on-disk batch. Every record must keep its own headers, timestamp and offset."""
    part = log.create_topic("h").partition(0)
    p = log.producer(linger_ms=60_000, batch_size=250)
    futs = []
    with append_lock_held_elsewhere(part):
        for i in range(60):
            kw = {}
            if i % 3 == 0:
                kw["headers"] = [("i", b"%d" % i)]
            if i % 4 == 0:
                kw["timestamp_ms"] = 1_000_000 + i
            futs.append(p.send("h", b"%03d" % i + b"." * 97, key=b"k" if i % 5 else None, **kw))
        time.sleep(0.1)
    p.flush(timeout=30)
    p.close()
    recs = read_all(part)
    assert len(recs) == 60
    for i, (f, r) in enumerate(zip(futs, recs)):
        m = f.result()
        assert (m.offset, r.offset, r.value[:3]) == (i, i, b"%03d" % i)
        assert r.headers == ((("i", b"%d" % i),) if i % 3 == 0 else ())
        if i % 4 == 0:
            assert r.timestamp_ms == 1_000_000 + i
        assert m.timestamp_ms == r.timestamp_ms
        assert r.key == (b"k" if i % 5 else None)


def test_partitions_for(log):
    log.create_topic("t", partitions=3)
    with log.producer() as p:
        assert p.partitions_for("t") == [0, 1, 2]
        with pytest.raises(UnknownTopicError):
            p.partitions_for("nope")


def test_the_producers_lock_excludes_other_threads():
    # send's lock is a _Mutex (a SimpleQueue token: half the cost of threading.Lock per
    # send); it must exclude like one, also when the holder gives the GIL away inside
    from eventlog.clients.producer import _Mutex
    m = _Mutex()
    count = [0]

    def work():
        for _ in range(500):
            with m:
                c = count[0]
                time.sleep(0)  # another thread runs here; without exclusion it loses updates
                count[0] = c + 1

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert count[0] == 2000
    assert m.q.qsize() == 1  # the one token is back


def test_kept_futures_do_not_keep_the_written_records_bytes(tmp_path):
    # a sealed batch holds a copy of its records' bytes until the sender has written it;
    # a future kept afterwards (users keep them, e.g. in a list to check later) must not
    # keep that copy alive: 2,000 futures of 10 KB records would otherwise hold 20 MB
    import gc
    import tracemalloc
    log = eventlog.open(str(tmp_path))
    log.create_topic("t", partitions=2)
    with log.producer(linger_ms=60_000) as pr:
        pr.send("t", value=b"warm", key=b"k0")
        pr.flush(30)
        tracemalloc.start()
        try:
            gc.collect()
            before = tracemalloc.get_traced_memory()[0]
            futures = [pr.send("t", value=os.urandom(10_000), key=b"k%d" % (i % 7)) for i in range(2000)]
            pr.flush(30)
            gc.collect()
            held = tracemalloc.get_traced_memory()[0] - before
        finally:
            tracemalloc.stop()
        assert len({(m.partition, m.offset) for m in (f.result(0) for f in futures)}) == 2000
    assert held < 2_000_000, held
    log.close()
