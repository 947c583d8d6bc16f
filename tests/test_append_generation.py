"""The append lock's generation counter (`FileLock.bump`, docs/format.md "Partition lock
file"): a writer that finds the counter as it left it skips the look-up of a successor
segment. These tests make other writers (real processes) roll, append and repair between a
writer's turns, and damage the counter, and check that offsets stay dense and the log
consistent every time."""
import multiprocessing
import os
import struct
import subprocess
import sys
import time

import pytest

import eventlog
from eventlog._os import fs as _fs
from eventlog._os.fs import FileLock

from log_checker import assert_log_consistent

SPAWN = multiprocessing.get_context("spawn")
_U64 = struct.Struct("<Q")


def _counter(part):
    with open(os.path.join(part.dir, "append.lock"), "rb") as f:
        return _U64.unpack(f.read(8))[0]


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
    # size is what we left, only the counter tells us to look for a successor
    with eventlog.open(tmp_path) as lg:
        p = lg.create_topic("t", segment_bytes=1024).partition(0)
        assert p.append(b"a" * 100) == 0
        assert p.append(b"a" * 100) == 1
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


def test_every_turn_bumps_the_counter_and_maintenance_holders_bump_it_too(tmp_path):
    with eventlog.open(tmp_path) as lg:
        p = lg.create_topic("t").partition(0)
        p.append(b"x")
        c = _counter(p)
        p.append(b"x")
        p.append_batch([(None, b"y")] * 5)
        assert _counter(p) == c + 2
        with p.append_lock():
            assert _counter(p) == c + 3
        p.delete_records(1)          # through append_lock()
        assert _counter(p) == c + 4
        assert p.append(b"z") == 7
        assert _counter(p) == c + 5
    assert_log_consistent(tmp_path)


@pytest.mark.parametrize("content", [b"", b"\x01\x02\x03", os.urandom(8) + b"old", b"\xff" * 8],
                         ids=["empty", "short", "garbage", "about-to-wrap"])
def test_a_missing_or_damaged_counter_is_just_another_value(tmp_path, content):
    with eventlog.open(tmp_path) as lg:
        p = lg.create_topic("t", segment_bytes=1024).partition(0)
        with open(os.path.join(p.dir, "append.lock"), "wb") as f:
            f.write(content)
        before = _U64.unpack((content + bytes(8))[:8])[0]
        for i in range(30):
            assert p.append(b"v" * 100) == i
        assert _counter(p) == (before + 30) % (1 << 64)
        assert _append_in_process(tmp_path, b"o" * 300, 5) == list(range(30, 35))
        assert p.append(b"v") == 35
    assert_log_consistent(tmp_path)


def test_the_counter_without_a_shared_mapping_is_the_same_counter(tmp_path, monkeypatch):
    # a file system that cannot map the lock file: pread/pwrite of the same bytes
    path = str(tmp_path / "x.lock")
    mapped = FileLock(path)
    mapped.acquire()
    assert mapped.bump() == 0
    mapped.release()

    def no_mmap(*a, **k):
        raise OSError(19, "No such device")  # ENODEV, as on a file system without mmap
    monkeypatch.setattr(_fs.mmap, "mmap", no_mmap)
    plain = FileLock(path)
    plain.acquire()
    assert plain.bump() == 1
    assert plain.bump() == 2
    plain.release()
    plain.close()
    mapped.acquire()
    assert mapped.bump() == 3
    mapped.release()
    mapped.close()
    with open(path, "rb") as f:
        assert _U64.unpack(f.read()) == (4,)


def test_a_topic_deleted_under_a_writer_is_noticed(tmp_path):
    # the counter of a deleted partition's lock file is never bumped again: the fstat of
    # the segment (no links left) must still send the writer back to the directory
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
    # our writer keeps its state (and its counter) across rounds in which another process
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


_OLDER_VERSION_APPEND = (
    "import sys, eventlog\n"
    "from eventlog._os.fs import FileLock\n"
    "def acquire_and_bump(self):  # as writers before the counter: the lock, never a bump\n"
    "    self.acquire()\n"
    "    return 0\n"
    "FileLock.acquire_and_bump = acquire_and_bump\n"
    "FileLock.bump = lambda self: 0\n"
    "p = eventlog.open(sys.argv[1]).topic('t').partition(0)\n"
    "print(p.append(sys.argv[2].encode()))\n")


def _wait_until_directory_is_quiet(path):
    # a writer trusts the directory's modification time only once it is older than
    # _DIR_QUIET_NS (file times come from a coarse clock): wait for that condition
    from eventlog.storage import writer
    deadline = time.monotonic() + 60
    while time.time_ns() - os.stat(path).st_mtime_ns <= writer._DIR_QUIET_NS:
        assert time.monotonic() < deadline
        time.sleep(0.005)


def test_a_writer_follows_a_roll_by_a_writer_of_an_older_version(tmp_path):
    # Writers of versions before the counter (0.1) take the append lock without bumping the
    # counter. When one rolls because its record does not fit, our segment is untouched and
    # the counter is as we left it: only the directory's modification time (the new segment
    # file) tells us to look for a successor. Without that look, our next record would take
    # an offset the other writer's segment already holds.
    with eventlog.open(tmp_path) as lg:
        p = lg.create_topic("t", segment_bytes=1024).partition(0)
        assert p.append(b"a" * 100) == 0
        _wait_until_directory_is_quiet(p.dir)
        assert p.append(b"a" * 100) == 1  # looks at the directory, now quiet: trusted
        assert p.append(b"a" * 100) == 2  # the fast road: counter, segment, directory unchanged
        size = os.path.getsize(os.path.join(p.dir, _logs(p)[0]))
        r = subprocess.run([sys.executable, "-c", _OLDER_VERSION_APPEND, str(tmp_path), "b" * 900],
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr
        assert r.stdout.split() == ["3"]
        assert len(_logs(p)) == 2
        assert os.path.getsize(os.path.join(p.dir, _logs(p)[0])) == size  # untouched
        assert _counter(p) == 3  # as our last turn left it: the older writer did not bump
        assert p.append(b"c") == 4
        assert [r.value[:1] for r in p.read(0, 10)] == [b"a", b"a", b"a", b"b", b"c"]
    assert_log_consistent(tmp_path)
