"""Damage that is not a torn tail: a reader never skips it silently, `end_offset` and `read`
agree in every state, a writer moves it to a quarantine file loudly and never reuses an
offset that was readable, and `Log.verify()` / `eventlog verify` account for it."""
import logging
import os
import subprocess
import sys

import pytest

import eventlog
from eventlog.storage import codec as _codec
from eventlog.storage.reader import FetchState
from eventlog.errors import CorruptLogError

from log_checker import assert_log_consistent


def _segments(p):
    return sorted(n for n in os.listdir(p.dir) if n.endswith(".log"))


def _spans(path):
    with open(path, "rb") as f:
        data = f.read()
    return [(pos, info) for pos, info in _codec.batch_iter(data)]


def _flip(path, pos):
    with open(path, "r+b") as f:
        f.seek(pos)
        b = f.read(1)[0]
        f.seek(pos)
        f.write(bytes([b ^ 0x40]))


def _closed_segment_log(path):
    """Segment 0 holds offsets 0..5 (one record per batch), segment 6 holds 6..7."""
    with eventlog.open(path) as lg:
        p = lg.create_topic("t", segment_bytes=1024).partition(0)
        for i in range(8):
            p.append(b"v%d-" % i + b"x" * 100)
        segs = _segments(p)
        assert segs[1] == "00000000000000000006.log", segs
        return os.path.join(p.dir, segs[0])


def test_read_in_a_closed_segment_never_skips_to_the_next_one(tmp_path):
    seg = _closed_segment_log(tmp_path)
    pos, info = _spans(seg)[2]
    assert info.base_offset == 2
    _flip(seg, pos + info.length - 3)  # the batch of offset 2: CRC mismatch
    with eventlog.open(tmp_path) as lg:
        p = lg.topic("t").partition(0)
        assert [r.offset for r in p.read(0)] == [0, 1]
        for off in (2, 3, 5):  # the old code returned [6, 7] for read(2)
            with pytest.raises(CorruptLogError) as e:
                p.read(off)
            msg = str(e.value)
            assert "t[0]" in msg and seg in msg and "offset 2" in msg and "verify --repair" in msg
        with pytest.raises(CorruptLogError):  # a reader from 0 gets 0, 1, then the error
            st = FetchState(0)
            assert [r.offset for r in p.fetch(st, 10)] == [0, 1]
            p.fetch(st, 10)
        assert [r.offset for r in p.read(6)] == [6, 7]
        with pytest.raises(CorruptLogError):  # the same error type as fetch
            p.offset_for_time(1 << 62)
        report = lg.verify()
        assert not report.ok and report.errors[0].file == os.path.basename(seg)


def _newest_damaged(path, zeros=False):
    """60 batches of 3 records in one segment; bytes in the middle of batch 20 overwritten."""
    with eventlog.open(path) as lg:
        p = lg.create_topic("t").partition(0)
        for i in range(60):
            p.append_batch([(None, b"%d-%d" % (i, j) + b"y" * 300) for j in range(3)])
        seg = os.path.join(p.dir, _segments(p)[0])
    pos, info = _spans(seg)[20]
    assert info.base_offset == 60
    with open(seg, "r+b") as f:
        f.seek(pos + 100)
        f.write(bytes(200) if zeros else os.urandom(200))
    return seg


@pytest.mark.parametrize("zeros", [False, True])
def test_end_offset_and_read_agree_after_damage_in_the_newest_segment(tmp_path, zeros):
    seg = _newest_damaged(tmp_path, zeros)
    with eventlog.open(tmp_path) as lg:
        p = lg.topic("t").partition(0)
        end = p.end_offset
        assert end == 60  # not 180, past the damage (the last index entry is past it)
        for o in range(0, end, 7):
            assert p.read(o, 1)[0].offset == o
        with pytest.raises(CorruptLogError) as e:  # at the damage: loud, not [] forever
            p.read(60)
        assert seg in str(e.value) and "offset 60" in str(e.value)
        st = FetchState(0)
        assert len(p.fetch(st, 100)) == 60
        with pytest.raises(CorruptLogError):
            p.fetch(st, 100)
        assert not lg.verify().ok


def test_an_append_quarantines_only_the_damaged_bytes_loudly_and_keeps_the_rest(tmp_path, caplog):
    seg = _newest_damaged(tmp_path)
    pos, info = _spans(seg)[-1]
    pos += info.length  # the end of batch 19: the damage (batch 20, offsets 60..62)
    damaged = open(seg, "rb").read()[pos:pos + info.length]
    with caplog.at_level(logging.WARNING, logger="eventlog"), eventlog.open(tmp_path) as lg:
        p = lg.topic("t").partition(0)
        assert p.end_offset == 60  # until a writer resolves the damage
        off = p.append(b"after")
        assert off == 180  # offsets 60..179 were acknowledged: never given to other records
        assert p.end_offset == 181
        # the valid batches after the damage stay in place, readable at their offsets
        assert [r.offset for r in p.read(0, 1000)] == list(range(60)) + list(range(63, 181))
        assert [r.value[:5] for r in p.read(63, 1)] == [b"21-0y"]
        for o in (60, 61, 62):  # the gap reads on to the next record, as after compaction
            assert [r.offset for r in p.read(o, 1)] == [63]
    q = os.path.join(os.path.dirname(seg), f"00000000000000000000.{pos}.quarantine")
    assert open(q, "rb").read() == damaged  # only the damaged bytes, every one of them kept
    warn = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warn) == 1
    msg = warn[0].getMessage()
    assert "t[0]" in msg and "offsets 60..62" in msg and q in msg and "from offset 63" in msg
    report = assert_log_consistent(tmp_path, allow_warnings=False, quarantine_files=1)
    assert report.quarantined_bytes == len(damaged)
    assert report.partitions[0].quarantined_offsets == [(60, 62)]  # the gap, accounted for


def test_a_writer_resynchronises_over_several_damaged_ranges(tmp_path, caplog):
    seg = _newest_damaged(tmp_path)
    spans = _spans(seg)  # batches 0..19 (valid up to the damage)
    with open(seg, "r+b") as f:  # and damage batches 30, 31 (offsets 90..95) too
        data = f.read()
    more = [(p, i) for p, i in _codec.batch_iter(data, spans[-1][0] + spans[-1][1].length + 980)]
    p30, i30 = more[9]
    assert i30.base_offset == 90
    with open(seg, "r+b") as f:
        f.seek(p30 + 70)
        f.write(bytes(i30.length + 10))
    with caplog.at_level(logging.WARNING, logger="eventlog"), eventlog.open(tmp_path) as lg:
        p = lg.topic("t").partition(0)
        assert p.append(b"after") == 180
        got = [r.offset for r in p.read(0, 1000)]
        assert got == list(range(60)) + list(range(63, 90)) + list(range(96, 181))
    assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 2
    report = assert_log_consistent(tmp_path, allow_warnings=False, quarantine_files=2)
    assert report.partitions[0].quarantined_offsets == [(60, 62), (90, 95)]


def test_repair_resynchronises_a_closed_segment(tmp_path):
    seg = _closed_segment_log(tmp_path)
    pos, info = _spans(seg)[2]
    _flip(seg, pos + info.length - 3)  # the batch of offset 2
    with eventlog.open(tmp_path) as lg:
        p = lg.topic("t").partition(0)
        with pytest.raises(CorruptLogError):  # until repaired: loud
            p.read(3)
        assert p.append(b"new") == 8  # a writer does not touch a closed segment
    r = subprocess.run([sys.executable, "-m", "eventlog", "--dir", str(tmp_path), "verify", "--repair",
                        "--yes", "t"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "offsets 2..2" in r.stderr + r.stdout
    report = assert_log_consistent(tmp_path, allow_warnings=False, quarantine_files=1)
    assert report.partitions[0].quarantined_offsets == [(2, 2)]
    with eventlog.open(tmp_path) as lg:
        p = lg.topic("t").partition(0)
        # records 3..5 after the damage in the same segment are kept and readable
        assert [r.offset for r in p.read(0, 100)] == [0, 1, 3, 4, 5, 6, 7, 8]
        assert [r.offset for r in p.read(2, 1)] == [3]
        assert p.read(5, 1)[0].value.startswith(b"v5-")


def test_a_padded_gap_batch_decodes_to_no_records():
    data = _codec.gap_batch(10, 4, 123, 500)
    assert len(data) == 500
    info = _codec.peek(data)
    assert (info.base_offset, info.next_offset, info.count) == (10, 15, 0)
    assert _codec.decode(data) == []
    with pytest.raises(ValueError):
        _codec.gap_batch(0, 0, 1, 55)


def test_a_torn_tail_is_still_cut_quietly(tmp_path, caplog):
    with eventlog.open(tmp_path) as lg:
        p = lg.create_topic("t").partition(0)
        for i in range(5):
            p.append(b"v%d" % i)
        seg = os.path.join(p.dir, _segments(p)[0])
    pos, info = _spans(seg)[-1]
    with open(seg, "r+b") as f:
        f.truncate(pos + info.length - 2)
    with caplog.at_level(logging.WARNING, logger="eventlog"), eventlog.open(tmp_path) as lg:
        p = lg.topic("t").partition(0)
        assert p.end_offset == 4 and p.read(4) == []
        assert p.append(b"next") == 4
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert not [n for n in os.listdir(os.path.dirname(seg)) if "quarantine" in n]
    assert_log_consistent(tmp_path, allow_warnings=False, quarantine_files=0)


def test_consume_on_a_damaged_log_fails_loudly(tmp_path):
    _newest_damaged(tmp_path)
    p = subprocess.run([sys.executable, "-m", "eventlog", "--dir", str(tmp_path), "consume", "t",
                        "--from-beginning"], capture_output=True, text=True, timeout=120)
    assert p.returncode != 0
    assert len(p.stdout.splitlines()) == 60
    assert "CorruptLog" in p.stderr or "corrupt" in p.stderr.lower() or "invalid batch" in p.stderr
    assert "verify --repair --yes t" in p.stderr


def test_consumer_raises_corrupt_log_error(tmp_path):
    _newest_damaged(tmp_path)
    with eventlog.open(tmp_path) as lg, lg.consumer(auto_offset_reset="earliest") as c:
        c.assign([eventlog.TopicPartition("t", 0)])
        got = []
        with pytest.raises(CorruptLogError):
            for _ in range(100):
                got += c.poll(timeout=0.01)
        assert len(got) == 60


def test_repair_then_verify_ok(tmp_path):
    _newest_damaged(tmp_path)
    p = subprocess.run([sys.executable, "-m", "eventlog", "--dir", str(tmp_path), "verify", "--repair",
                        "--yes", "t"], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    report = assert_log_consistent(tmp_path, allow_warnings=False, quarantine_files=1)
    assert report.partitions[0].end_offset == 180
    with eventlog.open(tmp_path) as lg:
        p = lg.topic("t").partition(0)
        assert [r.offset for r in p.read(0, 1000)] == list(range(60)) + list(range(63, 180))
        assert p.append(b"z") == 180


def test_verify_reports_committed_offsets(tmp_path):
    from eventlog.offsets import FileOffsetStore
    with eventlog.open(tmp_path) as lg:
        t = lg.create_topic("t", partitions=2)
        lg.create_topic("u")
        for i in range(10):
            t.partition(0).append(b"%d" % i)
        store = FileOffsetStore(lg.path)
        store.commit("ok", {eventlog.TopicPartition("t", 0): 10})
        assert lg.verify().ok and lg.verify().problems == []
        store.commit("past", {eventlog.TopicPartition("t", 0): 11})
        t.partition(0).delete_records(4)
        store.commit("before", {eventlog.TopicPartition("t", 0): 2})
        store.commit_partition("stale", eventlog.TopicPartition("t", 1), 0, topic_id="Z" * 22)
        report = lg.verify()
        got = {(p.severity, p.topic, p.partition, p.offsets) for p in report.problems}
        assert got == {("error", "t", 0, (11, 11)), ("info", "t", 0, (2, 2)), ("error", "t", 1, (0, 0))}
        assert not report.ok and len(report.errors) == 2
        assert any("past-end" in p.message and "'past'" in p.message for p in report.errors)
        assert lg.verify("u").problems == []  # only the topics asked for
    r = subprocess.run([sys.executable, "-m", "eventlog", "--dir", str(tmp_path), "verify"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 1 and "past-end" in r.stdout + r.stderr, r.stdout + r.stderr
