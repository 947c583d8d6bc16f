"""Partition behaviour on real files: appending, reading, rolling, time lookups, reopening,
and indexes that are missing or garbled (they are hints: results must not change)."""
import os
import random
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import eventlog
from log_checker import assert_log_consistent
from eventlog import Record
from eventlog.storage.reader import FetchState
from eventlog.errors import (InvalidArgumentError, InvalidTypeError, OffsetOutOfRangeError,
                             RecordTooLargeError)


@pytest.fixture
def log(tmp_path):
    with eventlog.open(tmp_path / "data") as lg:
        yield lg


def files(p, ext):
    return sorted(n for n in os.listdir(p.dir) if n.endswith(ext))


def snapshot(p):
    """Names and sizes of every data and index file of a partition."""
    return {n: os.path.getsize(os.path.join(p.dir, n)) for n in os.listdir(p.dir) if n != "append.lock"}


class Model:
    """What a partition should hold: (offset, timestamp, key, value, headers) per record."""

    def __init__(self):
        self.recs = []

    def add(self, rng, ts, key, value, headers):
        assert list(rng) == list(range(len(self.recs), len(self.recs) + len(rng)))
        self.recs.append((rng.start, ts, key, value, tuple(headers)))

    def first_at_or_after(self, ts):
        for r in self.recs:
            if r[1] >= ts:
                return r[0]
        return None


# record timestamps of the last hour: retention (7 days by default, by record timestamp, as
# in Kafka) must not remove test data when segments roll
BASE_TS = int(time.time() * 1000) - 3_600_000


def fill(p, model, rng, batches, max_batch=12, ts_spread=None, value_size=(0, 200)):
    """Append random batches (keys, nulls, headers, per-record timestamps) to p and model."""
    for _ in range(batches):
        n = rng.randint(1, max_batch)
        recs = []
        for _ in range(n):
            key = None if rng.random() < 0.3 else rng.randbytes(rng.randint(0, 12))
            value = None if rng.random() < 0.05 else rng.randbytes(rng.randint(*value_size))
            headers = () if rng.random() < 0.6 else tuple(
                (f"h{j}", None if rng.random() < 0.2 else rng.randbytes(rng.randint(0, 5)))
                for j in range(rng.randint(1, 3)))
            ts = BASE_TS + (rng.randint(0, ts_spread) if ts_spread else len(model.recs) * 10)
            recs.append((key, value, headers, ts))
        r = p.append_batch(recs)
        assert len(r) == n
        p._check()  # the writer's position is the segment's size after every append
        for off, (key, value, headers, ts) in zip(r, recs):
            model.recs.append((off, ts, key, value, tuple(headers)))
        assert r.start == model.recs[-n][0]


def as_tuples(recs):
    return [(r.offset, r.timestamp_ms, r.key, r.value, r.headers) for r in recs]


def check_reads(p, model, rng, samples=40):
    """Every record readable in order, from any offset, with any max_records."""
    assert p.end_offset == len(model.recs)
    assert p.start_offset == 0
    got = []
    st_ = FetchState(0)
    while True:
        batch = p.fetch(st_, rng.randint(1, 50))
        if not batch:
            break
        got += batch
    assert as_tuples(got) == model.recs
    for _ in range(samples):
        o = rng.randrange(len(model.recs))
        n = rng.randint(1, 30)
        assert as_tuples(p.read(o, n)) == model.recs[o:o + n]
    assert p.read(len(model.recs)) == []


def check_times(p, model, rng, samples=40):
    tss = sorted({r[1] for r in model.recs})
    targets = [tss[0] - 1, tss[-1], tss[-1] + 1] + [rng.choice(tss) + rng.randint(-1, 1) for _ in range(samples)]
    for t in targets:
        assert p.offset_for_time(t) == model.first_at_or_after(t), t


# -- basics ----------------------------------------------------------------------------------

def test_append_and_read_fields(log):
    p = log.create_topic("t", partitions=2).partition(1)
    assert (p.topic, p.partition) == ("t", 1)
    assert p.start_offset == p.end_offset == 0
    assert p.read(0) == []
    assert p.append(b"v0", key=b"k0", headers=[("trace", b"1"), ("n", None)], timestamp_ms=123) == 0
    assert p.append(b"v1") == 1
    assert p.append(None, key=b"tomb") == 2
    assert p.end_offset == 3
    r0, r1, r2 = p.read(0)
    assert isinstance(r0, Record)
    assert r0 == Record("t", 1, 0, 123, b"k0", b"v0", (("trace", b"1"), ("n", None)))
    assert (r0.topic, r0.partition, r0.offset, r0.timestamp_ms, r0.key, r0.value, r0.headers) == \
        ("t", 1, 0, 123, b"k0", b"v0", (("trace", b"1"), ("n", None)))
    assert r1.key is None and r1.value == b"v1" and r1.headers == ()
    assert abs(r1.timestamp_ms - time.time() * 1000) < 60_000
    assert r2.value is None and r2.key == b"tomb"
    assert p.read(1, max_records=1) == [r1]
    assert p.read(3) == []


def test_append_batch_shapes(log):
    p = log.create_topic("t").partition(0)
    assert p.append_batch([(b"k1", b"v1"), (None, b"v2")], timestamp_ms=5) == range(0, 2)
    assert p.append_batch([(b"k", b"v", [("a", b"b")]), (None, b"w", ())]) == range(2, 4)
    assert p.append_batch([(b"k", b"v", (), 77), (b"k", b"v", None, None)], timestamp_ms=78) == range(4, 6)
    assert p.append_batch(iter([(None, b"gen")])) == range(6, 7)
    assert p.append_batch([]) == range(7, 7)
    recs = p.read(0)
    assert [r.value for r in recs] == [b"v1", b"v2", b"v", b"w", b"v", b"v", b"gen"]
    assert recs[2].headers == (("a", b"b"),) and recs[3].headers == ()
    assert [r.timestamp_ms for r in recs[:2]] == [5, 5]
    assert [r.timestamp_ms for r in recs[4:6]] == [77, 78]


@pytest.mark.parametrize("compression", ["none", "zstd"])
def test_single_appends_read_back_as_batches_of_one(log, compression):
    # Partition.append has its own encoder (codec.prepare_one): the batch must be the one
    # append_batch would write, compression flag included
    p = log.create_topic("t", compression=compression, segment_bytes=4096).partition(0)
    expect = []
    for i in range(300):
        key = None if i % 3 == 0 else b"k%d" % i
        value = b"" if i % 7 == 0 else bytes([i % 251]) * (i % 90)
        assert p.append(value, key=key) == i
        expect.append((key, value))
    assert p.end_offset == 300
    assert [(r.key, r.value) for r in p.read(0, 1000)] == expect
    assert p.check(deep=True).ok
    for ext in (".log",):
        assert len(files(p, ext)) > 1  # rolled: the single-append path rolls like any other


def test_append_batch_records_of_other_sequence_types(log):
    # records may be lists, or any sequence; iterables without len() still work
    p = log.create_topic("t").partition(0)
    assert p.append_batch([[b"k", b"v"], (b"k2", b"v2")]) == range(0, 2)
    assert p.append_batch([iter((b"k3", b"v3"))]) == range(2, 3)
    assert [(r.key, r.value) for r in p.read(0)] == [(b"k", b"v"), (b"k2", b"v2"), (b"k3", b"v3")]
    with pytest.raises(InvalidArgumentError, match="record 1 has 3 fields"):
        p.append_batch([(b"k", b"v"), (b"k", b"v", ()), (b"k", b"v")])
    with pytest.raises(InvalidArgumentError, match="got 1 fields"):
        p.append_batch([(b"v",)])
    with pytest.raises(InvalidTypeError):
        p.append_batch([(b"k", b"v"), 5])
    assert p.end_offset == 3


@pytest.mark.parametrize("bad_at", [0, 3, 9])
@pytest.mark.parametrize("problem", ["str value", "str key", "int value", "bad header", "too large",
                                     "bad timestamp", "shape", "header value str"])
def test_bad_record_anywhere_writes_nothing(log, bad_at, problem):
    p = log.create_topic("t", max_record_bytes=1000).partition(0)
    p.append_batch([(b"k", b"before")])
    before = snapshot(p)
    recs = [(b"k%d" % i, b"v%d" % i, (), None) for i in range(10)]
    k, v, h, t = recs[bad_at]
    expected = InvalidArgumentError
    if problem == "str value":
        v, expected = "text", InvalidTypeError
    elif problem == "str key":
        k, expected = "text", InvalidTypeError
    elif problem == "int value":
        v, expected = 5, InvalidTypeError
    elif problem == "bad header":
        h, expected = (("a", b"1", b"extra"),), InvalidTypeError
    elif problem == "header value str":
        h, expected = (("a", "str"),), InvalidTypeError
    elif problem == "too large":
        v, expected = b"x" * 1001, RecordTooLargeError
    elif problem == "bad timestamp":
        t = -1
    recs[bad_at] = (k, v, h, t)
    if problem == "shape":
        recs[bad_at] = (k, v)
    with pytest.raises(expected) as ei:
        p.append_batch(recs)
    if problem not in ("bad header", "header value str"):
        assert f"record {bad_at}" in str(ei.value)
    assert snapshot(p) == before
    assert p.end_offset == 1
    assert p.append(b"after") == 1
    assert [r.value for r in p.read(0)] == [b"before", b"after"]


def test_str_value_error_names_record_and_fix(log):
    p = log.create_topic("t").partition(0)
    with pytest.raises(InvalidTypeError, match=r"record 0: value must be bytes or None, got str"):
        p.append("hello")
    with pytest.raises(InvalidTypeError, match=r"record 2: key must be bytes"):
        p.append_batch([(None, b"a"), (None, b"b"), ("k", b"c")])
    assert p.end_offset == 0 and files(p, ".log") == []


def test_max_record_bytes_counts_each_record_not_the_largest_parts(log):
    p = log.create_topic("t", max_record_bytes=100).partition(0)
    # the largest key and the largest value are in different records: no record is too large
    assert p.append_batch([(b"k" * 60, b"v"), (b"k", b"v" * 60)]) == range(0, 2)
    assert p.append(b"v" * 100) == 2
    with pytest.raises(RecordTooLargeError, match="record 0 .* 101 bytes"):
        p.append(b"v" * 100, key=b"k")
    with pytest.raises(RecordTooLargeError):
        p.append(b"v" * 90, headers=[("name", b"x" * 10)])


def test_bad_arguments(log):
    p = log.create_topic("t").partition(0)
    p.append(b"x")
    with pytest.raises(OffsetOutOfRangeError):
        p.read(2)
    with pytest.raises(InvalidArgumentError):
        p.read(-1)
    with pytest.raises(InvalidArgumentError):
        p.read(0, max_records=0)
    with pytest.raises(InvalidArgumentError):
        p.append(b"x", timestamp_ms=1 << 63)
    with pytest.raises(InvalidArgumentError):
        p.append(b"x", timestamp_ms=1.5)
    with pytest.raises(InvalidArgumentError):
        p.offset_for_time("now")
    with pytest.raises(InvalidTypeError):
        p.append_batch([b"not a tuple", 5])
    assert p.end_offset == 1


def test_empty_partition_reads_and_times(log):
    p = log.create_topic("t").partition(0)
    assert p.read(0) == []
    with pytest.raises(OffsetOutOfRangeError):
        p.read(1)
    assert p.offset_for_time(0) is None
    st_ = FetchState(0)
    assert p.fetch(st_, 10) == [] and st_.seg is not None  # waiting, not out of range
    p.append(b"first")
    assert [r.value for r in p.fetch(st_, 10)] == [b"first"]


# -- segments --------------------------------------------------------------------------------

@pytest.mark.parametrize("compression", ["none", "zstd"])
def test_rolling_and_reading_across_segments(log, compression):
    p = log.create_topic("t", segment_bytes=4096, compression=compression).partition(0)
    model, rng = Model(), random.Random(1)
    fill(p, model, rng, 150)
    logs = files(p, ".log")
    assert len(logs) > 5
    bases = [int(n[:20]) for n in logs]
    assert bases[0] == 0
    for name, base, nxt in zip(logs, bases, bases[1:] + [None]):
        size = os.path.getsize(os.path.join(p.dir, name))
        recs = p.read(base, 100_000)
        assert recs[0].offset == base
        if nxt is not None:  # a closed segment ends exactly where the next one begins
            assert size <= 4096 or len([r for r in recs if r.offset < nxt]) <= 12
    check_reads(p, model, rng)
    check_times(p, model, rng)


def test_single_batch_larger_than_segment_and_read_chunk(log):
    p = log.create_topic("t", segment_bytes=1024, max_record_bytes=1 << 20).partition(0)
    p.append(b"a")
    big = [(None, os.urandom(1000)) for _ in range(400)]  # ~400 KB: over the 256 KiB read chunk
    r = p.append_batch(big)
    p.append(b"z")
    assert len(files(p, ".log")) == 3
    assert [x.value for x in p.read(0, 1000)] == [b"a"] + [v for _, v in big] + [b"z"]
    assert [x.value for x in p.read(r.start + 399, 5)] == [big[-1][1], b"z"]


@pytest.mark.parametrize("records", [1150, 2100, 3000])  # batches of ~0.55, ~1.05, 1.5 READ_CHUNK
def test_a_replay_reads_each_byte_of_the_log_about_once(log, records):
    """Batches a little over the read size (the producer's merged batches are) were read
    twice: a read that ends inside a batch is read again from the batch's start. The reader
    sizes its reads from the batches it has seen (counted here by wrapping Segment.pread).
    (`Partition.read` starts from an offset each call, so it re-reads the batch it stopped
    in: a consumer keeps the rest of that batch for its next poll.)"""
    from eventlog.storage import segment as _segment
    p = log.create_topic("t", segment_bytes=64 << 20).partition(0)
    for i in range(12):
        p.append_batch([(b"k%07d" % j, os.urandom(100)) for j in range(records)])
    size = sum(os.path.getsize(os.path.join(p.dir, f)) for f in files(p, ".log"))
    assert size > 12 * records * 100
    got = []
    real = _segment.Segment.pread

    def counted(self, n, pos):
        buf = real(self, n, pos)
        got.append(len(buf))
        return buf

    _segment.Segment.pread = counted
    n = 0
    try:
        with log.consumer(group_id=None, auto_offset_reset="earliest") as c:
            c.assign([eventlog.TopicPartition("t", 0)])
            while n < 12 * records:
                recs = c.poll(timeout=5, max_records=10000)
                assert recs
                n += len(recs)
    finally:
        _segment.Segment.pread = real
    assert n == 12 * records
    assert sum(got) < 1.25 * size, (sum(got), size, len(got))


def test_read_size_holds_whole_batches():
    from eventlog.storage.reader import read_size
    from eventlog.storage.segment import READ_CHUNK
    for length in list(range(1, 5000, 37)) + list(range(READ_CHUNK // 5, 20 * READ_CHUNK, 9973)):
        r = read_size(length)
        assert READ_CHUNK <= r <= 16 * READ_CHUNK
        if length <= 15 * READ_CHUNK:
            assert r >= length + length // 16  # one batch of this size, and a little more, in one read


def test_segment_ms_rolls_on_record_time(log):
    p = log.create_topic("t", segment_ms=60_000).partition(0)
    now = int(time.time() * 1000)
    p.append(b"a", timestamp_ms=now)
    p.append(b"b", timestamp_ms=now)
    assert len(files(p, ".log")) == 1
    q = log.create_topic("old", segment_ms=60_000).partition(0)
    q.append(b"a", timestamp_ms=now - 120_000)   # the segment's first batch is 2 minutes old
    q.append(b"b", timestamp_ms=now)
    q.append(b"c", timestamp_ms=now)
    assert len(files(q, ".log")) == 2
    assert [r.value for r in q.read(0)] == [b"a", b"b", b"c"]


def test_segment_ms_survives_reopen(tmp_path):
    now = int(time.time() * 1000)
    with eventlog.open(tmp_path) as lg:
        t = lg.create_topic("t", segment_bytes=1 << 20)
        p = t.partition(0)
        for i in range(200):  # past the first index entry: the first batch is not the floor
            p.append(b"x" * 100, timestamp_ms=now - 120_000)
        t.alter(segment_ms=60_000)
        assert len(files(p, ".log")) == 1
    with eventlog.open(tmp_path) as lg:
        p = lg.topic("t").partition(0)
        p.append(b"y", timestamp_ms=now)
        assert len(files(p, ".log")) == 2  # the reopened writer knows the segment's age


def test_reopen_sees_data_and_settings(tmp_path):
    model, rng = Model(), random.Random(2)
    with eventlog.open(tmp_path) as lg:
        t = lg.create_topic("t", partitions=3, segment_bytes=2048, compression="zstd",
                            retention_ms=123_456_789, max_record_bytes=5000)
        fill(t.partition(2), model, rng, 40)
    with eventlog.open(tmp_path) as lg:
        t = lg.topic("t")
        assert (t.config.partitions, t.config.segment_bytes, t.config.compression, t.config.retention_ms,
                t.config.max_record_bytes) == (3, 2048, "zstd", 123_456_789, 5000)
        p = t.partition(2)
        check_reads(p, model, rng)
        fill(p, model, rng, 10)
        check_reads(p, model, rng)
        assert t.partition(0).end_offset == 0


# -- time ------------------------------------------------------------------------------------

@pytest.mark.parametrize("compression", ["none", "zstd"])
def test_offset_for_time_non_monotonic(log, compression):
    p = log.create_topic("t", segment_bytes=8192, compression=compression).partition(0)
    model, rng = Model(), random.Random(3)
    fill(p, model, rng, 200, ts_spread=100_000)
    assert len(files(p, ".log")) > 3
    check_times(p, model, rng, samples=150)
    assert p.offset_for_time(0) == 0
    assert p.offset_for_time(10**15) is None


@settings(deadline=None, max_examples=25, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.lists(st.integers(min_value=0, max_value=50), min_size=1, max_size=6), min_size=1, max_size=30),
       st.integers(min_value=-1, max_value=52))
def test_offset_for_time_matches_a_linear_scan(tmp_path_factory, batches, target):
    with eventlog.open(tmp_path_factory.mktemp("oft")) as lg:
        p = lg.create_topic("t", segment_bytes=1024, retention_ms=None).partition(0)  # 1970 timestamps
        flat = []
        for tss in batches:
            p.append_batch([(None, b"x" * 60, (), t) for t in tss])
            p._check()  # the writer's position is the segment's size
            flat += tss
        expected = next((i for i, t in enumerate(flat) if t >= target), None)
        assert p.offset_for_time(target) == expected


# -- indexes are hints -------------------------------------------------------------------------

def _index_files(p):
    return [os.path.join(p.dir, n) for n in os.listdir(p.dir) if n.endswith((".index", ".timeindex"))]


def _damage(path, how, rng):
    data = open(path, "rb").read()
    if how == "delete":
        os.unlink(path)
        return
    if how == "zeros":
        data = bytes(len(data))
    elif how == "random":
        data = rng.randbytes(len(data) or 24)
    elif how == "torn":
        data = data[:max(len(data) - 3, 0)]
    elif how == "empty":
        data = b""
    elif how == "flip":
        if data:
            b = bytearray(data)
            for _ in range(3):
                i = rng.randrange(len(b))
                b[i] ^= 1 << rng.randrange(8)
            data = bytes(b)
    elif how == "past-end":  # entries that point far past the end of the log
        import struct
        if path.endswith(".timeindex"):
            data += struct.pack("<qII", 1 << 40, 1 << 20, 1 << 30)
        else:
            data += struct.pack("<II", 1 << 20, 1 << 30)
    with open(path, "wb") as f:
        f.write(data)


@pytest.mark.parametrize("how", ["delete", "zeros", "random", "torn", "empty", "flip", "past-end"])
def test_damaged_indexes_do_not_change_results(tmp_path, how):
    rng = random.Random(how)
    model = Model()
    with eventlog.open(tmp_path) as lg:
        p = lg.create_topic("t", segment_bytes=16384).partition(0)
        fill(p, model, rng, 120, ts_spread=50_000)
        assert len(files(p, ".index")) >= 2
    for path in _index_files(p):
        _damage(path, how, rng)
    with eventlog.open(tmp_path) as lg:  # a reader: indexes checked against the log, or ignored
        p = lg.topic("t").partition(0)
        check_reads(p, model, rng)
        check_times(p, model, rng)
    with eventlog.open(tmp_path) as lg:  # a writer reopens: the newest segment's indexes are rebuilt
        p = lg.topic("t").partition(0)
        fill(p, model, rng, 40, ts_spread=50_000)
        check_reads(p, model, rng)
        check_times(p, model, rng)
        newest = p._list()[-1]
        seg = p._seg(newest)
        assert seg.index_usable(seg.size())
        _rel, positions = seg.load_index()
        assert len(positions) * 8 == os.path.getsize(seg.index_path)   # nothing cut off as disorder
        assert all(x < seg.size() for x in positions)                    # nothing past the end


def test_damaged_index_while_writer_is_open(log):
    """Another party damages the indexes of the segment a writer holds open: results stay right."""
    p = log.create_topic("t", segment_bytes=1 << 20).partition(0)
    model, rng = Model(), random.Random(9)
    fill(p, model, rng, 60, ts_spread=1000)
    for path in _index_files(p):
        _damage(path, "random", rng)
    fill(p, model, rng, 60, ts_spread=1000)
    check_reads(p, model, rng)
    check_times(p, model, rng)


def test_descriptors_do_not_leak_when_rolling(log):
    p = log.create_topic("t", segment_bytes=1024).partition(0)
    p.append(b"x" * 600)
    before = len(os.listdir("/proc/self/fd"))
    for _ in range(100):
        p.append(b"x" * 600)
    st_ = FetchState(0)
    while p.fetch(st_, 7):
        pass
    assert len(files(p, ".log")) >= 100
    assert len(os.listdir("/proc/self/fd")) - before <= 3
    rng = random.Random(4)
    for _ in range(300):  # random reads over every segment keep a bounded number open
        o = rng.randrange(p.end_offset)
        assert p.read(o, 1)[0].offset == o
    assert p.offset_for_time(0) == 0
    assert len(os.listdir("/proc/self/fd")) - before <= 20


def test_writers_follow_segments_the_other_rolled(tmp_path):
    # two writers (two Logs: as two processes) on one partition with small segments: each
    # finds the segment the other rolled to (looked up in its directory descriptor) before
    # appending, so offsets stay dense and no segment is written by two writers at once
    with eventlog.open(tmp_path) as a, eventlog.open(tmp_path) as b:
        pa = a.create_topic("t", segment_bytes=1024).partition(0)
        pb = b.topic("t").partition(0)
        for i in range(120):
            p = (pa, pb)[i % 3 == 0]
            assert p.append(b"%d" % i + b"x" * 300) == i
        assert len(files(pa, ".log")) > 20
        assert [r.value[:3].rstrip(b"x") for r in pa.read(0, 200)] == [b"%d" % i for i in range(120)]
        assert_log_consistent(tmp_path)


def test_fsync_batch_topic(tmp_path):
    with eventlog.open(tmp_path, fsync="batch") as lg:
        t = lg.create_topic("t", segment_bytes=1024)
        assert t.config.fsync == "batch"
        p = t.partition(0)
        for i in range(20):
            assert p.append(b"x" * 300) == i
        assert len(files(p, ".log")) > 5
    with eventlog.open(tmp_path) as lg:
        assert len(lg.topic("t").partition(0).read(0, 100)) == 20
