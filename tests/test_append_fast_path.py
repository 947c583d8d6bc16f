"""The append fast road (storage/writer.py `_append`): a writer that finds its segment's size
and the partition directory's modification time as it left them skips the look-up of a
successor segment. These tests make other writers (real processes) roll, append, die and
delete between a writer's turns, and check that offsets stay dense and the log consistent
every time."""
import multiprocessing
import os
import subprocess
import sys
import time

import pytest

import eventlog
from eventlog.storage import writer

from log_checker import assert_log_consistent

SPAWN = multiprocessing.get_context("spawn")


def _wait_until_directory_is_quiet(path):
    # a writer trusts the directory's modification time only once it is old enough
    # (`dir_quiet_ns`: file times come from a coarse clock): wait for that condition, so the
    # next turns take the fast road
    deadline = time.monotonic() + 60
    while time.time_ns() - (m := os.stat(path).st_mtime_ns) <= writer.dir_quiet_ns(m):
        assert time.monotonic() < deadline
        time.sleep(0.005)


def _logs(part):
    return sorted(n for n in os.listdir(part.dir) if n.endswith(".log"))


def _append_in_process(path, value, n=1):
    """Append `n` records of `value` to t[0] from a new process; return their offsets."""
    code = ("import sys, eventlog\n"
            "p = eventlog.open(sys.argv[1]).topic('t').partition(0)\n"
            "print(*[p.append(sys.argv[2].encode()) for _ in range(int(sys.argv[3]))])\n")
    r = subprocess.run([sys.executable, "-c", code, str(path), value.decode(), str(n)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return [int(x) for x in r.stdout.split()]


def test_a_writer_follows_a_roll_another_process_made_without_touching_its_segment(tmp_path):
    # the other process rolls because its record does not fit in the segment: our segment's
    # size is what we left, only the directory's modification time (the new segment file)
    # tells us to look for a successor; without that look, our next record would take an
    # offset the other writer's segment already holds
    with eventlog.open(tmp_path) as lg:
        p = lg.create_topic("t", segment_bytes=1024).partition(0)
        assert p.append(b"a" * 100) == 0
        _wait_until_directory_is_quiet(p.dir)
        assert p.append(b"a" * 100) == 1  # looks at the directory, now quiet: trusted
        size = os.path.getsize(os.path.join(p.dir, _logs(p)[0]))
        assert _append_in_process(tmp_path, b"b" * 900) == [2]
        assert len(_logs(p)) == 2
        assert os.path.getsize(os.path.join(p.dir, _logs(p)[0])) == size  # untouched
        assert p.append(b"c") == 3
        assert p.append_batch([(None, b"d")] * 3) == range(4, 7)
        assert [r.value[:1] for r in p.read(0, 10)] == [b"a", b"a", b"b", b"c", b"d", b"d", b"d"]
    assert_log_consistent(tmp_path)


def _roller(path, rounds, ready, start):
    p = eventlog.open(path).topic("t").partition(0)
    p.append(b"r" * 700)  # warm: imports, descriptors
    ready.set()
    start.wait()
    for _ in range(rounds):
        p.append(b"r" * 700)  # at a position > 0 of a 1 KiB segment: always rolls first


def test_writers_in_two_processes_interleaving_appends_and_rolls(tmp_path):
    # the other process rolls on (almost) every append, so between two appends of ours it
    # has often moved the log to a new segment without touching ours
    n = 1500
    with eventlog.open(tmp_path) as lg:
        p = lg.create_topic("t", segment_bytes=1024).partition(0)
        p.append(b"x")
        ready, start = SPAWN.Event(), SPAWN.Event()
        pr = SPAWN.Process(target=_roller, args=(tmp_path, n, ready, start))
        pr.start()
        assert ready.wait(120)
        start.set()
        got = [p.append(b"w" * 5) for _ in range(n)]
        pr.join(120)
        assert pr.exitcode == 0
        assert got == sorted(got) and len(set(got)) == n
        assert p.end_offset == 2 * n + 2
        assert [r.offset for r in p.read(0, 10 * n)] == list(range(2 * n + 2))
        assert len(_logs(p)) > 100
    assert_log_consistent(tmp_path)


def test_a_topic_deleted_under_a_writer_is_noticed(tmp_path):
    # the fstat of the segment (no links left) must send the writer back to the directory
    with eventlog.open(tmp_path) as a, eventlog.open(tmp_path) as b:
        pa = a.create_topic("t").partition(0)
        pa.append(b"x")
        b.delete_topic("t")
        with pytest.raises(eventlog.UnknownTopicError):
            pa.append(b"y")


def _append_singles_forever(path, tag):
    p = eventlog.open(path).topic("t").partition(0)
    i = 0
    while True:
        p.append(b"%s-%d-" % (tag, i) + b"c" * (i % 200), key=tag if i % 2 else None)
        i += 1


def test_a_long_lived_writer_meets_writers_killed_in_mid_append(tmp_path):
    # our writer keeps its state across rounds in which another process
    # appends single records beside it and is killed (SIGKILL) at a random moment, perhaps
    # holding the lock with half a batch written: every append of ours must land at the
    # true end, after cutting any torn tail
    import random
    import signal
    import time
    rng = random.Random(7)
    path = str(tmp_path / "data")
    ours = {}
    with eventlog.open(path) as lg:
        p = lg.create_topic("t", segment_bytes=4096).partition(0)
        ours[p.append(b"ours-start")] = b"ours-start"
        for rnd in range(8):
            tag = b"w%d" % rnd
            pr = SPAWN.Process(target=_append_singles_forever, args=(path, tag))
            pr.start()
            deadline = time.monotonic() + 60
            goal = p.end_offset + rng.randint(20, 200)
            while p.end_offset < goal:
                assert time.monotonic() < deadline and pr.is_alive(), "the child made no progress"
                v = b"ours-%d-%d" % (rnd, len(ours))
                ours[p.append(v)] = v
            os.kill(pr.pid, signal.SIGKILL)
            pr.join(30)
            assert pr.exitcode == -signal.SIGKILL
            for _ in range(3):
                v = b"ours-%d-%d-after" % (rnd, len(ours))
                ours[p.append(v)] = v
        offs = sorted(ours)
        recs = p.read(0, 1_000_000)
        assert [r.offset for r in recs] == list(range(len(recs))) and p.end_offset == len(recs)
        for o in offs:
            assert recs[o].value == ours[o]
        seqs = {}
        for r in recs:
            if r.value.startswith(b"w"):
                tag, seq, _rest = r.value.split(b"-", 2)
                seqs.setdefault(tag, []).append(int(seq))
        for tag, got in seqs.items():
            assert got == list(range(len(got))), f"{tag}: records lost or reordered"
        assert len(_logs(p)) > 3
    assert_log_consistent(path, allow_warnings=False)


def test_a_directory_time_is_trusted_after_two_steps_of_its_clock():
    tick = writer._TICK_NS
    assert tick >= 1_000_000
    # a fine-grained time: two ticks of the coarse clock
    assert writer.dir_quiet_ns(1_764_194_400_123_456_789) == 2 * tick
    # a time in whole seconds (ext4 with 128-byte inodes, FAT's 2 s): two seconds at least
    assert writer.dir_quiet_ns(1_764_194_400_000_000_000) == 2_000_000_000
    assert writer.dir_quiet_ns(1_764_194_402_000_000_000) == 2_000_000_000
    # whole hundredths of a second: 20 ms (or two ticks, if coarser)
    assert writer.dir_quiet_ns(1_764_194_400_120_000_000) == 2 * max(tick, 10_000_000)
