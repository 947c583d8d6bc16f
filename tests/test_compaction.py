"""Compaction: newest value per key (against a dict model), tombstones, min lag, readers that
see files replaced, other processes writing/reading meanwhile, kill -9 of the compactor."""
import multiprocessing
import os
import random
import signal
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import eventlog
from eventlog.storage import codec as _codec
from eventlog.storage.reader import FetchState
from eventlog.errors import InvalidArgumentError

SPAWN = multiprocessing.get_context("spawn")
STRESS = bool(os.environ.get("EVENTLOG_STRESS"))
HOUR = 3600_000


def now_ms():
    return time.time_ns() // 1_000_000


def read_all(p):
    """Every record from the start, checking offsets strictly increase."""
    st = FetchState(p.start_offset)
    out = []
    while True:
        recs = p.fetch(st, 1000)
        if not recs:
            break
        out += recs
    offs = [r.offset for r in out]
    assert offs == sorted(set(offs)), "offsets must strictly increase"
    return out


def compacted(log, name="t", **kw):
    kw.setdefault("segment_bytes", 1024)
    kw.setdefault("min_cleanable_dirty_ratio", 0.0)
    return log.create_topic(name, cleanup_policy="compact", **kw).partition(0)


def check_against(p, model, history):
    """Reads equal a compaction of `history` [(offset, key, value)]: the newest record of every
    key is there with its offset; every record returned is the one written at its offset."""
    written = {o: (k, v) for o, k, v in history}
    recs = read_all(p)
    for r in recs:
        assert written[r.offset] == (r.key, r.value)
    got = {}
    for r in recs:
        got[r.key] = r
    newest = {}
    for o, k, _v in history:
        newest[k] = o
    for k, v in model.items():
        if v is None and k not in got:
            continue  # a tombstone may be gone once expired
        assert got[k].value == v and got[k].offset == newest[k]
    return recs


def test_keyless_records_refused(tmp_path):
    p = compacted(eventlog.open(tmp_path))
    with pytest.raises(InvalidArgumentError, match="key"):
        p.append(b"v")
    with pytest.raises(InvalidArgumentError, match="key"):
        p.append_batch([(b"k", b"v"), (None, b"w")])


def test_codec_empty_and_open_ended_batches():
    prep = _codec.prepare_empty(9, 123)
    data = _codec.seal(prep, 100) + prep.payload
    assert _codec.decode(data) == []
    info = _codec.peek(data)
    assert info.count == 0 and info.next_offset == 110
    data = _codec.encode(100, [b"a", b"b"], [b"1", b"2"], 5, offset_deltas=[2, 4])
    prep = _codec.prepare([b"a", b"b"], [b"1", b"2"], 5, offset_deltas=[2, 4])
    prep.last_delta = 7
    data = _codec.seal(prep, 100) + prep.payload
    assert [r[0] for r in _codec.decode(data)] == [102, 104]
    assert _codec.peek(data).next_offset == 108
    # a count of 0 without OFFSET_DELTAS is still not a batch
    bad = _codec.encode(0, None, [b"v"], 5)
    bad = bad[:28] + (0).to_bytes(4, "little") + bad[32:]
    with pytest.raises(_codec.CorruptBatchError):
        _codec.peek(bad)


def test_compaction_keeps_newest_per_key(tmp_path):
    log = eventlog.open(tmp_path)
    p = compacted(log)
    model, hist = {}, []
    rng = random.Random(1)
    for i in range(600):
        k, v = b"k%d" % rng.randrange(20), b"v%d" % i
        hist.append((p.append(v, key=k), k, v))
        model[k] = v
    n_before = len(read_all(p))
    rep = log.maintain()[p.tp]
    assert rep["records_cleaned"] > 500 and rep["segments_cleaned"] > 0
    recs = check_against(p, model, hist)
    assert len(recs) < n_before
    assert p.end_offset == 600 and p.append(b"x", key=b"k0") == 600
    # a second run finds nothing dirty below the checkpoint except the new data
    again = log.maintain()[p.tp]
    assert again["records_cleaned"] <= 20


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=st.lists(st.tuples(st.integers(0, 12), st.one_of(st.none(), st.binary(max_size=60))),
                    min_size=1, max_size=250),
       buffer=st.sampled_from([1024, 1 << 20]), rounds=st.integers(1, 3), zstd=st.booleans())
def test_compaction_against_model(tmp_path_factory, ops, buffer, rounds, zstd):
    log = eventlog.open(tmp_path_factory.mktemp("c"))
    p = compacted(log, cleaner_buffer_bytes=buffer, compression="zstd" if zstd else "none",
                  delete_retention_ms=HOUR)
    model, hist = {}, []
    chunk = max(1, len(ops) // rounds)
    for r in range(rounds):
        part = ops[r * chunk:] if r == rounds - 1 else ops[r * chunk:(r + 1) * chunk]
        i = 0
        while i < len(part):
            n = 1 + (i % 3)
            batch = [(b"key-%d" % k + (b"L" * 40 if k % 5 == 0 else b""), v) for k, v in part[i:i + n]]
            rng_ = p.append_batch(batch)
            for o, (k, v) in zip(rng_, batch):
                hist.append((o, k, v))
                model[k] = v
            i += n
        log.maintain()
        check_against(p, model, hist)
    # tombstones kept (delete_retention_ms not passed): reads give the model exactly for
    # every key whose newest record is in a closed segment
    got = {r.key: r.value for r in read_all(p)}
    assert got == model


def test_tombstones_expire_after_delete_retention(tmp_path):
    log = eventlog.open(tmp_path)
    p = compacted(log, delete_retention_ms=0)
    for i in range(100):
        p.append(b"x" * 50, key=b"k%d" % (i % 10))
    for i in range(10):
        p.append(None, key=b"k%d" % i)
    p.append_batch([(b"pad%d" % i, b"y" * 300) for i in range(4)])  # tombstones in closed segments
    p.append(b"z" * 900, key=b"last")
    log.maintain()
    keys = {r.key: r.value for r in read_all(p)}
    assert all(keys[b"k%d" % i] is None for i in range(10))   # kept after the first clean
    log.maintain()
    keys = {r.key: r.value for r in read_all(p)}
    assert not any(b"k%d" % i in keys for i in range(10))     # then dropped
    assert b"last" in keys


def test_tombstones_kept_within_delete_retention(tmp_path):
    log = eventlog.open(tmp_path)
    p = compacted(log, delete_retention_ms=HOUR)
    for i in range(20):
        p.append(b"x" * 100, key=b"a")
    p.append(None, key=b"a")
    p.append_batch([(b"pad%d" % i, b"y" * 300) for i in range(8)])
    for _ in range(3):
        log.maintain()
    recs = [r for r in read_all(p) if r.key == b"a"]
    assert len(recs) == 1 and recs[0].value is None


def test_min_compaction_lag(tmp_path):
    log = eventlog.open(tmp_path)
    p = compacted(log, min_compaction_lag_ms=HOUR)
    old = now_ms() - 2 * HOUR
    for i in range(50):
        p.append(b"x" * 100, key=b"k%d" % (i % 5), timestamp_ms=old)
    mid = p.end_offset
    for i in range(50):
        p.append(b"x" * 100, key=b"k%d" % (i % 5))  # recent: left alone
    log.maintain()
    recs = read_all(p)
    recent = [r.offset for r in recs if r.offset >= mid]
    assert len(recent) >= 45  # nothing newer than the lag was removed (but the active-segment edge)
    assert len([r for r in recs if r.offset < mid]) < 50


def test_reader_relocates_when_segment_replaced(tmp_path):
    log = eventlog.open(tmp_path)
    p = compacted(log, segment_bytes=8192)
    for i in range(400):
        p.append(b"v%d" % i, key=b"k%d" % (i % 7))
    st = FetchState(0)
    first = p.fetch(st, 3)
    seg = st.seg
    assert st.pos > 0
    log.maintain()
    # a reader whose handle stayed open finishes the old file
    keep = FetchState(0)
    keep_first = p.fetch(keep, 3)
    # one whose handle was closed (descriptor budget) reopens the new file: it must relocate
    seg.close()
    rest = p.fetch(st, 10_000)
    offs = [r.offset for r in first + rest]
    assert offs == sorted(set(offs))
    assert [r.offset for r in rest] == [r.offset for r in read_all(p) if r.offset > first[-1].offset]
    more = keep_first + p.fetch(keep, 10_000)
    assert [r.offset for r in more] == sorted({r.offset for r in more})


def test_stray_cleaned_files_are_recovered(tmp_path):
    log = eventlog.open(tmp_path)
    p = compacted(log)
    hist, model = [], {}
    for i in range(200):
        k, v = b"k%d" % (i % 9), b"v%d" % i
        hist.append((p.append(v, key=k), k, v))
        model[k] = v
    b = p._list_bases()[0]
    junk = os.path.join(p.dir, f"{b:020d}.log.cleaned")
    with open(junk, "wb") as f:
        f.write(b"half written")
    open(os.path.join(p.dir, f"{b:020d}.index.cleaned"), "wb").close()
    log.maintain()
    assert not [n for n in os.listdir(p.dir) if n.endswith(".cleaned")]
    check_against(p, model, hist)


# -- other processes -----------------------------------------------------------------------
def _writer(path, n, keys, seed):
    p = eventlog.open(path).topic("t").partition(0)
    rng = random.Random(seed)
    i = 0
    while i < n:
        b = rng.randint(1, 5)
        p.append_batch([(b"k%d" % ((i + j) % keys), b"%d" % (i + j)) for j in range(min(b, n - i))])
        i += b


def _maintainer(path, until):
    log = eventlog.open(path)
    while not os.path.exists(until):
        log.maintain()


def _reader(path, n, keys, out):
    """Read to the end (n records written) checking invariants; reset to the start when the
    position fell below it (as auto_offset_reset="earliest")."""
    p = eventlog.open(path).topic("t").partition(0)
    st = FetchState(0)
    last = -1
    per_key = {}
    seen = 0
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline:
            recs = p.fetch(st, 500)
            if not recs and st.seg is None:
                st = FetchState(max(p.start_offset, last + 1))
                continue
            for r in recs:
                assert r.offset > last, (r.offset, last)
                last = r.offset
                i = int(r.value)
                assert r.key == b"k%d" % (i % keys), (r.key, i)
                assert i > per_key.get(r.key, -1)
                per_key[r.key] = i
                seen += 1
            if last >= n - 1:
                break
            if not recs:
                time.sleep(0.002)
        out.put(("ok", seen, last))
    except BaseException as e:  # report, do not hang the parent
        out.put(("error", repr(e), last))


@pytest.mark.parametrize("policy", ["compact", "compact,delete"])
def test_processes_read_and_write_during_maintenance(tmp_path, policy):
    n, keys = 3000, 40
    log = eventlog.open(tmp_path)
    log.create_topic("t", cleanup_policy=policy, segment_bytes=2048, min_cleanable_dirty_ratio=0.0,
                     retention_bytes=16_000, retention_ms=None, delete_retention_ms=0)
    stop = os.path.join(tmp_path, "stop")
    out = SPAWN.Queue()
    procs = [SPAWN.Process(target=_writer, args=(str(tmp_path), n, keys, 7)),
             SPAWN.Process(target=_maintainer, args=(str(tmp_path), stop)),
             SPAWN.Process(target=_reader, args=(str(tmp_path), n, keys, out))]
    for pr in procs:
        pr.start()
    try:
        procs[0].join(120)
        assert procs[0].exitcode == 0
        res = out.get(timeout=120)
        assert res[0] == "ok", res
        assert res[2] == n - 1
    finally:
        open(stop, "w").close()
        for pr in procs:
            pr.join(30)
            if pr.is_alive():
                pr.kill()
    assert procs[1].exitcode == 0
    p = log.topic("t").partition(0)
    log.maintain()
    recs = read_all(p)
    newest = {}
    for i in range(n):
        newest[b"k%d" % (i % keys)] = i
    got = {r.key: int(r.value) for r in recs}
    for k, v in got.items():
        assert v <= newest[k]
    if policy == "compact":  # nothing deleted by retention: exactly the newest per key
        assert got == newest


def _compact_forever(path, ready):
    log = eventlog.open(path)
    open(ready, "w").close()
    while True:
        log.maintain()


def _rounds():
    return 30 if STRESS else 3


@pytest.mark.slow
def test_kill9_during_compaction(tmp_path):
    rng = random.Random(5)
    log = eventlog.open(tmp_path)
    # a small offset map: many passes, each rewriting every segment, so kills land mid-work
    p = compacted(log, segment_bytes=32 << 10, delete_retention_ms=HOUR, cleaner_buffer_bytes=4096)
    model, hist = {}, []
    for rnd in range(_rounds()):
        for _ in range(60):
            batch = [(b"k%d" % rng.randrange(300), None if rng.random() < 0.05 else os.urandom(rng.randrange(10, 300)))
                     for _ in range(rng.randint(1, 30))]
            for o, (k, v) in zip(p.append_batch(batch), batch):
                hist.append((o, k, v))
                model[k] = v
        ready = os.path.join(tmp_path, f"ready{rnd}")
        pr = SPAWN.Process(target=_compact_forever, args=(str(tmp_path), ready))
        pr.start()
        while not os.path.exists(ready):
            time.sleep(0.005)
        time.sleep(rng.random() * 0.08)  # one run here takes ~0.05-0.2 s
        os.kill(pr.pid, signal.SIGKILL)
        pr.join()
        p2 = eventlog.open(tmp_path).topic("t").partition(0)
        check_against(p2, model, hist)
        eventlog.open(tmp_path).maintain()
        check_against(p2, model, hist)
        assert not [n for n in os.listdir(p.dir) if n.endswith(".cleaned")]
