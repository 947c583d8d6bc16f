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
