"""Retention (time, size, on roll, in the background) and delete_records."""
import os
import time

import pytest

import eventlog
from eventlog.maintenance import schedule as _maintenance
from eventlog._os.clock import ManualClock
from eventlog._os.fs import FileLock
from eventlog.storage.partition import START_FILE
from eventlog.storage.reader import FetchState
from eventlog.errors import InvalidArgumentError, OffsetOutOfRangeError

DAY = 24 * 3600 * 1000


def now_ms():
    return time.time_ns() // 1_000_000


def fill(p, n, ts, size=200, batch=1):
    for i in range(0, n, batch):
        p.append_batch([(None, b"x" * size)] * min(batch, n - i), timestamp_ms=ts)


def read_all(p):
    out, off = [], p.start_offset
    while off < p.end_offset:
        recs = p.read(off, 1000)
        if not recs:
            break
        out += recs
        off = recs[-1].offset + 1
    return out


def test_time_retention_deletes_old_closed_segments(tmp_path):
    log = eventlog.open(tmp_path)
    t = log.create_topic("t", retention_ms=None, segment_bytes=1024)
    p = t.partition(0)
    fill(p, 40, now_ms() - 2 * 3600_000)          # old: ~10 segments
    old_end = p.end_offset
    fill(p, 20, now_ms())                         # recent
    t.alter(retention_ms=3600_000)                # (set now: the writer's rolls would apply it)
    before = p._list_bases()
    rep = log.maintain()[p.tp]
    after = p._list_bases()
    assert rep["segments_deleted"] > 0 and rep["bytes_freed"] > 0
    assert after[0] > before[0] and after[-1] == before[-1]
    assert p.start_offset == after[0] <= old_end   # only segments wholly older are gone
    assert all(r.timestamp_ms >= now_ms() - 3600_000 for r in read_all(p)[old_end - p.start_offset:])
    with pytest.raises(OffsetOutOfRangeError):
        p.read(0)
    # persisted: another Log sees the same start
    assert eventlog.open(tmp_path).topic("t").partition(0).start_offset == p.start_offset
    assert os.path.exists(os.path.join(p.dir, START_FILE))


def test_active_segment_is_never_deleted(tmp_path):
    log = eventlog.open(tmp_path)
    p = log.create_topic("t", retention_ms=1, segment_bytes=1024).partition(0)
    fill(p, 30, 1000)  # everything ancient
    log.maintain()
    bases = p._list_bases()
    assert len(bases) == 1
    assert p.start_offset == bases[0] and p.end_offset == 30
    assert [r.offset for r in read_all(p)] == list(range(bases[0], 30))
    assert p.append(b"more") == 30


def test_size_retention(tmp_path):
    log = eventlog.open(tmp_path)
    p = log.create_topic("t", retention_ms=None, retention_bytes=3000, segment_bytes=1024).partition(0)
    fill(p, 100, now_ms())
    log.maintain()
    sizes = [os.path.getsize(os.path.join(p.dir, f"{b:020d}.log")) for b in p._list_bases()]
    assert sum(sizes) <= 3000
    assert p.end_offset == 100 and p.start_offset > 0
    assert [r.offset for r in read_all(p)] == list(range(p.start_offset, 100))


def test_retention_on_roll_without_maintain(tmp_path):
    log = eventlog.open(tmp_path)
    p = log.create_topic("t", retention_ms=3600_000, segment_bytes=1024).partition(0)
    fill(p, 40, now_ms() - 2 * 3600_000)
    assert p.start_offset > 0  # the writer's rolls applied retention
    assert len(p._list_bases()) <= 2


def test_maintain_reads_time_from_the_logs_clock(tmp_path):
    """Records written now expire when the Log's clock says retention_ms has passed."""
    clock = ManualClock()
    log = eventlog.open(tmp_path, clock=clock)
    p = log.create_topic("t", retention_ms=3600_000, segment_bytes=1024).partition(0)
    fill(p, 40, clock.now_ms())
    n = len(p.segment_bases())
    assert n > 2
    assert log.maintain()[p.tp]["segments_deleted"] == 0
    clock.advance(3601)
    report = log.maintain()[p.tp]
    assert report["segments_deleted"] == n - 1 and p.segment_bases() == [p.start_offset]
    assert [r.offset for r in read_all(p)] == list(range(p.start_offset, 40))
    log.close()


def test_compact_only_topic_keeps_everything(tmp_path):
    log = eventlog.open(tmp_path)
    p = log.create_topic("t", cleanup_policy="compact", retention_ms=1, segment_bytes=1024).partition(0)
    for i in range(40):
        p.append(b"x" * 200, key=b"%d" % i, timestamp_ms=1000)
    log.maintain()
    assert p.start_offset == 0


def test_delete_records(tmp_path):
    log = eventlog.open(tmp_path)
    p = log.create_topic("t", segment_bytes=1024).partition(0)
    fill(p, 50, now_ms())
    bases = p._list_bases()
    assert p.delete_records(bases[3] + 2) == bases[3] + 2
    assert p._list_bases()[0] == bases[3]           # whole segments below are gone
    assert p.start_offset == bases[3] + 2
    with pytest.raises(OffsetOutOfRangeError):
        p.read(bases[3] + 1)
    assert [r.offset for r in read_all(p)] == list(range(bases[3] + 2, 50))
    assert p.delete_records(5) == bases[3] + 2      # never backwards
    with pytest.raises(OffsetOutOfRangeError):
        p.delete_records(51)
    with pytest.raises(InvalidArgumentError):
        p.delete_records(-1)
    p2 = eventlog.open(tmp_path).topic("t").partition(0)
    assert p2.start_offset == bases[3] + 2
    assert p.delete_records(50) == 50              # everything: the active segment stays
    assert p.start_offset == 50 and p.end_offset == 50
    assert p.read(50) == []
    assert p.append(b"y") == 50
    assert [r.value for r in p.read(50)] == [b"y"]


def test_reader_finishes_deleted_segment_then_falls_to_start(tmp_path):
    log = eventlog.open(tmp_path)
    t = log.create_topic("t", retention_ms=None, segment_bytes=4096)
    p = t.partition(0)
    fill(p, 30, now_ms() - 2 * 3600_000, batch=10)
    fill(p, 30, now_ms())
    t.alter(retention_ms=3600_000)
    st = FetchState(0)
    first = p.fetch(st, 5)
    assert [r.offset for r in first] == list(range(5))
    log.maintain()
    assert p.start_offset > 5
    got = first + p.fetch(st, 1000)
    offs = [r.offset for r in got]
    assert offs == sorted(set(offs))              # no duplicate, never backwards
    # a fresh reader below the start is out of range; the consumer resets
    st2 = FetchState(0)
    assert p.fetch(st2, 10) == [] and st2.seg is None
    c = log.consumer(auto_offset_reset="earliest")
    c.assign([p.tp])
    c.seek(p.tp, 0)
    recs = c.poll(timeout=1.0, max_records=1000)
    assert recs and recs[0].offset == p.start_offset


def test_busy_partition_is_skipped(tmp_path):
    log = eventlog.open(tmp_path)
    p = log.create_topic("t", retention_ms=1, segment_bytes=1024).partition(0)
    fill(p, 30, 1000)
    lk = FileLock(os.path.join(p.dir, _maintenance.MAINT_LOCK))
    assert lk.acquire(blocking=False)
    try:
        assert log.maintain()[p.tp]["skipped"] == "busy"
    finally:
        lk.release()
        lk.close()
    assert log.maintain()[p.tp]["skipped"] is None


def test_background_maintenance(tmp_path):
    """The background thread runs a round every `interval` seconds of the Log's clock."""
    p = eventlog.open(tmp_path).create_topic("t", retention_ms=None, segment_bytes=1024).partition(0)
    fill(p, 40, now_ms() - 2 * 3600_000)
    n = len(p.segment_bases())
    clock = ManualClock()
    log = eventlog.open(tmp_path, background_maintenance=60, clock=clock)
    log.topic("t").alter(retention_ms=3600_000)
    p = log.topic("t").partition(0)
    m = log._maintenance
    clock.advance(59)
    assert m.rounds == 0 and len(p.segment_bases()) == n  # not due yet (the clock decides)
    clock.advance(1)
    deadline = time.monotonic() + 30
    while m.rounds < 1 and time.monotonic() < deadline:
        time.sleep(0.01)  # polling for the thread's round, with a deadline
    assert len(p.segment_bases()) == 1 and p.start_offset > 0, (n, m.rounds, m.last_error)
    log.close()
    with pytest.raises(InvalidArgumentError):
        eventlog.open(tmp_path, background_maintenance=-1)
