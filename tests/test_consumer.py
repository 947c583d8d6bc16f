"""The Consumer (issue 4): assign / poll / commit / resume, seeks, pause, reset policies
(including after the log start offset moved), deserializers, offset stores (in memory, and
the file store across processes and after kill -9 of the committer), wake-ups by appends of
another process, iteration, fairness, max_records, positions, and bad input.

Real files in tmp_path; cross-process behaviour uses real OS processes (multiprocessing
"spawn"). No timing assertions other than generous upper bounds.
"""
import glob
import json
import multiprocessing
import os
import signal
import threading
import time

import pytest

import eventlog
from eventlog import MemoryOffsetStore, TopicPartition as TP
from eventlog.clients import serde
from eventlog.errors import (ConsumerClosedError, EventLogError, IllegalStateError, InvalidArgumentError,
                             InvalidTypeError, NoOffsetForPartitionError, OffsetOutOfRangeError,
                             SerializationError, UnknownPartitionError, UnknownTopicError)
from eventlog.offsets import FileOffsetStore

SPAWN = multiprocessing.get_context("spawn")


@pytest.fixture
def log(any_log):
    """A directory, and (parametrized) the session's Kafka broker: see backend_fixtures.py."""
    return any_log


def fill(part, n, start=0, key=None, size=0):
    """Append records whose values are their sequence numbers (from `start`)."""
    pad = b"." * size
    recs = [(key, b"%d" % i + pad) for i in range(start, start + n)]
    for i in range(0, n, 1000):
        part.append_batch(recs[i:i + 1000])


def vals(recs):
    return [int(r.value.rstrip(b".")) for r in recs]


def drain(c, max_records=None, rounds=1000):
    """Everything available now. A directory's poll(timeout=0) reads the files; a cluster's
    fetch is asynchronous, so there the end is three empty polls of 0.3 s in a row."""
    out = []
    quiet = 3 if type(c).__name__ == "KafkaConsumer" else 1
    empty = 0
    for _ in range(rounds):
        got = c.poll(timeout=0 if quiet == 1 else 0.3, max_records=max_records)
        if not got:
            empty += 1
            if empty >= quiet:
                return out
            continue
        empty = 0
        out += got
    return out


# ---------------------------------------------------------------------------------------------
# assign / poll / commit / resume

def test_poll_commit_and_resume_in_a_new_consumer(log):
    t = log.create_topic("t", partitions=2)
    fill(t.partition(0), 100)
    fill(t.partition(1), 50)
    tps = [TP("t", 0), TP("t", 1)]
    with log.consumer(group_id="g", auto_offset_reset="earliest", enable_auto_commit=False) as c:
        c.assign(tps)
        assert c.assignment() == set(tps)
        assert c.committed(tps[0]) is None
        got = []
        while len(got) < 60:
            got += c.poll(timeout=1, max_records=20)
        c.commit()
        pos = {tp: c.position(tp) for tp in tps}
        assert c.committed(tps[0]) == pos[tps[0]] and c.committed(tps[1]) == pos[tps[1]]
        by = {tp: [r.offset for r in got if (r.topic, r.partition) == tp] for tp in tps}
        for tp in tps:  # positions are right after the records returned, nothing skipped
            assert by[tp] == list(range(len(by[tp])))
            assert pos[tp] == len(by[tp])
    with log.consumer(group_id="g", auto_offset_reset="latest", enable_auto_commit=False) as c2:
        c2.assign(tps)
        assert {tp: c2.position(tp) for tp in tps} == pos  # the committed offsets, not "latest"
        rest = drain(c2)
        assert len(rest) == 150 - len(got)
        assert sorted((r.partition, r.offset) for r in got + rest) == \
            [(0, i) for i in range(100)] + [(1, i) for i in range(50)]


def test_commit_explicit_offsets(log):
    t = log.create_topic("t")
    fill(t.partition(0), 10)
    tp = TP("t", 0)
    with log.consumer(group_id="g", enable_auto_commit=False) as c:
        c.assign([tp])
        c.commit({tp: 7})
        assert c.committed(tp) == 7
        c.commit({("t", 0): 8})  # plain tuples are taken
        assert c.committed(tp) == 8
    with log.consumer(group_id="g", auto_offset_reset="error") as c:
        c.assign([tp])
        assert vals(c.poll(timeout=1)) == [8, 9]


def _consume_and_commit(path, group, n, out):
    log = eventlog.open(path)
    c = log.consumer(group_id=group, auto_offset_reset="earliest", enable_auto_commit=False)
    c.assign([TP("t", 0)])
    got = []
    while len(got) < n:
        got += c.poll(timeout=5, max_records=n - len(got))
    c.commit()
    out.put([r.offset for r in got])
    c.close()
    log.close()


def test_resume_from_the_committed_offset_in_another_process(tmp_path):
    path = str(tmp_path / "d")
    log = eventlog.open(path)
    fill(log.create_topic("t").partition(0), 100)
    out = SPAWN.Queue()
    for expected_start in (0, 30, 60):
        pr = SPAWN.Process(target=_consume_and_commit, args=(path, "g", 30, out))
        pr.start()
        offsets = out.get(timeout=60)
        pr.join(30)
        assert pr.exitcode == 0
        assert offsets == list(range(expected_start, expected_start + 30))
    with log.consumer(group_id="g", enable_auto_commit=False) as c:
        c.assign([TP("t", 0)])
        assert c.committed(TP("t", 0)) == 90
        assert vals(drain(c)) == list(range(90, 100))
    log.close()


def test_auto_commit_commits_returned_positions_on_poll_and_close(log):
    fill(log.create_topic("t").partition(0), 20)
    tp = TP("t", 0)
    c = log.consumer(group_id="g", auto_offset_reset="earliest", enable_auto_commit=True,
                     auto_commit_interval_ms=0)
    c.assign([tp])
    assert len(c.poll(timeout=1, max_records=5)) == 5
    assert c.committed(tp) is None  # commits happen at the start of a poll (and on close)
    assert len(c.poll(timeout=1, max_records=5)) == 5
    assert c.committed(tp) == 5
    c.close()
    with log.consumer(group_id="g", enable_auto_commit=False) as c2:
        c2.assign([tp])
        assert c2.committed(tp) == 10
        assert vals(c2.poll(timeout=1)) == list(range(10, 20))


@pytest.mark.directory_only(reason="reads the file offset store")
def test_auto_commit_is_off_without_a_group_and_close_does_not_commit_when_disabled(log):
    fill(log.create_topic("t").partition(0), 5)
    c = log.consumer(group_id="g", auto_offset_reset="earliest", enable_auto_commit=False)
    c.assign([TP("t", 0)])
    assert len(c.poll(timeout=1)) == 5
    c.close()
    assert FileOffsetStore(log.path).committed("g", [TP("t", 0)]) == {TP("t", 0): None}
    c2 = log.consumer(auto_offset_reset="earliest")  # no group: no commits, nothing to fail
    assert c2.enable_auto_commit is False
    c2.assign([TP("t", 0)])
    assert len(c2.poll(timeout=1)) == 5
    c2.close()


# ---------------------------------------------------------------------------------------------
# seeks

def test_every_seek_variant(log):
    t = log.create_topic("t", partitions=2)
    fill(t.partition(0), 100)
    fill(t.partition(1), 10)
    a, b = TP("t", 0), TP("t", 1)
    with log.consumer(auto_offset_reset="earliest") as c:
        c.assign([a, b])
        c.seek(a, 42)
        assert c.position(a) == 42
        c.pause([b])
        assert vals(c.poll(timeout=1, max_records=3)) == [42, 43, 44]
        c.seek(a, 0)
        assert vals(c.poll(timeout=1, max_records=1)) == [0]
        c.seek(a, 100)  # the end: nothing yet
        assert c.poll(timeout=0) == []
        fill(t.partition(0), 1, start=100)
        assert vals(c.poll(timeout=5)) == [100]
        c.resume([b])

        c.seek_to_beginning()
        assert c.position(a) == 0 and c.position(b) == 0
        c.seek_to_end()
        assert c.position(a) == 101 and c.position(b) == 10
        c.seek_to_beginning([b])
        assert (c.position(a), c.position(b)) == (101, 0)
        c.seek_to_end([b])
        c.seek_to_beginning(a)  # a single TopicPartition is taken too
        assert (c.position(a), c.position(b)) == (0, 10)
        assert c.beginning_offsets([a, b]) == {a: 0, b: 0}
        assert c.end_offsets([a, b]) == {a: 101, b: 10}


def test_seek_by_time(log):
    p = log.create_topic("t").partition(0)
    for i in range(10):
        p.append(b"%d" % i, timestamp_ms=1000 + 100 * i)
    tp = TP("t", 0)
    with log.consumer() as c:
        c.assign([tp])
        found = c.offsets_for_times({tp: 1250})
        assert found == {tp: 3}
        c.seek(tp, found[tp])
        assert vals(c.poll(timeout=1)) == list(range(3, 10))
        assert c.offsets_for_times({tp: 10**12}) == {tp: None}


@pytest.mark.directory_only(reason="poll(timeout=0) reads the files at once on a directory; a cluster's fetch is asynchronous")
def test_seek_past_the_end_follows_auto_offset_reset(log):
    fill(log.create_topic("t").partition(0), 10)
    tp = TP("t", 0)
    with log.consumer(auto_offset_reset="earliest") as c:
        c.assign([tp])
        c.seek(tp, 500)
        assert vals(c.poll(timeout=1)) == list(range(10))
    with log.consumer(auto_offset_reset="latest") as c:
        c.assign([tp])
        c.seek(tp, 500)
        assert c.poll(timeout=0) == []
        assert c.position(tp) == 10
    with log.consumer(auto_offset_reset="error") as c:
        c.assign([tp])
        c.seek(tp, 500)
        with pytest.raises(OffsetOutOfRangeError, match=r"t.*0\.\.10"):
            c.poll(timeout=0)


# ---------------------------------------------------------------------------------------------
# pause / resume

def test_pause_and_resume(log):
    t = log.create_topic("t", partitions=2)
    fill(t.partition(0), 10)
    fill(t.partition(1), 10)
    a, b = TP("t", 0), TP("t", 1)
    with log.consumer(auto_offset_reset="earliest") as c:
        c.assign([a, b])
        c.pause([a])
        assert c.paused() == {a}
        got = drain(c)
        assert {r.partition for r in got} == {1} and len(got) == 10
        assert c.position(a) == 0
        fill(t.partition(0), 5, start=10)
        assert c.poll(timeout=0.2) == []  # paused data does not wake or return
        c.resume([a])
        assert c.paused() == set()
        assert vals(drain(c)) == list(range(15))


def test_pause_keeps_records_already_fetched_for_later(log):
    fill(log.create_topic("t").partition(0), 50)
    a = TP("t", 0)
    with log.consumer(auto_offset_reset="earliest") as c:
        c.assign([a])
        assert vals(c.poll(timeout=1, max_records=5)) == list(range(5))
        c.pause(a)
        assert c.poll(timeout=0) == []
        c.resume(a)
        assert vals(drain(c)) == list(range(5, 50))


# ---------------------------------------------------------------------------------------------
# reset policies

@pytest.mark.directory_only(reason="poll(timeout=0) reads the files at once on a directory; a cluster's fetch is asynchronous")
def test_reset_policies_without_a_committed_offset(log):
    p = log.create_topic("t").partition(0)
    fill(p, 10)
    tp = TP("t", 0)
    with log.consumer(group_id="g", auto_offset_reset="earliest") as c:
        c.assign([tp])
        assert vals(c.poll(timeout=1)) == list(range(10))
    with log.consumer(group_id="g2", auto_offset_reset="latest") as c:
        c.assign([tp])
        assert c.poll(timeout=0) == []
        assert c.position(tp) == 10
        fill(p, 2, start=10)
        assert vals(c.poll(timeout=5)) == [10, 11]
    with log.consumer(group_id="g3", auto_offset_reset="error") as c:
        c.assign([tp])
        with pytest.raises(NoOffsetForPartitionError):
            c.poll(timeout=0)
        with pytest.raises(OffsetOutOfRangeError):  # NoOffsetForPartitionError is one
            c.position(tp)
        c.seek(tp, 4)
        assert vals(c.poll(timeout=1)) == list(range(4, 12))


def test_default_reset_is_latest_as_in_kafka(log):
    fill(log.create_topic("t").partition(0), 10)
    with log.consumer() as c:
        c.assign([TP("t", 0)])
        assert c.position(TP("t", 0)) == 10


def _drop_first_segments(part, keep_from):
    """Simulate retention: delete whole segments below `keep_from` and move the log start."""
    for path in glob.glob(os.path.join(part.dir, "*.log")):
        base = int(os.path.basename(path)[:20])
        if base < keep_from:
            for ext in (".log", ".index", ".timeindex"):
                try:
                    os.unlink(path[:-4] + ext)
                except FileNotFoundError:
                    pass
    part._write_start(keep_from)


def _segmented_partition(log, n=200):
    """A partition of many small segments; returns it and the base of its third segment."""
    p = log.create_topic("t", segment_bytes=1024).partition(0)
    for i in range(0, n, 5):
        p.append_batch([(None, b"%d" % j + b"." * 100) for j in range(i, i + 5)])
    bases = sorted(int(os.path.basename(f)[:20]) for f in glob.glob(os.path.join(p.dir, "*.log")))
    assert len(bases) > 5, "the test needs several segments"
    return p, bases[2]


@pytest.mark.directory_only(reason="needs segments of 1 KiB; Kafka's segment.bytes minimum is 1 MiB")
@pytest.mark.parametrize("policy", ["earliest", "latest", "error"])
def test_reset_after_the_start_offset_moved_past_the_committed_offset(log, policy):
    p, new_start = _segmented_partition(log)
    tp = TP("t", 0)
    with log.consumer(group_id="g", auto_offset_reset="earliest", enable_auto_commit=False) as c:
        c.assign([tp])
        assert vals(c.poll(timeout=1, max_records=3)) == [0, 1, 2]
        c.commit()
    _drop_first_segments(p, new_start)
    assert p.start_offset == new_start and p.end_offset == 200
    with log.consumer(group_id="g", auto_offset_reset=policy, enable_auto_commit=False) as c:
        c.assign([tp])
        assert c.committed(tp) == 3
        if policy == "earliest":
            assert vals(drain(c))[:1] == [new_start]
            assert c.position(tp) == 200
        elif policy == "latest":
            assert drain(c) == []
            assert c.position(tp) == 200
        else:
            with pytest.raises(OffsetOutOfRangeError) as ei:
                c.poll(timeout=0)
            assert "t" in str(ei.value) and f"{new_start}..200" in str(ei.value)
            c.seek_to_beginning()
            assert vals(c.poll(timeout=1, max_records=1)) == [new_start]


@pytest.mark.directory_only(reason="needs segments of 1 KiB; Kafka's segment.bytes minimum is 1 MiB")
def test_a_running_consumer_below_the_new_start_offset_is_reset(log):
    p, new_start = _segmented_partition(log)
    tp = TP("t", 0)
    with log.consumer(auto_offset_reset="earliest") as c:
        c.assign([tp])
        c.seek(tp, 1)  # positioned, not fetched yet
        _drop_first_segments(p, new_start)
        got = drain(c)
        assert vals(got) == list(range(new_start, 200))


@pytest.mark.directory_only(reason="needs segments of 1 KiB; Kafka's segment.bytes minimum is 1 MiB")
def test_every_segment_removed_then_new_appends_are_read(log):
    p, _ = _segmented_partition(log)
    _drop_first_segments(p, 200)  # retention took everything
    assert (p.start_offset, p.end_offset) == (200, 200)
    with log.consumer(group_id="g", auto_offset_reset="earliest", enable_auto_commit=False) as c:
        c.assign([TP("t", 0)])
        c.commit({TP("t", 0): 5})  # far below the start now
        assert c.poll(timeout=0.1) == []
        assert c.position(TP("t", 0)) == 200
        assert p.append(b"200") == 200
        assert vals(c.poll(timeout=5)) == [200]


@pytest.mark.directory_only(reason="moves the start offset inside a segment file")
def test_start_offset_moved_inside_a_segment(log):
    """delete_records-style: the start offset moves into the middle of a segment."""
    p = log.create_topic("t").partition(0)
    fill(p, 100)
    p._write_start(37)
    assert p.start_offset == 37
    with log.consumer(auto_offset_reset="earliest") as c:
        c.assign([TP("t", 0)])
        assert vals(drain(c)) == list(range(37, 100))
    with log.consumer(auto_offset_reset="error") as c:
        c.assign([TP("t", 0)])
        c.seek(TP("t", 0), 10)
        with pytest.raises(OffsetOutOfRangeError, match=r"37\.\.100"):
            c.poll(timeout=0)


@pytest.mark.directory_only(reason="poll(timeout=0) reads the files at once on a directory; a cluster's fetch is asynchronous")
def test_error_policy_returns_other_partitions_records_before_raising(log):
    t = log.create_topic("t", partitions=2)
    fill(t.partition(0), 10)
    fill(t.partition(1), 10)
    with log.consumer(auto_offset_reset="error") as c:
        c.assign([TP("t", 0), TP("t", 1)])
        c.seek(TP("t", 0), 0)
        c.seek(TP("t", 1), 999)  # out of range
        got = []
        with pytest.raises(OffsetOutOfRangeError):
            for _ in range(4):
                got += c.poll(timeout=0)
        # whatever was returned before the error was not lost: partition 0's records came
        # back whole, or its position did not move
        assert vals(got) == list(range(c.position(TP("t", 0))))


# ---------------------------------------------------------------------------------------------
# deserializers

def test_deserializers(log):
    p = log.create_topic("t").partition(0)
    p.append_batch([(b"k1", b'{"a": 1}'), (None, None), ("ключ".encode(), b"[1, 2]")])
    with log.consumer(auto_offset_reset="earliest", key_deserializer=serde.str_deserializer,
                      value_deserializer=serde.json_deserializer) as c:
        c.assign([TP("t", 0)])
        recs = c.poll(timeout=1)
    assert [(r.key, r.value) for r in recs] == [("k1", {"a": 1}), (None, None), ("ключ", [1, 2])]
    assert [r.offset for r in recs] == [0, 1, 2]


def test_a_failing_deserializer_loses_no_record(log):
    fill(log.create_topic("t").partition(0), 10)
    tp = TP("t", 0)

    def picky(v):
        if v == b"4":
            raise ValueError("not this one")
        return int(v)

    with log.consumer(group_id="g", auto_offset_reset="earliest", value_deserializer=picky,
                      enable_auto_commit=False) as c:
        c.assign([tp])
        got = c.poll(timeout=1)
        assert [r.value for r in got] == [0, 1, 2, 3]  # the records before the bad one
        assert c.position(tp) == 4
        with pytest.raises(SerializationError, match="offset 4") as ei:
            c.poll(timeout=1)
        assert isinstance(ei.value.__cause__, ValueError)
        assert ei.value.offset == 4 and ei.value.topic_partition == tp
        assert c.position(tp) == 4  # still at the bad record
        c.commit()
        assert c.committed(tp) == 4
        c.seek(tp, 5)  # skip it
        assert [r.value for r in c.poll(timeout=1)] == [5, 6, 7, 8, 9]


def test_bad_deserializer_settings(log):
    with pytest.raises(InvalidTypeError):
        log.consumer(value_deserializer="json")


# ---------------------------------------------------------------------------------------------
# offset stores

@pytest.mark.directory_only(reason="offset_store= (the group coordinator keeps offsets on a cluster)")
def test_memory_offset_store(log):
    fill(log.create_topic("t").partition(0), 10)
    store = MemoryOffsetStore()
    tp = TP("t", 0)
    with log.consumer(group_id="g", offset_store=store, auto_offset_reset="earliest",
                      enable_auto_commit=False) as c:
        c.assign([tp])
        assert len(c.poll(timeout=1, max_records=4)) == 4
        c.commit()
    assert store.committed("g", [tp]) == {tp: 4}
    assert FileOffsetStore(log.path).groups() == []  # the file store was not used
    with log.consumer(group_id="g", offset_store=store, enable_auto_commit=False) as c:
        c.assign([tp])
        assert vals(c.poll(timeout=1)) == list(range(4, 10))
    with log.consumer(group_id="g", offset_store=MemoryOffsetStore(), auto_offset_reset="earliest") as c:
        c.assign([tp])
        assert c.committed(tp) is None


def _commit_forever(path, group, part, attempt, done):
    log = eventlog.open(path)
    c = log.consumer(group_id=group, enable_auto_commit=False)
    tp = TP("t", part)
    c.assign([tp])
    i = 0
    while True:
        i += 1
        attempt.value = i
        c.commit({tp: i})
        done.value = i


def test_file_store_commit_survives_kill_9_of_the_committer(tmp_path):
    path = str(tmp_path / "d")
    log = eventlog.open(path)
    log.create_topic("t")
    tp = TP("t", 0)
    store = FileOffsetStore(path)
    for round_ in range(3):
        attempt, done = SPAWN.Value("q", 0, lock=False), SPAWN.Value("q", 0, lock=False)
        pr = SPAWN.Process(target=_commit_forever, args=(path, "g", 0, attempt, done))
        pr.start()
        try:
            deadline = time.monotonic() + 60
            target = done.value + 50 + round_ * 37
            while done.value < target:
                assert time.monotonic() < deadline and pr.is_alive()
                time.sleep(0.001)
        finally:
            os.kill(pr.pid, signal.SIGKILL)  # mid-commit, at some random point
            pr.join(30)
        assert pr.exitcode == -signal.SIGKILL
        got = store.committed("g", [tp])[tp]  # readable: never torn, never empty
        assert done.value <= got <= attempt.value
        with log.consumer(group_id="g", enable_auto_commit=False) as c:
            c.assign([tp])
            assert c.committed(tp) == got
            assert c.position(tp) == got
            c.commit({tp: got})  # and the store still takes commits
    store.cleanup()
    assert not glob.glob(os.path.join(path, "groups", "*", "offsets", "t", ".*.tmp"))
    log.close()


def _commit_n(path, group, part, n, start):
    log = eventlog.open(path)
    c = log.consumer(group_id=group, enable_auto_commit=False)
    tp = TP("t", part)
    c.assign([tp])
    start.wait(30)
    for i in range(1, n + 1):
        c.commit({tp: i * 10 + part})
    c.close()


def test_concurrent_commits_from_several_processes_keep_every_partition(tmp_path):
    path = str(tmp_path / "d")
    log = eventlog.open(path)
    log.create_topic("t", partitions=3)
    start = SPAWN.Event()
    procs = [SPAWN.Process(target=_commit_n, args=(path, "g", p, 150, start)) for p in range(3)]
    for pr in procs:
        pr.start()
    start.set()
    for pr in procs:
        pr.join(60)
        assert pr.exitcode == 0
    store = FileOffsetStore(path)
    assert store.all_committed("g") == {TP("t", p): 1500 + p for p in range(3)}
    log.close()


# ---------------------------------------------------------------------------------------------
# wake-ups across processes

def _append_when_asked(path, topic, part, ask, done, n):
    log = eventlog.open(path)
    p = log.topic(topic).partition(part)
    for i in range(n):
        if not ask.wait(30):
            return
        ask.clear()
        time.sleep(0.2)  # the consumer is asleep in poll by now
        p.append(b"%d" % i)
        done.set()
    log.close()


def test_a_consumer_is_woken_by_appends_of_another_process(tmp_path):
    path = str(tmp_path / "d")
    log = eventlog.open(path)
    log.create_topic("quiet", partitions=1)
    log.create_topic("t", partitions=2)
    ask, done = SPAWN.Event(), SPAWN.Event()
    rounds = 5
    pr = SPAWN.Process(target=_append_when_asked, args=(path, "t", 1, ask, done, rounds))
    pr.start()
    try:
        with log.consumer(auto_offset_reset="earliest") as c:
            c.assign([TP("quiet", 0), TP("t", 0), TP("t", 1)])
            assert c.poll(timeout=0) == []
            for i in range(rounds):
                ask.set()
                t0 = time.monotonic()
                got = c.poll(timeout=10)
                took = time.monotonic() - t0
                assert [(r.topic, r.partition, r.value) for r in got] == [("t", 1, b"%d" % i)]
                assert took < 5, f"poll woke {took:.2f} s after the append"
                assert done.wait(5)
                done.clear()
    finally:
        ask.set()
        pr.join(30)
    assert pr.exitcode == 0
    log.close()


def _produce_later(path, delay):
    time.sleep(delay)
    log = eventlog.open(path)
    with log.producer(linger_ms=0) as p:
        p.send("t", b"from-producer", key=b"k").result(timeout=10)
    log.close()


def test_a_consumer_is_woken_by_a_producer_in_another_process(tmp_path):
    path = str(tmp_path / "d")
    log = eventlog.open(path)
    log.create_topic("t", partitions=3)
    with log.consumer(auto_offset_reset="earliest") as c:
        c.assign([TP("t", p) for p in range(3)])
        pr = SPAWN.Process(target=_produce_later, args=(path, 0.3))
        pr.start()
        t0 = time.monotonic()
        got = []
        while not got and time.monotonic() - t0 < 30:
            got = c.poll(timeout=10)
        pr.join(30)
        assert [r.value for r in got] == [b"from-producer"]
    log.close()


def _append_slowly(path, n, size, interval):
    log = eventlog.open(path)
    p = log.topic("t").partition(0)
    for i in range(n):
        p.append(b"%d" % i + b"." * size)
        time.sleep(interval)
    log.close()


def test_a_waiting_consumer_follows_segments_rolled_by_another_process(tmp_path):
    path = str(tmp_path / "d")
    log = eventlog.open(path)
    part = log.create_topic("t", segment_bytes=1024).partition(0)
    n = 40
    with log.consumer(auto_offset_reset="earliest") as c:
        c.assign([TP("t", 0)])
        assert c.poll(timeout=0) == []
        pr = SPAWN.Process(target=_append_slowly, args=(path, n, 400, 0.02))
        pr.start()
        got = []
        deadline = time.monotonic() + 30
        while len(got) < n and time.monotonic() < deadline:
            got += c.poll(timeout=10)
        pr.join(30)
    assert vals(got) == list(range(n))
    assert len(glob.glob(os.path.join(part.dir, "*.log"))) >= 10  # it did cross many rolls
    log.close()


def test_close_from_another_thread_ends_a_waiting_poll(log):
    log.create_topic("t")
    c = log.consumer()
    c.assign([TP("t", 0)])
    res = []
    th = threading.Thread(target=lambda: res.append(c.poll(timeout=30)))
    th.start()
    time.sleep(0.2)
    c.close()
    th.join(5)
    assert not th.is_alive() and res == [[]]


# ---------------------------------------------------------------------------------------------
# iteration

def test_iteration_blocks_for_new_records(log):
    p = log.create_topic("t").partition(0)
    fill(p, 3)

    def later():
        time.sleep(0.3)
        fill(p, 3, start=3)

    th = threading.Thread(target=later)
    th.start()
    got = []
    with log.consumer(auto_offset_reset="earliest") as c:
        c.assign([TP("t", 0)])
        for rec in c:
            got.append(rec)
            if len(got) == 6:
                break
    th.join()
    assert vals(got) == list(range(6))


def test_iteration_counts_only_yielded_records_as_consumed(log):
    t = log.create_topic("t", partitions=2)
    fill(t.partition(0), 300)
    fill(t.partition(1), 300)
    a, b = TP("t", 0), TP("t", 1)
    with log.consumer(group_id="g", auto_offset_reset="earliest", enable_auto_commit=False) as c:
        c.assign([a, b])
        seen = []
        for rec in c:
            seen.append(rec)
            if len(seen) == 7:
                c.commit()  # commits what was yielded, not the whole fetched buffer
            if len(seen) == 10:
                break
        last = {}
        for r in seen:
            last[r.partition] = r.offset + 1
        for tp in (a, b):
            assert c.position(tp) == last.get(tp.partition, 0)
        assert c.committed(a) + c.committed(b) == 7
        c.commit()
        # the rest follows without a gap or a repeat
        rest = drain(c)
        assert sorted((r.partition, r.offset) for r in seen + rest) == \
            [(0, i) for i in range(300)] + [(1, i) for i in range(300)]
    with log.consumer(group_id="g", enable_auto_commit=False) as c2:
        c2.assign([a, b])
        assert {tp: c2.committed(tp) for tp in (a, b)} == {a: last.get(0, 0), b: last.get(1, 0)}


def test_seek_and_pause_during_iteration(log):
    t = log.create_topic("t", partitions=2)
    fill(t.partition(0), 50)
    fill(t.partition(1), 50)
    a, b = TP("t", 0), TP("t", 1)
    with log.consumer(auto_offset_reset="earliest") as c:
        c.assign([a, b])
        got = []
        it = iter(c)
        for rec in it:
            got.append(rec)
            if len(got) == 3:
                c.seek(a, 40)
                c.pause(b)
            if sum(r.partition == 0 and r.offset >= 40 for r in got) == 10:
                break
        after = got[3:]
        assert all(r.partition == 0 for r in after)  # b paused, nothing of it yielded since
        assert vals(after) == list(range(40, 50))
        c.resume(b)
        rest = drain(c)
        seen_b = [r.offset for r in got + rest if r.partition == 1]
        assert seen_b == list(range(50))


def test_iteration_ends_when_closed_from_another_thread_and_refuses_a_closed_consumer(log):
    log.create_topic("t")
    c = log.consumer()
    c.assign([TP("t", 0)])
    out = []
    th = threading.Thread(target=lambda: out.extend(c))
    th.start()
    time.sleep(0.3)
    c.close()
    th.join(5)
    assert not th.is_alive() and out == []
    with pytest.raises(ConsumerClosedError):
        iter(c)


# ---------------------------------------------------------------------------------------------
# fairness, max_records, positions

@pytest.mark.directory_only(reason="exact records per poll and which partition goes first follow the directory's fetch order; librdkafka fetches per broker")
def test_a_busy_partition_does_not_starve_the_others(log):
    t = log.create_topic("t", partitions=3)
    fill(t.partition(0), 20_000)
    fill(t.partition(1), 5)
    fill(t.partition(2), 20_000)
    with log.consumer(auto_offset_reset="earliest") as c:
        c.assign([TP("t", p) for p in range(3)])
        polls = [c.poll(timeout=1, max_records=100) for _ in range(3)]
    assert all(len(x) == 100 for x in polls)
    got = [r for x in polls for r in x]
    assert [r.offset for r in got if r.partition == 1] == [0, 1, 2, 3, 4]
    assert {r.partition for r in got} == {0, 1, 2}
    # over consecutive polls each partition gets to go first
    assert len({x[0].partition for x in polls}) == 3


def test_max_records_and_positions(log):
    t = log.create_topic("t", partitions=2)
    fill(t.partition(0), 50)
    a, b = TP("t", 0), TP("t", 1)
    with log.consumer(auto_offset_reset="earliest", max_poll_records=9) as c:
        c.assign([a, b])
        assert vals(c.poll(timeout=1, max_records=7)) == list(range(7))
        assert c.position(a) == 7 and c.position(b) == 0
        assert vals(c.poll(timeout=1, max_records=1)) == [7]
        assert c.position(a) == 8
        for _ in range(4):
            assert len(c.poll(timeout=1)) == 9  # max_poll_records is the default
        assert vals(c.poll(timeout=1)) == [44, 45, 46, 47, 48, 49]
        assert c.poll(timeout=0) == []
        assert c.position(a) == 50


def test_large_batches_are_not_returned_past_max_records(log):
    p = log.create_topic("t").partition(0)
    p.append_batch([(None, b"%d" % i) for i in range(5000)])  # one batch of 5000
    with log.consumer(auto_offset_reset="earliest") as c:
        c.assign([TP("t", 0)])
        sizes = []
        total = []
        while len(total) < 5000:
            got = c.poll(timeout=1, max_records=333)
            assert 0 < len(got) <= 333
            sizes.append(len(got))
            total += got
        assert vals(total) == list(range(5000))


def test_fetch_max_bytes_still_makes_progress(log):
    t = log.create_topic("t", partitions=3)
    for p in range(3):
        fill(t.partition(p), 100, size=100)
    with log.consumer(auto_offset_reset="earliest", fetch_max_bytes=1) as c:
        c.assign([TP("t", p) for p in range(3)])
        got = drain(c)
    assert sorted((r.partition, int(r.value.rstrip(b"."))) for r in got) == \
        [(p, i) for p in range(3) for i in range(100)]


# ---------------------------------------------------------------------------------------------
# bad input

def test_bad_input_raises_clear_errors(log):
    log.create_topic("t", partitions=2)
    tp = TP("t", 0)
    with pytest.raises(InvalidArgumentError):
        log.consumer(auto_offset_reset="smallest")
    with pytest.raises(InvalidArgumentError):
        log.consumer(max_poll_records=0)
    with pytest.raises(InvalidTypeError):
        log.consumer(group_id=42)
    c = log.consumer()
    with pytest.raises(UnknownTopicError, match="create_topic"):
        c.assign([TP("nope", 0)])
    with pytest.raises(UnknownPartitionError):
        c.assign([TP("t", 2)])
    with pytest.raises(InvalidTypeError):
        c.assign(["t"])
    with pytest.raises(InvalidTypeError):
        c.assign("t")
    with pytest.raises(IllegalStateError):
        c.poll(timeout=0)  # nothing assigned
    assert c.assignment() == set()  # a failed assign changes nothing
    c.assign([tp])
    with pytest.raises(InvalidArgumentError):
        c.seek(tp, -1)
    with pytest.raises(InvalidArgumentError):
        c.seek(tp, "3")
    with pytest.raises(IllegalStateError):
        c.seek(TP("t", 1), 0)  # not assigned
    with pytest.raises(IllegalStateError):
        c.position(TP("t", 1))
    with pytest.raises(IllegalStateError, match="group_id"):
        c.commit()
    with pytest.raises(IllegalStateError):
        c.subscribe(["t"])
    with pytest.raises(InvalidArgumentError):
        c.poll(max_records=0)
    with pytest.raises(InvalidArgumentError):
        c.poll(timeout=-1)
    c.close()
    c.close()  # idempotent
    for call in (lambda: c.poll(timeout=0), lambda: c.seek(tp, 0), lambda: c.commit(),
                 lambda: c.position(tp), lambda: c.assign([tp]), lambda: c.seek_to_beginning(),
                 lambda: c.seek_to_end(), lambda: c.pause([tp]), lambda: c.resume([tp]),
                 lambda: c.committed(tp), lambda: c.assignment(), lambda: c.end_offsets([tp]),
                 lambda: c.beginning_offsets([tp]), lambda: c.offsets_for_times({tp: 0})):
        with pytest.raises(ConsumerClosedError):
            call()
    g = log.consumer(group_id="g")
    g.assign([tp])
    with pytest.raises(InvalidArgumentError):
        g.commit({tp: -1})
    with pytest.raises(InvalidTypeError):
        g.commit([tp])
    g.close()


def test_every_error_is_an_eventlog_error(log):
    c = log.consumer()
    for call in (lambda: c.assign([TP("nope", 0)]), lambda: c.poll(timeout=0),
                 lambda: c.commit()):
        with pytest.raises(EventLogError):
            call()
    c.close()


@pytest.mark.directory_only(reason="the offset files' layout")
def test_committed_offsets_file_layout_is_json(log):
    """The committed offset lives in a small JSON file (docs/consuming.md)."""
    fill(log.create_topic("t").partition(0), 3)
    with log.consumer(group_id="billing", auto_offset_reset="earliest", enable_auto_commit=False) as c:
        c.assign([TP("t", 0)])
        c.poll(timeout=1)
        c.commit()
    [path] = glob.glob(os.path.join(log.path, "groups", "*", "offsets", "t", "0.json"))
    with open(path) as f:
        assert json.load(f)["offset"] == 3


def test_consumer_without_group_never_loads_the_group_layer(tmp_path):
    """A consumer of assigned partitions (group_id=None) does not import the group membership
    modules (3-11 ms on the first consumer of a process); a group consumer of the same process
    still subscribes and reads."""
    import subprocess
    import sys
    code = f"""
import sys, eventlog
from eventlog import TopicPartition
log = eventlog.open({str(tmp_path)!r})
log.create_topic("t", partitions=1)
log.topic("t").partition(0).append(b"v", key=b"k")
c = log.consumer(group_id=None, auto_offset_reset="earliest")
c.assign([TopicPartition("t", 0)])
assert [r.value for r in c.poll(timeout=5)] == [b"v"]
c.close()
assert "eventlog.groups.membership" not in sys.modules, "loaded by a consumer without a group"
g = log.consumer(group_id="g", auto_offset_reset="earliest")
g.subscribe(["t"])
recs = []
for _ in range(100):
    recs += g.poll(timeout=0.1)
    if recs:
        break
assert [r.value for r in recs] == [b"v"], recs
assert "eventlog.groups.membership" in sys.modules
g.close()
log.close()
print("ok")
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr
