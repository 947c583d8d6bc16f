"""Crashes and damage: `kill -9` of an appending process at random moments, torn, garbage and
zero-filled tails, flipped bytes, and use after fork(). After each: the log reopens, nothing
acknowledged is lost, nothing corrupt is returned, and the next append cuts the damaged tail
and continues at the right offset."""
import hashlib
import multiprocessing
import os
import random
import shutil
import signal
import struct
import time

import pytest

import eventlog
from eventlog.storage import codec as _codec
from eventlog.storage.reader import FetchState
from eventlog.errors import ForkedProcessError

from log_checker import assert_log_consistent

SPAWN = multiprocessing.get_context("spawn")
STRESS = bool(os.environ.get("EVENTLOG_STRESS"))


def value_for(rnd, seq):
    """The value a child writes as record `seq` of round `rnd` (the parent recomputes it)."""
    head = struct.pack("<II", rnd, seq)
    return head + hashlib.sha256(head).digest() * (1 + seq % 7)


def batch_sizes(rnd):
    rng = random.Random(rnd)
    while True:
        yield rng.randint(1, 40)


def _append_forever(path, rnd, ack_path):
    """Append batches until killed; after each append returns, record it as acknowledged."""
    p = eventlog.open(path).topic("t").partition(0)
    ack = os.open(ack_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    seq = 0
    for n in batch_sizes(rnd):
        r = p.append_batch([(b"r%d" % rnd, value_for(rnd, seq + i)) for i in range(n)])
        os.write(ack, f"{r.start} {n} {rnd} {seq}\n".encode())
        seq += n


def _read_all(p, start=0):
    st = FetchState(start)
    out = []
    while True:
        recs = p.fetch(st, 3000)
        if not recs:
            return out
        out += recs


def _acked(ack_path):
    try:
        with open(ack_path) as f:
            lines = f.read().split("\n")[:-1]  # only whole lines: the last may be in progress
    except FileNotFoundError:
        return []
    return [tuple(map(int, ln.split())) for ln in lines]


def check_log(path, acks):
    """Every acknowledged batch present with its values; offsets dense; every round's records
    form whole batches in order; then an append continues at the end."""
    with eventlog.open(path) as lg:
        p = lg.topic("t").partition(0)
        recs = _read_all(p)
        assert [r.offset for r in recs] == list(range(len(recs)))
        assert p.end_offset == len(recs)
        for start, n, rnd, seq in acks:
            got = recs[start:start + n]
            assert [r.value for r in got] == [value_for(rnd, seq + i) for i in range(n)], (start, n, rnd)
        by_round = {}
        for r in recs:
            if r.key == b"parent":
                continue
            rnd, seq = struct.unpack_from("<II", r.value)
            assert r.value == value_for(rnd, seq)
            by_round.setdefault(rnd, []).append(seq)
        for rnd, seqs in by_round.items():
            assert seqs == list(range(len(seqs))), f"round {rnd} lost or reordered records"
            total, sizes = 0, batch_sizes(rnd)
            while total < len(seqs):
                total += next(sizes)
            assert total == len(seqs), f"round {rnd} has part of a batch"
        off = p.append(b"after", key=b"parent")
        assert off == len(recs)
        assert p.read(off)[0].value == b"after"
    assert_log_consistent(path, allow_warnings=False, quarantine_files=0)
    return len(recs) + 1


def _kill_rounds(tmp_path, rounds, segment_bytes):
    path = str(tmp_path / "data")
    with eventlog.open(path) as lg:
        lg.create_topic("t", segment_bytes=segment_bytes)
    ack_path = str(tmp_path / "acks")
    rng = random.Random(1234)
    all_acks = []
    for rnd in range(rounds):
        before = len(_acked(ack_path))
        pr = SPAWN.Process(target=_append_forever, args=(path, rnd, ack_path))
        pr.start()
        deadline = time.monotonic() + 60
        target = before + rng.randint(1, 20)  # let it get going, then kill at a random moment
        while len(_acked(ack_path)) < target and pr.is_alive():
            assert time.monotonic() < deadline, "the child made no progress"
            time.sleep(0.001)
        time.sleep(rng.random() * 0.03)  # a random moment, most likely inside an append
        os.kill(pr.pid, signal.SIGKILL)
        pr.join(30)
        assert pr.exitcode == -signal.SIGKILL
        all_acks = _acked(ack_path)
        check_log(path, all_acks)
    return all_acks


def test_kill_9_while_appending(tmp_path):
    acks = _kill_rounds(tmp_path, 10, 32 << 10)
    assert len({a[2] for a in acks}) == 10


@pytest.mark.slow
@pytest.mark.skipif(not STRESS, reason="set EVENTLOG_STRESS=1 for the long crash run")
def test_kill_9_while_appending_stress(tmp_path):
    _kill_rounds(tmp_path, 100, 8 << 10)


# -- damaged tails -----------------------------------------------------------------------------

def _build(path, batches, segment_bytes=1 << 20, big_last=False):
    """A log whose newest segment ends with a known batch; returns the expected values."""
    values = []
    with eventlog.open(path) as lg:
        p = lg.create_topic("t", segment_bytes=segment_bytes).partition(0)
        for i in range(batches):
            n = 1 + i % 5
            size = 2000 if (big_last and i == batches - 1) else 30
            vals = [b"%d-%d-" % (i, j) + b"x" * size for j in range(n)]
            p.append_batch([(None, v) for v in vals])
            values.append(vals)
        seg = os.path.join(p.dir, sorted(n for n in os.listdir(p.dir) if n.endswith(".log"))[-1])
    return values, seg


def _last_batch_span(seg_path):
    data = open(seg_path, "rb").read()
    spans = [(pos, info.length) for pos, info in _codec.batch_iter(data)]
    assert spans[-1][0] + spans[-1][1] == len(data)
    return spans[-1]


def _check_repaired(path, kept_values, new_value=b"NEW"):
    flat = [v for vals in kept_values for v in vals]
    with eventlog.open(path) as lg:
        p = lg.topic("t").partition(0)
        st = FetchState(len(flat))
        assert [r.value for r in _read_all(p)] == flat     # only whole, valid batches
        assert p.end_offset == len(flat)
        assert p.fetch(st, 10) == []                        # a reader waiting at the end
        off = p.append(new_value)                           # cuts the tail, continues
        assert off == len(flat)
        assert [r.value for r in _read_all(p)] == flat + [new_value]
        assert [r.value for r in p.fetch(st, 10)] == [new_value]
    with eventlog.open(path) as lg:  # and again from a fresh process view
        p = lg.topic("t").partition(0)
        assert [r.value for r in _read_all(p)] == flat + [new_value]
        assert p.append(b"again") == len(flat) + 1
        assert p.offset_for_time(0) == 0
    # a torn tail is cut quietly: nothing is quarantined
    assert_log_consistent(path, allow_warnings=False, quarantine_files=0)


DAMAGES = ["truncate", "garbage", "zeros", "flip", "truncate+zeros", "header-only", "huge-header"]


@pytest.mark.parametrize("big_last", [False, True])
@pytest.mark.parametrize("damage", DAMAGES)
def test_damaged_tail_is_cut(tmp_path, damage, big_last):
    pristine = tmp_path / "pristine"
    values, seg = _build(str(pristine), 40, big_last=big_last)
    pos, length = _last_batch_span(seg)
    rng = random.Random(f"{damage}{big_last}")
    for trial in range(8):
        path = tmp_path / f"trial{trial}"
        shutil.copytree(pristine, path)
        seg_path = os.path.join(str(path), os.path.relpath(seg, str(pristine)))
        kept = values[:-1]
        with open(seg_path, "r+b") as f:
            if damage == "truncate":
                f.truncate(pos + rng.randint(1, length - 1))
            elif damage == "garbage":
                kept = values
                f.seek(0, 2)
                f.write(rng.randbytes(rng.randint(1, 5000)))
            elif damage == "zeros":
                kept = values
                f.seek(0, 2)
                f.write(bytes(rng.randint(1, 5000)))
            elif damage == "flip":
                i = pos + rng.randrange(length)
                f.seek(i)
                b = f.read(1)[0]
                f.seek(i)
                f.write(bytes([b ^ (1 << rng.randrange(8))]))
            elif damage == "truncate+zeros":  # a crash that kept the size but not the data
                f.seek(pos + rng.randint(0, length - 1))
                f.write(bytes(length))
            elif damage == "header-only":
                f.truncate(pos + _codec.HEADER_SIZE)
            elif damage == "huge-header":  # a plausible header of a 1 GiB batch, then nothing
                kept = values
                base = sum(map(len, values))
                section = _codec.MAX_SECTION_BYTES
                f.seek(0, 2)
                f.write(_codec.HEADER.pack(b"EL", 1, 0, _codec.HEADER_SIZE + section, 0,
                                           _codec.NO_KEYS | _codec.UNIFORM_TS, 0, base, 0, 1, 0, 0,
                                           section, 0) + rng.randbytes(100))
        _check_repaired(str(path), kept)


def test_damaged_tail_of_an_empty_partition(tmp_path):
    path = str(tmp_path)
    with eventlog.open(path) as lg:
        p = lg.create_topic("t").partition(0)
        p.append(b"x")
        seg = os.path.join(p.dir, "00000000000000000000.log")
    with open(seg, "r+b") as f:
        f.truncate(10)
    _check_repaired(path, [])


def test_writer_with_open_state_meets_damage_from_outside(tmp_path):
    """A long-lived writer whose segment is cut or garbled behind its back does not write past
    a hole or after garbage."""
    with eventlog.open(tmp_path) as lg:
        p = lg.create_topic("t").partition(0)
        for i in range(10):
            p.append(b"v%d" % i)
        seg = os.path.join(p.dir, "00000000000000000000.log")
        pos, length = _last_batch_span(seg)
        with open(seg, "r+b") as f:
            f.truncate(pos + 5)       # the last acknowledged batch is torn (disk damage)
        assert p.append(b"next") == 9
        with open(seg, "ab") as f:
            f.write(b"\x00" * 100)    # zeros appended by someone
        assert p.append(b"more") == 10
        assert [r.value for r in p.read(0)] == [b"v%d" % i for i in range(9)] + [b"next", b"more"]
    assert_log_consistent(tmp_path, allow_warnings=False)


# -- fork --------------------------------------------------------------------------------------

def test_fork_refuses_use_of_inherited_objects(tmp_path):
    with eventlog.open(tmp_path) as lg:
        t = lg.create_topic("t")
        p = t.partition(0)
        p.append(b"before fork")
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: every use of the inherited objects must refuse
            code = 0
            try:
                for use in (lambda: p.append(b"from child"), lambda: p.read(0), lambda: p.end_offset,
                            lambda: lg.topic("t"), lambda: lg.create_topic("u")):
                    try:
                        use()
                        code |= 1
                    except ForkedProcessError:
                        pass
                with eventlog.open(tmp_path) as fresh:  # opening anew in the child works
                    fresh.topic("t").partition(0).append(b"child, fresh log")
            except BaseException:
                code |= 2
            os.write(w, bytes([code]))
            os._exit(0)
        os.close(w)
        code = os.read(r, 1)
        os.close(r)
        _pid, status = os.waitpid(pid, 0)
        assert code == b"\x00" and os.waitstatus_to_exitcode(status) == 0
        assert p.append(b"parent after") == 2
        assert [x.value for x in p.read(0)] == [b"before fork", b"child, fresh log", b"parent after"]


# -- crashes while a reader tails ------------------------------------------------------------

def _append_until_killed(path, wid, ack_path):
    p = eventlog.open(path).topic("t").partition(0)
    ack = os.open(ack_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    rng = random.Random(wid)
    seq = 0
    while True:
        n = rng.randint(1, 60)
        p.append_batch([(b"w%d" % wid, value_for(wid, seq + i)) for i in range(n)])
        os.write(ack, f"{wid} {seq + n}\n".encode())
        seq += n


def _tail_until_stopped(path, stop, results):
    """Follow the partition; every record must be whole and in each writer's order."""
    try:
        p = eventlog.open(path).topic("t").partition(0)
        st = FetchState(0)
        n, last = 0, {}
        while True:
            recs = p.fetch(st, random.randint(1, 900))
            if not recs:
                if stop.is_set():
                    recs = p.fetch(st, 1 << 30)
                    if not recs:
                        break
                else:
                    continue
            for r in recs:
                assert r.offset == n, f"expected offset {n}, got {r.offset}"
                wid, seq = struct.unpack_from("<II", r.value)
                assert r.value == value_for(wid, seq), f"corrupt record at offset {r.offset}"
                assert seq == last.get(wid, -1) + 1, f"writer {wid} out of order at offset {r.offset}"
                last[wid] = seq
                n += 1
        results.put(("ok", n))
    except BaseException:  # noqa: BLE001 - the parent reports it
        import traceback
        results.put(("error", traceback.format_exc()))


def _acked_by(ack_path):
    """{writer id: records acknowledged} from whole lines of the acks file ({} if none yet)."""
    out = {}
    for line in _acked_lines(ack_path):
        w, upto = map(int, line.split())
        out[w] = max(out.get(w, 0), upto)
    return out


def _acked_lines(ack_path):
    try:
        with open(ack_path) as f:
            return f.read().split("\n")[:-1]  # only whole lines: the last may be in progress
    except FileNotFoundError:  # no writer got as far as its first append
        return []


def _kill_while_appending(pr, wid, ack_path, rng):
    """SIGKILL writer `wid` while it appends: wait (on a busy machine a spawned child may take
    seconds to start) until it has acknowledged a batch, then a random moment more."""
    deadline = time.monotonic() + 120
    while wid not in _acked_by(ack_path):
        assert pr.is_alive(), f"writer {wid} died on its own"
        assert time.monotonic() < deadline, f"writer {wid} made no progress in 120 s"
        time.sleep(0.005)
    time.sleep(rng.random() * 0.05)
    os.kill(pr.pid, signal.SIGKILL)
    pr.join(30)


def _kill_writers_while_tailing(tmp_path, kills, segment_bytes):
    path, ack_path = str(tmp_path / "data"), str(tmp_path / "acks")
    with eventlog.open(path) as lg:
        lg.create_topic("t", segment_bytes=segment_bytes)
    stop, results = SPAWN.Event(), SPAWN.Queue()
    reader = SPAWN.Process(target=_tail_until_stopped, args=(path, stop, results))
    reader.start()
    rng = random.Random(77)
    live, wid = [], 0
    victim_ids = {}
    for _ in range(kills):
        while len(live) < 2:
            pr = SPAWN.Process(target=_append_until_killed, args=(path, wid, ack_path))
            pr.start()
            victim_ids[pr.pid] = wid
            live.append(pr)
            wid += 1
        victim = live.pop(rng.randrange(len(live)))
        _kill_while_appending(victim, victim_ids[victim.pid], ack_path, rng)
    for pr in live:
        _kill_while_appending(pr, victim_ids[pr.pid], ack_path, rng)
    stop.set()
    status, detail = results.get(timeout=300)
    reader.join(30)
    assert status == "ok", detail
    with eventlog.open(path) as lg:
        p = lg.topic("t").partition(0)
        recs = _read_all(p)
        assert detail == len(recs) == p.end_offset
        counts = {}
        for r in recs:
            wid_, seq = struct.unpack_from("<II", r.value)
            assert seq == counts.get(wid_, 0)
            counts[wid_] = seq + 1
        for w, upto in _acked_by(ack_path).items():
            assert counts.get(w, 0) >= upto, f"writer {w} was acknowledged up to {upto}"
        assert len(_acked_by(ack_path)) == wid  # every writer was killed while appending
    assert_log_consistent(path, quarantine_files=0)


def test_kill_9_writers_while_a_reader_tails(tmp_path):
    _kill_writers_while_tailing(tmp_path, 12, 4096)


@pytest.mark.slow
@pytest.mark.skipif(not STRESS, reason="set EVENTLOG_STRESS=1 for the long crash run")
def test_kill_9_writers_while_a_reader_tails_stress(tmp_path):
    _kill_writers_while_tailing(tmp_path, 200, 4096)
