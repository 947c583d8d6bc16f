"""Topics: names, settings, creation races between processes, bad input that must write
nothing, and a log with many topics."""
import multiprocessing
import os
import time

import pytest

import eventlog
from backend_fixtures import topics_made
from eventlog.errors import (EventLogError, InvalidArgumentError, InvalidTopicError, InvalidTypeError,
                             RecordTooLargeError, TopicExistsError, UnknownPartitionError,
                             UnknownTopicError)


@pytest.fixture
def log(any_log):
    """A directory, and (parametrized) the session's Kafka broker: see backend_fixtures.py."""
    return any_log


def topic_dir_entries(log):
    """The topic directories (with temporaries); on kafka, the topics this test made."""
    if log.kind == "kafka":
        return topics_made(log)
    return sorted(os.listdir(os.path.join(log.path, "topics")))


def test_create_list_get_delete(log):
    assert topics_made(log) == []
    t = log.create_topic("orders", partitions=4)
    assert t.name == "orders" and len(t.partitions) == 4
    assert [p.partition for p in t.partitions] == [0, 1, 2, 3]
    if log.kind == "directory":
        assert log.topic("orders") is t     # one handle per topic (kafka: a fresh view each call)
    assert log.topic("orders").partition_count == 4
    log.create_topic("a.b_c-D9")
    log.create_topic(".hidden")     # a legal Kafka name: listed like any other
    log.create_topic("x" * 249)
    assert topics_made(log) == sorted(["orders", "a.b_c-D9", ".hidden", "x" * 249])
    t.partition(3).append(b"v")
    log.delete_topic("orders")
    assert "orders" not in log.topics()
    with pytest.raises(UnknownTopicError):
        log.topic("orders")
    # re-created: a new, empty topic
    t2 = log.create_topic("orders", partitions=2)
    assert t2.partition(1).end_offset == 0 and t2.config.partitions == 2
    assert not [n for n in topic_dir_entries(log) if n.startswith("~")]


@pytest.mark.parametrize("name", ["", ".", "..", "a/b", "/abs", "../up", "x" * 250, "é", "a b", "a\n",
                                  "a\x00b", "tab\t", "~creating~x", None, 5, b"bytes"])
def test_invalid_names_create_nothing(log, name):
    with pytest.raises(InvalidTopicError) as ei:
        log.create_topic(name)
    assert isinstance(ei.value, EventLogError) and isinstance(ei.value, ValueError)
    assert "[A-Za-z0-9._-]" in str(ei.value)
    assert topic_dir_entries(log) == []
    if log.kind == "directory":
        assert sorted(os.listdir(log.path)) == ["eventlog.json", "groups", "topics"]
    with pytest.raises(InvalidTopicError):
        log.topic(name)
    with pytest.raises(InvalidTopicError):
        log.delete_topic(name)


@pytest.mark.parametrize("partitions", [0, -1, 1.0, "2", None, True])
def test_bad_partition_counts_create_nothing(log, partitions):
    with pytest.raises(InvalidArgumentError, match="partitions"):
        log.create_topic("t", partitions=partitions)
    assert topic_dir_entries(log) == []


@pytest.mark.parametrize("settings, word", [
    ({"compresion": "zstd"}, "compresion"),
    ({"retention_hours": 5}, "retention_hours"),
    ({"compression": "gzip"}, "compression"),
    ({"cleanup_policy": "shred"}, "cleanup_policy"),
    ({"segment_bytes": 10}, "segment_bytes"),
    ({"segment_bytes": 1 << 33}, "segment_bytes"),
    ({"max_record_bytes": 0}, "max_record_bytes"),
    pytest.param({"fsync": "always"}, "fsync", marks=pytest.mark.directory_only(
        reason="fsync= of any value raises UnsupportedOperationError on a cluster (replication instead)")),
])
def test_bad_settings_name_the_setting_and_create_nothing(log, settings, word):
    with pytest.raises(InvalidArgumentError, match=word):
        log.create_topic("t", **settings)
    assert topic_dir_entries(log) == []


def test_unknown_topic_and_partition(log):
    with pytest.raises(UnknownTopicError, match="create_topic"):
        log.topic("nope")
    with pytest.raises(UnknownTopicError):
        log.delete_topic("nope")
    t = log.create_topic("t", partitions=2)
    with pytest.raises(UnknownPartitionError, match="0..1"):
        t.partition(2)
    with pytest.raises(UnknownPartitionError):
        t.partition(-1)
    t.partition(1)
    with pytest.raises(InvalidTypeError):
        t.partition(True)  # equal to 1, but not a partition number
    with pytest.raises(InvalidTypeError):
        t.partition("0")


def test_duplicate_topic(log, tmp_path):
    log.create_topic("t")
    with pytest.raises(TopicExistsError):
        log.create_topic("t")
    with eventlog.open(log.url if log.kind == "kafka" else log.path) as other:  # another handle
        with pytest.raises(TopicExistsError):
            other.create_topic("t", partitions=3)
    assert log.topic("t").config.partitions == 1


def _race_create(path, names, barrier, results):
    lg = eventlog.open(path)
    for name in names:
        barrier.wait()
        try:
            lg.create_topic(name, partitions=3)
            results.put((name, os.getpid(), "won"))
        except TopicExistsError:
            results.put((name, os.getpid(), "exists"))
        except Exception as e:  # reported, so the parent fails with the reason
            results.put((name, os.getpid(), f"{type(e).__name__}: {e}"))
    lg.close()


def test_processes_racing_to_create_a_topic_exactly_one_wins(tmp_path):
    ctx = multiprocessing.get_context("spawn")
    nproc, names = 4, [f"race{i}" for i in range(15)]
    barrier, results = ctx.Barrier(nproc), ctx.Queue()
    eventlog.open(tmp_path).close()
    procs = [ctx.Process(target=_race_create, args=(str(tmp_path), names, barrier, results))
             for _ in range(nproc)]
    for pr in procs:
        pr.start()
    got = [results.get(timeout=60) for _ in range(nproc * len(names))]
    for pr in procs:
        pr.join(30)
        assert pr.exitcode == 0
    for name in names:
        outcomes = sorted(o for n, _pid, o in got if n == name)
        assert outcomes == ["exists"] * (nproc - 1) + ["won"], (name, outcomes)
    with eventlog.open(tmp_path) as lg:
        assert lg.topics() == sorted(names)
        assert all(lg.topic(n).config.partitions == 3 for n in names)
        assert not [n for n in os.listdir(os.path.join(lg.path, "topics")) if n.startswith("~")]


@pytest.mark.directory_only(reason="file sizes; Kafka's default max.message.bytes is 1048588 (the batch "
                            "with its overhead); test_backends checks a too-large record writes nothing")
def test_record_too_large_writes_nothing(log):
    p = log.create_topic("t").partition(0)  # default max_record_bytes: 1 MiB, as Kafka's
    assert log.topic("t").config.max_record_bytes == 1 << 20
    p.append(b"ok")
    size = os.path.getsize(os.path.join(p.dir, "00000000000000000000.log"))
    with pytest.raises(RecordTooLargeError, match="max_record_bytes=1048576"):
        p.append_batch([(None, b"small"), (None, b"x" * ((1 << 20) + 1))])
    assert os.path.getsize(os.path.join(p.dir, "00000000000000000000.log")) == size
    assert p.end_offset == 1
    assert p.append(b"x" * (1 << 20)) == 1


def test_str_instead_of_bytes(log):
    p = log.create_topic("t").partition(0)
    with pytest.raises(InvalidTypeError, match="record 1: value must be bytes or None, got str"):
        p.append_batch([(None, b"fine"), (None, "not bytes")])
    with pytest.raises(InvalidTypeError, match="key"):
        p.append(b"v", key="k")
    with pytest.raises(InvalidTypeError, match="header"):
        p.append(b"v", headers=[(b"name", b"v")])
    assert p.end_offset == 0
    if log.kind == "directory":
        assert os.listdir(p.dir) in (["append.lock"], [])


def test_settings_persist_and_alter(tmp_path):
    with eventlog.open(tmp_path) as lg:
        lg.create_topic("t", partitions=2, retention_ms=5, retention_bytes=10_000, segment_bytes=4096,
                        segment_ms=1000, cleanup_policy="compact,delete", compression="zstd",
                        compression_level=7, max_record_bytes=300, fsync="batch")
    with eventlog.open(tmp_path) as lg:
        c = lg.topic("t").config
        assert (c.partitions, c.retention_ms, c.retention_bytes, c.segment_bytes, c.segment_ms,
                c.cleanup_policy, c.compression, c.compression_level, c.max_record_bytes, c.fsync) == \
            (2, 5, 10_000, 4096, 1000, "compact,delete", "zstd", 7, 300, "batch")
        lg.topic("t").alter(retention_ms=99, partitions=3)
    with eventlog.open(tmp_path) as lg:
        c = lg.topic("t").config
        assert (c.retention_ms, c.partitions) == (99, 3)
        assert lg.topic("t").partition(2).append(b"k", key=b"k") == 0


def test_stale_handle_after_delete_does_not_resurrect_the_topic(tmp_path):
    with eventlog.open(tmp_path) as a, eventlog.open(tmp_path) as b:
        p = a.create_topic("t").partition(0)
        p.append(b"x")
        b.delete_topic("t")
        with pytest.raises(UnknownTopicError):
            p.append(b"lost?")
        assert not os.path.exists(os.path.join(tmp_path, "topics", "t"))
        b.create_topic("t")
        with pytest.raises(UnknownTopicError):
            p.append(b"into the new topic under a dead lock?")
        assert b.topic("t").partition(0).end_offset == 0
        assert a.topic("t").partition(0).append(b"fresh") == 0


def test_many_topics_open_fast(tmp_path):
    with eventlog.open(tmp_path) as lg:
        t0 = time.perf_counter()
        for i in range(1000):
            lg.create_topic(f"topic-{i:04d}", partitions=10)
        created = time.perf_counter() - t0
    t0 = time.perf_counter()
    lg = eventlog.open(tmp_path)
    opened = time.perf_counter() - t0
    t0 = time.perf_counter()
    names = lg.topics()
    listed = time.perf_counter() - t0
    t0 = time.perf_counter()
    for i in range(0, 1000, 10):
        lg.topic(f"topic-{i:04d}").partition(i % 10).append(b"v")
    touched = time.perf_counter() - t0
    print(f"\n1,000 topics x 10 partitions: create {created:.2f}s, open {opened * 1000:.1f} ms, "
          f"topics() {listed * 1000:.1f} ms, 100 first appends {touched * 1000:.1f} ms")
    assert len(names) == 1000
    assert [r.value for r in lg.topic("topic-0990").partition(0).read(0)] == [b"v"]
    assert lg.topic("topic-0991").partition(0).read(0) == []
    lg.close()


def test_topic_id_is_set_at_creation_kept_by_alter_and_new_on_recreate(tmp_path):
    """Kafka's topic ids (KIP-516): one id per incarnation of a topic name."""
    import json
    import re
    from eventlog.storage.topic import NO_TOPIC_ID
    path = str(tmp_path / "log")
    with eventlog.open(path) as log:
        t = log.create_topic("t", partitions=2)
        tid = t.topic_id
        assert re.fullmatch(r"[A-Za-z0-9_-]{22}", tid) and tid != NO_TOPIC_ID
        assert not tid.startswith("-") and tid in repr(t)
        with open(os.path.join(t.dir, "topic.json")) as f:
            assert json.load(f)["topic_id"] == tid
        t.alter(partitions=3, retention_ms=5)
        assert log.topic("t").topic_id == tid
        assert log.create_topic("u").topic_id not in (tid, NO_TOPIC_ID)
    with eventlog.open(path) as log:                     # persisted; another process sees it
        assert log.topic("t").topic_id == tid
        stale = log.topic("t")
        log.delete_topic("t")
        t2 = log.create_topic("t")
        assert t2.topic_id != tid and log.topic("t").topic_id == t2.topic_id
        with pytest.raises(UnknownTopicError, match="created again"):
            stale.alter(retention_ms=1)                   # a stale handle must not clobber it
        assert log.topic("t").config.partitions == 1


def test_client_configs_are_kept_described_and_checked(tmp_path):
    # Kafka configs eventlog does not act on are kept as the client set them (issue 13)
    with eventlog.open(tmp_path) as lg:
        lg.create_topic("t", compression="zstd",
                        client_configs={"compression.type": "gzip", "file.delete.delay.ms": "12345"})
    with eventlog.open(tmp_path) as lg:
        t = lg.topic("t")
        assert t.config.client_configs == {"compression.type": "gzip", "file.delete.delay.ms": "12345"}
        assert t.config.compression == "zstd"
        t.alter(client_configs={"flush.ms": "10"}, retention_ms=5)
    with eventlog.open(tmp_path) as lg:
        assert lg.topic("t").config.client_configs == {"flush.ms": "10"}
        for bad, word in [({"Bad Name": "1"}, "Bad Name"), ({"flush.ms": 10}, "flush.ms"),
                          ([("flush.ms", "1")], "mapping")]:
            with pytest.raises((InvalidArgumentError, InvalidTypeError), match=word):
                lg.create_topic("u", client_configs=bad)
            with pytest.raises((InvalidArgumentError, InvalidTypeError), match=word):
                lg.topic("t").alter(client_configs=bad)
        assert lg.topics() == ["t"] and lg.topic("t").config.client_configs == {"flush.ms": "10"}


def test_empty_cleanup_policy_keeps_records_and_the_policy_order_is_kept(tmp_path):
    # Kafka 4.1+ accepts an empty cleanup.policy: records are neither deleted nor compacted
    old = time.time_ns() // 1_000_000 - 3600_000
    with eventlog.open(tmp_path) as lg:
        t = lg.create_topic("t", cleanup_policy="", retention_ms=1, segment_bytes=1024)
        p = t.partition(0)
        for i in range(40):
            p.append_batch([(b"k", b"x" * 200)], timestamp_ms=old)
        lg.maintain()
        assert (p.start_offset, p.end_offset) == (0, 40)
        t.alter(cleanup_policy="delete,compact")
    with eventlog.open(tmp_path) as lg:
        assert lg.topic("t").config.cleanup_policy == "delete,compact"
        lg.maintain()
        assert lg.topic("t").partition(0).start_offset > 0      # now retention applies
