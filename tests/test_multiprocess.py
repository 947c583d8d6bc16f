"""Many writers, one partition: real OS processes (and threads) appending at once, and a
reader process tailing them. Offsets must stay dense and unique, each writer's records keep
their order, and a reader never sees a partial or corrupt record."""
import hashlib
import multiprocessing
import os
import random
import struct
import threading

import pytest

import eventlog
from eventlog.storage.reader import FetchState

from log_checker import assert_log_consistent

SPAWN = multiprocessing.get_context("spawn")
_REC = struct.Struct("<HI")  # writer id, sequence number within that writer


def make_value(writer, seq, rng):
    """A self-checking value: (writer, seq), random filler, then a digest of both."""
    body = _REC.pack(writer, seq) + rng.randbytes(rng.randint(0, 300))
    return body + hashlib.blake2b(body, digest_size=8).digest()


def check_value(v):
    body, digest = v[:-8], v[-8:]
    assert hashlib.blake2b(body, digest_size=8).digest() == digest, "corrupt record value"
    return _REC.unpack_from(body)


def _writer(path, topic, writer, batches, start, results):
    rng = random.Random(writer)
    p = eventlog.open(path).topic(topic).partition(0)
    start.wait()
    seq = 0
    ranges = []
    for _ in range(batches):
        n = rng.randint(1, 25)
        recs = [(b"w%d" % writer, make_value(writer, seq + i, rng)) for i in range(n)]
        r = p.append_batch(recs)
        assert len(r) == n
        ranges.append((r.start, r.stop, seq))
        seq += n
    results.put((writer, ranges))


def _tail(path, topic, total, start, results):
    """Tail the partition with fetch until `total` records were seen; report what was seen."""
    p = eventlog.open(path).topic(topic).partition(0)
    st = FetchState(0)
    start.wait()
    seen = hashlib.blake2b()
    n = empty = 0
    last_seq = {}
    while n < total:
        recs = p.fetch(st, random.randint(1, 700))
        if not recs:
            empty += 1
            continue
        for r in recs:
            assert r.offset == n, f"expected offset {n}, got {r.offset}"
            w, seq = check_value(r.value)
            assert r.key == b"w%d" % w
            assert seq == last_seq.get(w, -1) + 1, "a writer's records out of order"
            last_seq[w] = seq
            seen.update(struct.pack("<Q", r.offset) + r.value)
            n += 1
    assert p.fetch(st, 10) == []
    results.put(("reader", n, seen.hexdigest(), empty))


def _read_all(p):
    st = FetchState(0)
    out = []
    while True:
        recs = p.fetch(st, 5000)
        if not recs:
            return out
        out += recs


@pytest.mark.parametrize("compression, segment_bytes", [("none", 16 << 10), ("zstd", 64 << 10)])
def test_writers_in_processes_keep_offsets_dense_and_a_tailing_reader_sees_only_whole_batches(
        tmp_path, compression, segment_bytes):
    nwriters, batches = 3, 250
    with eventlog.open(tmp_path) as lg:
        lg.create_topic("t", segment_bytes=segment_bytes, compression=compression)
    # the reader must know how many records to wait for: writers draw sizes from fixed seeds
    sizes = {}
    for w in range(nwriters):
        rng = random.Random(w)
        n_total = 0
        for _ in range(batches):
            n = rng.randint(1, 25)
            for _i in range(n):
                rng.randbytes(rng.randint(0, 300))
            n_total += n
        sizes[w] = n_total
    total = sum(sizes.values())
    start, results = SPAWN.Event(), SPAWN.Queue()
    procs = [SPAWN.Process(target=_writer, args=(str(tmp_path), "t", w, batches, start, results))
             for w in range(nwriters)]
    procs.append(SPAWN.Process(target=_tail, args=(str(tmp_path), "t", total, start, results)))
    for pr in procs:
        pr.start()
    start.set()
    got = [results.get(timeout=120) for _ in procs]
    for pr in procs:
        pr.join(60)
        assert pr.exitcode == 0
    reader = next(g for g in got if g[0] == "reader")
    ranges = {g[0]: g[1] for g in got if g[0] != "reader"}

    with eventlog.open(tmp_path) as lg:
        p = lg.topic("t").partition(0)
        recs = _read_all(p)
        assert p.end_offset == total == len(recs)
        assert [r.offset for r in recs] == list(range(total))          # dense, no duplicates
        seqs = {}
        for r in recs:
            w, seq = check_value(r.value)
            seqs.setdefault(w, []).append((r.offset, seq))
        for w in range(nwriters):
            assert [s for _o, s in seqs[w]] == list(range(sizes[w]))   # each writer's own order
            # what each writer was told is exactly where its records are
            told = [(o, seq + i) for a, b, seq in ranges[w] for i, o in enumerate(range(a, b))]
            assert told == seqs[w]
        h = hashlib.blake2b()
        for r in recs:
            h.update(struct.pack("<Q", r.offset) + r.value)
        assert reader[1] == total and reader[2] == h.hexdigest()
        assert len([n for n in os.listdir(p.dir) if n.endswith(".log")]) > 3  # rolled while racing
    assert_log_consistent(tmp_path, allow_warnings=False, quarantine_files=0)


def test_threads_of_one_process_are_serialised(tmp_path):
    with eventlog.open(tmp_path) as lg, eventlog.open(tmp_path) as other:
        p = lg.create_topic("t", segment_bytes=8192).partition(0)
        q = other.topic("t").partition(0)  # a second handle in this process: its own flock
        errors = []

        def work(part, tid):
            rng = random.Random(tid)
            try:
                for i in range(150):
                    n = rng.randint(1, 8)
                    r = part.append_batch([(None, make_value(tid, i * 8 + j, rng)) for j in range(n)])
                    assert len(r) == n
            except BaseException as e:  # noqa: BLE001 - reported below
                errors.append(e)

        threads = [threading.Thread(target=work, args=(p if t % 2 else q, t)) for t in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors
        recs = _read_all(p)
        assert [r.offset for r in recs] == list(range(len(recs))) and p.end_offset == len(recs)
        per = {}
        for r in recs:
            w, seq = check_value(r.value)
            per.setdefault(w, []).append(seq)
        assert all(s == sorted(s) for s in per.values()) and len(per) == 6
    assert_log_consistent(tmp_path, allow_warnings=False, quarantine_files=0)


def test_reader_follows_segments_rolled_by_another_process(tmp_path):
    """A reader holding a FetchState in one process, a writer in another rolling segments."""
    with eventlog.open(tmp_path) as lg:
        p = lg.create_topic("t", segment_bytes=2048).partition(0)
        st = FetchState(0)
        assert p.fetch(st, 10) == []
        seen = 0
        for rnd in range(4):
            start, results = SPAWN.Event(), SPAWN.Queue()
            pr = SPAWN.Process(target=_writer, args=(str(tmp_path), "t", rnd, 30, start, results))
            pr.start()
            start.set()
            _w, ranges = results.get(timeout=60)
            pr.join(30)
            assert pr.exitcode == 0
            while True:
                recs = p.fetch(st, 37)
                if not recs:
                    break
                assert [r.offset for r in recs] == list(range(seen, seen + len(recs)))
                seen += len(recs)
            assert seen == st.offset == ranges[-1][1]
        assert len([n for n in os.listdir(p.dir) if n.endswith(".log")]) > 10
    assert_log_consistent(tmp_path, allow_warnings=False, quarantine_files=0)


# -- a tailing reader while two processes append and roll (issue 11, item 1) ------------------

STRESS = bool(os.environ.get("EVENTLOG_STRESS"))
_BIG = 9000  # ~9 KB records, 20 per batch: a 1 MiB segment rolls every ~5 batches


def _big_writer(path, topic, writer, batches, start):
    p = eventlog.open(path).topic(topic).partition(0)
    start.wait()
    for i in range(batches):
        # keys repeat every 400 records of a writer: compaction has something to remove
        p.append_batch([(b"w%d-%d" % (writer, (i * 20 + j) % 400), struct.pack("<HI", writer, i * 20 + j)
                         + bytes(_BIG)) for j in range(20)])


def _read_tailer(path, topic, total, start, results, compacted):
    """Tail with Partition.read (a fresh position each call) until `total` records were seen
    (on a compacted topic, until offset `total`: records the cleaner removed are skipped)."""
    try:
        p = eventlog.open(path).topic(topic).partition(0)
        start.wait()
        off, last, seen = 0, {}, 0
        while off < total:
            for r in p.read(off, max_records=1000):
                if compacted:
                    assert r.offset >= off, f"read({off}) returned offset {r.offset}"
                else:
                    assert r.offset == off, f"read({off}) returned offset {r.offset}: a gap"
                w, seq = struct.unpack_from("<HI", r.value)
                if compacted:
                    assert seq > last.get(w, -1), f"writer {w} out of order at offset {r.offset}"
                else:
                    assert seq == last.get(w, -1) + 1, f"writer {w} out of order at offset {off}"
                last[w] = seq
                off = r.offset + 1
                seen += 1
        results.put(("ok", seen))
    except BaseException:  # noqa: BLE001 - the parent reports it
        import traceback
        results.put(("error", traceback.format_exc()))


def _maintainer(path, stop):
    """Retention and compaction of every topic, over and over, until `stop`."""
    lg = eventlog.open(path)
    while not stop.is_set():
        lg.maintain()


def _tailing_round(path, with_maintenance):
    topic = "t"
    with eventlog.open(path) as lg:
        settings = {"segment_bytes": 1 << 20}
        if with_maintenance:
            # compaction of everything closed (every key is one writer's: most records are
            # cleaned), retention that never reaches the reader's records within a round
            settings.update(cleanup_policy="compact,delete", min_cleanable_dirty_ratio=0.01,
                            retention_bytes=1 << 40)
        lg.create_topic(topic, **settings)
    start, results, stop = SPAWN.Event(), SPAWN.Queue(), SPAWN.Event()
    procs = [SPAWN.Process(target=_big_writer, args=(path, topic, w, 75, start)) for w in range(2)]
    procs.append(SPAWN.Process(target=_read_tailer, args=(path, topic, 3000, start, results, with_maintenance)))
    maint = SPAWN.Process(target=_maintainer, args=(path, stop)) if with_maintenance else None
    for pr in procs + ([maint] if maint else []):
        pr.start()
    start.set()
    try:
        status, detail = results.get(timeout=300)
    finally:
        stop.set()
        for pr in procs + ([maint] if maint else []):
            pr.join(120)
    assert status == "ok", detail
    for pr in procs:
        assert pr.exitcode == 0
    assert_log_consistent(path, quarantine_files=0)
    return detail


@pytest.mark.slow
@pytest.mark.parametrize("with_maintenance", [False, True])
def test_tailing_reader_never_gets_a_gap_or_out_of_range_while_others_roll(tmp_path, with_maintenance):
    """Two writer processes append 20 records of ~9 KB per batch into 1 MiB segments while a
    third process tails with read(offset, 1000) (and, parametrized, a fourth runs compaction
    and retention). The reader must never see OffsetOutOfRangeError or a gap for an offset
    below the end. 200 rounds with EVENTLOG_STRESS=1, 3 otherwise."""
    seen = [_tailing_round(str(tmp_path / f"r{rnd}"), with_maintenance) for rnd in range(200 if STRESS else 3)]
    if not with_maintenance:
        assert seen == [3000] * len(seen)
