"""A producer that falls behind merges waiting batches into one on-disk batch; the merged
batch must stay well inside the topic's `segment_bytes` (issue 11, item 9), so segments roll
near their size and compaction, which never touches the active segment, can clean them.

Real files in tmp_path; the producer is made to fall behind for real (its sender thread is
held off the partition by another holder of the partition's append lock, as a concurrent
appender would), not by mocking anything."""
import fcntl
import os

import eventlog
from eventlog.storage import codec as _codec

SEGMENT = 64 << 10
N = 20_000
KEYS = 100


def _segment_sizes(part_dir):
    return [os.path.getsize(os.path.join(part_dir, n))
            for n in sorted(os.listdir(part_dir)) if n.endswith(".log")]


def _produce_behind(log, topic, n, value):
    """Send `n` records while the partition's append lock is held by someone else, so every
    sealed batch waits and the sender has many to merge when the lock is free again."""
    part = log.topic(topic).partition(0)
    lock_fd = os.open(os.path.join(part.dir, "append.lock"), os.O_RDWR | os.O_CREAT, 0o644)
    fcntl.flock(lock_fd, fcntl.LOCK_EX)
    try:
        p = log.producer(linger_ms=0)
        futures = [p.send(topic, value, key=b"key-%03d" % (i % KEYS)) for i in range(n)]
    finally:
        fcntl.flock(lock_fd, fcntl.LOCK_UN)
        os.close(lock_fd)
    p.flush()
    offsets = [f.result(timeout=60).offset for f in futures]
    p.close()
    return offsets


def test_merged_batches_stay_inside_small_segments_and_compaction_cleans(tmp_path):
    with eventlog.open(tmp_path / "log") as log:
        log.create_topic("c", partitions=1, segment_bytes=SEGMENT, cleanup_policy="compact",
                         min_cleanable_dirty_ratio=0.0)
        offsets = _produce_behind(log, "c", N, b"v" * 100)
        assert offsets == list(range(N))
        part = log.topic("c").partition(0)
        sizes = _segment_sizes(part.dir)
        closed, active = sizes[:-1], sizes[-1]
        # ~2.6 MB of batches in 64 KiB segments: dozens of segments, each rolled near its size
        assert len(closed) >= 30, sizes
        assert all(SEGMENT * 3 // 4 <= s <= SEGMENT for s in closed), sizes
        assert active <= SEGMENT, sizes
        report = log.maintain("c")[eventlog.TopicPartition("c", 0)]
        # every key's older copies in closed segments are cleaned: all but the active
        # segment's records and one record per key
        assert report["records_cleaned"] >= N - KEYS - (SEGMENT // 100) - 200, report
        # what is left is whole and in order, and the latest value of every key survives
        recs = []
        off = part.start_offset
        while off < part.end_offset:
            got = part.read(off, max_records=10_000)
            assert got, off
            recs += got
            off = got[-1].offset + 1
        assert [r.offset for r in recs] == sorted({r.offset for r in recs})
        latest = {}
        for r in recs:
            latest[r.key] = r.offset
        assert len(latest) == KEYS
        assert max(latest.values()) == N - 1


def test_default_segments_keep_large_merged_batches(tmp_path):
    """Default-sized segments keep the 256 KiB merge bound (no slow-down for them): records
    produced while the writer was held come out in batches far larger than 64 KiB / 8, and
    no larger than the bound (plus the length and timestamp columns)."""
    with eventlog.open(tmp_path / "log") as log:
        log.create_topic("t", partitions=1)  # segment_bytes 64 MiB
        _produce_behind(log, "t", N, b"v" * 100)
        part = log.topic("t").partition(0)
        assert _segment_sizes(part.dir) and len(_segment_sizes(part.dir)) == 1
        with open(os.path.join(part.dir, "%020d.log" % 0), "rb") as f:
            data = f.read()
        lengths = [info.length for _pos, info in _codec.batch_iter(data)]
        assert sum(lengths) == len(data)
        assert 128 << 10 < max(lengths) <= 300 << 10, lengths[:20]  # + columns and timestamps


def test_merged_batches_keep_each_records_timestamp(tmp_path):
    """Batches sealed at different milliseconds and merged into one on-disk batch keep each
    record's own timestamp (the sender passes them as per-batch runs), and so do records
    sent with an explicit timestamp_ms in the same merged batch."""
    import time
    with eventlog.open(tmp_path / "log") as log:
        log.create_topic("t", partitions=1)
        part = log.topic("t").partition(0)
        lock_fd = os.open(os.path.join(part.dir, "append.lock"), os.O_RDWR | os.O_CREAT, 0o644)
        fcntl.flock(lock_fd, fcntl.LOCK_EX)
        p = log.producer(linger_ms=0)
        try:
            futures, seen_ms = [], set()
            deadline = time.monotonic() + 30
            while len(seen_ms) < 4 and time.monotonic() < deadline:  # until the clock has moved 3 times
                futures.append(p.send("t", b"v%d" % len(futures), key=b"k"))
                seen_ms.add(time.time_ns() // 1_000_000)
        finally:
            fcntl.flock(lock_fd, fcntl.LOCK_UN)
            os.close(lock_fd)
        p.flush()  # these merge with timestamps as runs; the next ones with a per-record column
        fcntl.flock(lock_fd := os.open(os.path.join(part.dir, "append.lock"), os.O_RDWR), fcntl.LOCK_EX)
        try:
            futures += [p.send("t", b"w%d" % i, key=b"k") for i in range(50)]
            explicit = p.send("t", b"explicit", key=b"k", timestamp_ms=12345)
        finally:
            fcntl.flock(lock_fd, fcntl.LOCK_UN)
            os.close(lock_fd)
        p.flush()
        metas = [f.result(timeout=60) for f in futures + [explicit]]
        p.close()
        recs = part.read(0, len(metas) + 10)
        assert [r.offset for r in recs] == [m.offset for m in metas]
        assert [r.timestamp_ms for r in recs] == [m.timestamp_ms for m in metas]
        assert recs[-1].timestamp_ms == 12345
        stamps = [r.timestamp_ms for r in recs[:-1]]
        assert stamps == sorted(stamps) and len(set(stamps)) >= 2
        with open(os.path.join(part.dir, "%020d.log" % 0), "rb") as f:
            batches = [info for _pos, info in _codec.batch_iter(f.read())]
        assert len(batches) < len(metas)  # merged: several records per on-disk batch
