"""Transactions (issue 15): atomic visibility across partitions for read_committed readers,
offsets committed with the transaction, fencing (also across processes), timeouts, recovery
after kill -9 at each step of the commit protocol, and an exactly-once pipeline whose workers
are killed -9 at random. The invariant checker runs after every crash and multi-process test."""
import os
import random
import subprocess
import sys
import time

import pytest

import eventlog
from eventlog.clients.transactional import TransactionalProducer
from eventlog.errors import IllegalStateError, InvalidArgumentError, ProducerFencedError, TransactionAbortedError
from eventlog.record import TopicPartition as TP
from log_checker import assert_log_consistent

PROCS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "txn_procs.py")


def read_all(log, topic, iso, timeout=0.2):
    c = log.consumer(isolation_level=iso, auto_offset_reset="earliest")
    c.assign([TP(topic, p) for p in range(log.topic(topic).partition_count)])
    out = []
    while True:
        recs = c.poll(timeout)
        if not recs:
            break
        out += recs
    pos = {tp: c.position(tp) for tp in c.assignment()}
    c.close()
    return out, pos


def values(recs):
    return sorted(r.value for r in recs)


@pytest.fixture
def log(tmp_path):
    lg = eventlog.open(str(tmp_path / "log"))
    lg.create_topic("out", partitions=3)
    lg.create_topic("in", partitions=1)
    yield lg
    lg.close()
    assert_log_consistent(str(tmp_path / "log"))


def test_commit_abort_and_open_across_partitions(log):
    p = log.producer(transactional_id="t")
    p.init_transactions()
    p.begin_transaction()
    futs = [p.send("out", value=b"c%d" % i, partition=i % 3) for i in range(9)]
    p.commit_transaction()
    assert all(f.done() for f in futs)
    p.begin_transaction()
    for i in range(9):
        p.send("out", value=b"a%d" % i, partition=i % 3)
    p.flush()
    p.abort_transaction()
    plain = log.producer()
    plain.send("out", value=b"plain", partition=1)
    plain.flush()
    p.begin_transaction()
    for i in range(3):
        p.send("out", value=b"o%d" % i, partition=i)
    p.flush()
    committed = [b"c%d" % i for i in range(9)]
    unc, _ = read_all(log, "out", "read_uncommitted")
    assert values(unc) == sorted(committed + [b"a%d" % i for i in range(9)] + [b"o0", b"o1", b"o2", b"plain"])
    rc, pos = read_all(log, "out", "read_committed")
    # "plain" was written before the open transaction began: visible; o0..o2 are not
    assert values(rc) == sorted(committed + [b"plain"])
    plain.send("out", value=b"late", partition=1)  # after the open transaction's first record
    plain.flush()
    rc, pos = read_all(log, "out", "read_committed")
    assert values(rc) == sorted(committed + [b"plain"])  # held back by the LSO
    # ... and positions stop at the LSO, the first offset of the open transaction
    lso = {TP("out", i): log.topic("out").partition(i).end_offset - 1 for i in range(3)}
    assert pos[TP("out", 0)] == lso[TP("out", 0)]
    p.commit_transaction()
    rc, pos = read_all(log, "out", "read_committed")
    assert values(rc) == sorted(committed + [b"plain", b"late", b"o0", b"o1", b"o2"])
    # markers take offsets: dense, and read() skips them as it does compacted-away offsets
    part = log.topic("out").partition(0)
    offs = [r.offset for r in part.read(0, 100)]
    assert offs == [0, 1, 2, 4, 5, 6, 8]  # 3 and 7 are the commit / abort markers
    assert part.end_offset == 10          # 9 is the last commit marker
    p.close()
    plain.close()


def test_consumer_position_moves_past_aborted_records(log):
    p = log.producer(transactional_id="t")
    p.init_transactions()
    for n in range(3):
        p.begin_transaction()
        for i in range(1000):
            p.send("out", value=b"x", partition=0)
            if i % 100 == 99:
                p.flush()  # ten batches per transaction
        p.abort_transaction() if n < 2 else p.commit_transaction()
    rc, pos = read_all(log, "out", "read_committed")
    assert len(rc) == 1000 and all(r.offset >= 2002 for r in rc)
    assert pos[TP("out", 0)] == 3003
    unc, _ = read_all(log, "out", "read_uncommitted")
    assert len(unc) == 3000
    p.close()


def test_aborted_after_flush_visible_uncommitted_only_and_interleaved_producers(log):
    a = log.producer(transactional_id="a")
    b = log.producer(transactional_id="b")
    a.init_transactions()
    b.init_transactions()
    a.begin_transaction()
    b.begin_transaction()
    for i in range(20):
        (a if i % 2 else b).send("out", value=(b"a%d" if i % 2 else b"b%d") % i, partition=0)
        a.flush()
        b.flush()
    a.abort_transaction()
    rc, _ = read_all(log, "out", "read_committed")
    assert rc == []  # b is still open: LSO is at its first record
    b.commit_transaction()
    rc, _ = read_all(log, "out", "read_committed")
    assert values(rc) == sorted(b"b%d" % i for i in range(0, 20, 2))
    unc, _ = read_all(log, "out", "read_uncommitted")
    assert len(unc) == 20
    # a read_committed reader starting in the middle sees the same from there on
    c = log.consumer(isolation_level="read_committed")
    c.assign([TP("out", 0)])
    c.seek(TP("out", 0), 7)
    got = c.poll(0.2)
    assert [r.value for r in got] == [r.value for r in rc if r.offset >= 7]
    c.close()
    a.close()
    b.close()


def test_offsets_committed_only_with_the_transaction(log):
    log.topic("in").partition(0).append_batch([(None, b"i")] * 10)   # offsets within the input
    p = log.producer(transactional_id="t")
    p.init_transactions()
    g = log.consumer(group_id="g", enable_auto_commit=False)
    p.begin_transaction()
    p.send("out", value=b"x", partition=0)
    p.send_offsets_to_transaction({TP("in", 0): 5}, g.group_metadata())
    assert g.committed(TP("in", 0)) is None
    p.abort_transaction()
    assert g.committed(TP("in", 0)) is None
    p.begin_transaction()
    p.send("out", value=b"y", partition=0)
    p.send_offsets_to_transaction({TP("in", 0): 7}, g.group_metadata())
    p.commit_transaction()
    assert g.committed(TP("in", 0)) == 7
    g.close()
    p.close()


def test_state_errors(log):
    p = log.producer(transactional_id="t")
    with pytest.raises(IllegalStateError, match="init_transactions"):
        p.begin_transaction()
    p.init_transactions()
    with pytest.raises(IllegalStateError, match="begin_transaction"):
        p.send("out", value=b"x")
    p.begin_transaction()
    with pytest.raises(IllegalStateError, match="already open"):
        p.begin_transaction()
    f = p.send("out", value=b"x", partition=0)
    p.abort_transaction()
    assert isinstance(f.exception(), TransactionAbortedError)
    log.create_topic("compacted", cleanup_policy="compact")
    p.begin_transaction()
    with pytest.raises(InvalidArgumentError, match="compacted"):
        p.send("compacted", key=b"k", value=b"x")
    with pytest.raises(InvalidArgumentError, match="isolation_level"):
        log.consumer(isolation_level="committed")
    with pytest.raises(InvalidArgumentError, match="transactional_id"):
        log.producer(transactional_id="")
    p.close()


def test_new_producer_fences_the_old_one_and_aborts_its_transaction(log):
    old = log.producer(transactional_id="t")
    old.init_transactions()
    old.begin_transaction()
    old.send("out", value=b"zombie", partition=0)
    old.flush()
    new = log.producer(transactional_id="t")
    new.init_transactions()
    assert new.producer_epoch == old.producer_epoch + 1 or new.producer_epoch > old.producer_epoch
    with pytest.raises(ProducerFencedError, match="fenced"):
        old.send("out", value=b"more", partition=0)
        old.commit_transaction()
    with pytest.raises(ProducerFencedError):
        old.begin_transaction()  # fatal from now on
    new.begin_transaction()
    new.send("out", value=b"fresh", partition=0)
    new.commit_transaction()
    rc, _ = read_all(log, "out", "read_committed")
    assert values(rc) == [b"fresh"]
    assert log.transaction_coordinator().open_transactions() == []
    old.close()
    new.close()


def test_fencing_across_processes(log, tmp_path):
    child = subprocess.Popen([sys.executable, PROCS, "fence", log.path], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "ready"
        p = log.producer(transactional_id="fenced")
        p.init_transactions()  # aborts the child's open transaction, fences the child
        child.stdin.write("go\n")
        child.stdin.flush()
        assert child.stdout.readline().strip() == "fenced"
        assert child.wait(30) == 0
    finally:
        if child.poll() is None:
            child.kill()
    p.begin_transaction()
    p.send("out", value=b"mine", partition=0)
    p.commit_transaction()
    rc, _ = read_all(log, "out", "read_committed")
    assert values(rc) == [b"mine"]
    unc, _ = read_all(log, "out", "read_uncommitted")
    assert values(unc) == [b"mine", b"zombie-1"]  # zombie-2 was never written
    p.close()


def test_timeout_aborts_a_stuck_transaction_through_a_reader(log):
    p = log.producer(transactional_id="slow", transaction_timeout_ms=5000)
    p.init_transactions()
    p.begin_transaction()
    p.send("out", value=b"stuck", partition=0)
    p.flush()
    plain = log.producer()
    plain.send("out", value=b"after", partition=0)
    plain.flush()
    coord = log.transaction_coordinator(clock=lambda: time.time_ns() // 10**6 + 10_000)  # 10 s on
    c = log.consumer(isolation_level="read_committed", auto_offset_reset="earliest",
                     transaction_coordinator=coord)
    c.assign([TP("out", 0)])
    deadline = time.monotonic() + 10
    got = []
    while not got and time.monotonic() < deadline:
        got = c.poll(0.2)
    assert [r.value for r in got] == [b"after"]
    with pytest.raises(ProducerFencedError):
        p.commit_transaction()
    c.close()
    plain.close()
    p.close()


def test_reader_does_not_abort_before_the_timeout(log):
    p = log.producer(transactional_id="slow", transaction_timeout_ms=60_000)
    p.init_transactions()
    p.begin_transaction()
    p.send("out", value=b"pending", partition=0)
    p.flush()
    c = log.consumer(isolation_level="read_committed", auto_offset_reset="earliest")
    c.assign([TP("out", 0)])
    assert c.poll(1.2) == []
    p.commit_transaction()
    assert [r.value for r in c.poll(1.0)] == [b"pending"]
    c.close()
    p.close()


def test_operator_abort(log):
    p = log.producer(transactional_id="t")
    p.init_transactions()
    p.begin_transaction()
    p.send("out", value=b"x", partition=1)
    p.flush()
    coord = log.transaction_coordinator()
    assert [s["transactional_id"] for s in coord.open_transactions()] == ["t"]
    assert coord.abort("t") == "COMPLETE_ABORT"
    assert coord.open_transactions() == []
    with pytest.raises(ProducerFencedError):
        p.commit_transaction()
    assert read_all(log, "out", "read_committed")[0] == []
    p.close()


STEPS = ["before-decision", "decided", "marker-1", "marker-2", "offsets"]


@pytest.mark.parametrize("recover", ["init", "timeout"])
@pytest.mark.parametrize("step", STEPS)
def test_kill9_at_each_step_of_the_commit_protocol(tmp_path, step, recover):
    d = str(tmp_path / "log")
    with eventlog.open(d) as lg:
        lg.create_topic("out", partitions=3)
        lg.create_topic("in", partitions=1).partition(0).append_batch([(None, b"i")] * 20)
    r = subprocess.run([sys.executable, PROCS, "crash", d, step], capture_output=True, text=True, timeout=60)
    assert r.returncode == -9, r.stderr
    assert_log_consistent(d)
    committed = step != "before-decision"
    with eventlog.open(d) as lg:
        if recover == "init":
            p = lg.producer(transactional_id="crasher")
            p.init_transactions()
            p.close()
        else:
            coord = lg.transaction_coordinator(clock=lambda: 2 ** 50)
            st = coord.load("crasher")
            coord.expire(st["producer_id"])
        assert lg.transaction_coordinator().open_transactions() == []
        rc, _ = read_all(lg, "out", "read_committed")
        assert len(rc) == (30 if committed else 0)
        g = lg.consumer(group_id="g", enable_auto_commit=False)
        assert g.committed(TP("in", 0)) == (17 if committed else None)
        g.close()
        # every partition ends with a marker of the decision; recovery repeats the markers a
        # crash may already have written (a repeated marker ends nothing: readers ignore it)
        for i in range(3):
            part = lg.topic("out").partition(i)
            assert part.end_offset in (11, 12)
            assert len(part.read(0, 100)) == 10
    assert_log_consistent(d)


def _run_pipeline(tmp_path, n_input, max_kills, seconds, seed):
    """3 workers over 12 input partitions (tests/txn_procs.py worker); one at random is
    killed -9 and restarted each time the output read_committed crosses one of `max_kills`
    random points between 5% and 90% of the input (so the kills land while the pipeline
    runs, however fast the machine is); then wait (up to `seconds`) until read_committed
    shows every result. Returns (values, duplicates, kills, number of
    records read_uncommitted sees)."""
    d = str(tmp_path / "log")
    workers = 3
    with eventlog.open(d) as lg:
        lg.create_topic("input", partitions=12)
        lg.create_topic("output", partitions=4)
        with lg.producer() as p:
            for i in range(n_input):
                p.send("input", value=b"%08d" % i, partition=i % 12)
    rng = random.Random(seed)
    procs = {}

    started = {}

    def start(i):
        procs[i] = subprocess.Popen([sys.executable, PROCS, "worker", d, str(i), str(workers)])
        started[i] = time.monotonic()

    for i in range(workers):
        start(i)
    kills = 0
    deadline = time.monotonic() + seconds
    points = sorted(rng.sample(range(n_input // 20, n_input * 9 // 10), max_kills))
    try:
        with eventlog.open(d) as lg:
            c = lg.consumer(isolation_level="read_committed", auto_offset_reset="earliest")
            c.assign([TP("output", p) for p in range(4)])
            seen = []
            while time.monotonic() < deadline and (len(seen) < n_input or kills < max_kills):
                seen += c.poll(0.1)
                # a worker up for a while (one just started is likely still importing)
                up = [i for i in range(workers) if time.monotonic() - started[i] > 0.7]
                if kills < max_kills and len(seen) >= points[kills] and up:
                    i = rng.choice(up)
                    procs[i].kill()  # SIGKILL
                    procs[i].wait()
                    kills += 1
                    start(i)
            for i in range(workers):
                procs[i].kill()
                procs[i].wait()
            # finish what the last kills left, as each worker's next incarnation would
            for i in range(workers):
                with lg.producer(transactional_id=f"pipe-{i}") as p:
                    p.init_transactions()
            while True:
                more = c.poll(0.3)
                if not more:
                    break
                seen += more
            c.close()
            vals = [r.value for r in seen]
            dup = len(vals) - len(set(vals))
            unc, _ = read_all(lg, "output", "read_uncommitted")
            return vals, dup, kills, len(unc)
    finally:
        for pr in procs.values():
            if pr.poll() is None:
                pr.kill()
                pr.wait()
        assert_log_consistent(d)


def _check_pipeline(vals, dup, n_input, complete=True):
    assert dup == 0, f"{dup} results seen twice by read_committed"
    assert set(vals) <= {b"r:%08d" % i for i in range(n_input)}
    if complete:
        assert len(vals) == n_input


def test_exactly_once_pipeline_with_workers_killed(tmp_path):
    n = 4000
    vals, dup, kills, n_unc = _run_pipeline(tmp_path, n, max_kills=12, seconds=120, seed=15)
    _check_pipeline(vals, dup, n)
    assert kills == 12
    print(f"kills={kills} read_uncommitted={n_unc} read_committed={len(vals)}")


@pytest.mark.slow
@pytest.mark.skipif(not os.environ.get("EVENTLOG_STRESS"), reason="set EVENTLOG_STRESS=1 for the long run")
def test_exactly_once_pipeline_stress(tmp_path):
    n = 100_000
    vals, dup, kills, n_unc = _run_pipeline(tmp_path, n, max_kills=300, seconds=900, seed=int(time.time()))
    _check_pipeline(vals, dup, n)
    print(f"kills={kills} read_uncommitted={n_unc} read_committed={len(vals)}")


def test_cli_lists_and_aborts_open_transactions(log):
    p = log.producer(transactional_id="stuck-1")
    p.init_transactions()
    p.begin_transaction()
    p.send("out", value=b"x", partition=1)
    p.flush()

    def run(*a):
        return subprocess.run([sys.executable, "-m", "eventlog", "--dir", log.path, *a],
                              capture_output=True, text=True, timeout=60)
    r = run("transactions")
    assert r.returncode == 0 and "stuck-1" in r.stdout and "ONGOING" in r.stdout and "out[1]" in r.stdout
    r = run("transactions", "abort", "stuck-1")
    assert r.returncode == 0 and "COMPLETE_ABORT" in r.stdout
    assert "no open transactions" in run("transactions").stderr + run("transactions").stdout
    r = run("transactions", "abort", "nope")
    assert r.returncode == 1 and "unknown transactional id 'nope'" in r.stderr
    with pytest.raises(ProducerFencedError):
        p.commit_transaction()
    p.close()


def test_verify_shows_open_transactions(log):
    p = log.producer(transactional_id="open-one")
    p.init_transactions()
    p.begin_transaction()
    p.send("out", value=b"x", partition=2)
    p.flush()
    r = subprocess.run([sys.executable, "-m", "eventlog", "--dir", log.path, "verify"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "1 open transaction: open-one (ONGOING)" in r.stdout
    r = subprocess.run([sys.executable, "-m", "eventlog", "--dir", log.path, "verify", "--json"],
                       capture_output=True, text=True, timeout=60)
    import json
    doc = json.loads(r.stdout)
    assert [t["transactional_id"] for t in doc["open_transactions"]] == ["open-one"]
    p.abort_transaction()
    r = subprocess.run([sys.executable, "-m", "eventlog", "--dir", log.path, "verify"],
                       capture_output=True, text=True, timeout=60)
    assert "open transaction" not in r.stdout
    p.close()


@pytest.mark.parametrize("max_records", [1, 2, 500])
def test_one_read_committed_consumer_follows_transactions_as_they_come(log, max_records):
    """One long-lived read_committed consumer (its view reads in one pass with the reader
    where no transaction is open): a transaction that begins after the reader has passed
    everything its view saw holds back what follows it until it ends, and its records
    appear (or, aborted, never do) in offset order."""
    plain = log.producer()
    t = log.producer(transactional_id="t")
    t.init_transactions()
    c = log.consumer(isolation_level="read_committed", auto_offset_reset="earliest")
    tp = TP("out", 0)
    c.assign([tp])

    def drain():
        out = []
        while True:
            recs = c.poll(0.05, max_records=max_records)
            if not recs:
                return [r.value for r in out]
            assert len(recs) <= max_records
            out += recs

    def send_plain(*vals):
        for v in vals:
            plain.send("out", value=v, partition=0)
        plain.flush()

    send_plain(b"p0", b"p1", b"p2")
    assert drain() == [b"p0", b"p1", b"p2"]
    t.begin_transaction()
    t.send("out", value=b"t0", partition=0)
    t.flush()
    send_plain(b"late0")
    t.send("out", value=b"t1", partition=0)
    t.flush()
    send_plain(b"late1")
    assert drain() == []  # held back: the transaction is open
    lso = log.topic("out").partition(0).end_offset - 4
    assert c.position(tp) == lso
    t.commit_transaction()
    assert drain() == [b"t0", b"late0", b"t1", b"late1"]
    t.begin_transaction()
    t.send("out", value=b"x0", partition=0)
    t.flush()
    send_plain(b"after-open")
    t.abort_transaction()
    send_plain(b"after-abort")
    assert drain() == [b"after-open", b"after-abort"]
    # a whole transaction written while the reader waits at the end
    t.begin_transaction()
    for i in range(5):
        t.send("out", value=b"c%d" % i, partition=0)
        t.flush()
    t.commit_transaction()
    send_plain(b"end")
    assert drain() == [b"c%d" % i for i in range(5)] + [b"end"]
    assert c.position(tp) == log.topic("out").partition(0).end_offset
    c.close()
    t.close()
    plain.close()
