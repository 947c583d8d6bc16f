"""Transactions (issue 15): atomic visibility across partitions for read_committed readers,
offsets committed with the transaction, fencing (also across processes), timeouts, recovery
after kill -9 at each step of the commit protocol, and an exactly-once pipeline whose workers
are killed -9 at random. The invariant checker runs after every crash and multi-process test."""
import os
import subprocess
import sys
import time

import pytest

import eventlog
from eventlog.clients.transactional import TransactionalProducer
from eventlog.errors import IllegalStateError, InvalidArgumentError, ProducerFencedError, TransactionAbortedError
from eventlog.record import TopicPartition as TP
from log_checker import assert_log_consistent

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from stress import eos_pipeline  # noqa: E402

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


def test_exactly_once_pipeline_with_workers_killed(tmp_path):
    """The bounded CI version of `python -m stress.eos_pipeline` (3 workers, 12 partitions,
    12 kills -9 while the output grows; the checker runs inside `run`)."""
    rep = eos_pipeline.run(str(tmp_path / "log"), n_input=4000, kills=12, seed=15)
    assert rep.ok, rep
    assert rep["kills"] == 12 and rep["results"] == 4000
    print(rep)


def test_exactly_once_pipeline_timed_with_feeder(tmp_path):
    """The timed shape, briefly: input fed while workers are killed every 0.2-3 s."""
    rep = eos_pipeline.run(str(tmp_path / "log"), seconds=6, seed=16)
    assert rep.ok, rep
    assert rep["kills"] >= 1 and rep["inputs"] > 0
    print(rep)


@pytest.mark.slow
@pytest.mark.skipif(not os.environ.get("EVENTLOG_STRESS"), reason="set EVENTLOG_STRESS=1 for the long run")
def test_exactly_once_pipeline_stress(tmp_path):
    rep = eos_pipeline.run(str(tmp_path / "log"), seconds=300, seed=int(time.time()), progress=True)
    assert rep.ok, rep
    print(rep)


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


def test_offset_metadata_is_committed_with_the_transaction(log):
    """Offsets sent as OffsetAndMetadata keep their metadata (a str, or None for null); one
    sent as a plain int gets the store's default ""; a later send of the same partition in
    the transaction replaces the earlier one."""
    from eventlog.offsets.model import OffsetAndMetadata
    log.create_topic("in3", partitions=3)
    for i in range(3):
        log.topic("in3").partition(i).append_batch([(None, b"i")] * 10)   # offsets within the input
    p = log.producer(transactional_id="t")
    p.init_transactions()
    p.begin_transaction()
    p.send_offsets_to_transaction({TP("in3", 0): OffsetAndMetadata(1, "first"), TP("in3", 1): 2}, "g")
    p.send_offsets_to_transaction({TP("in3", 0): OffsetAndMetadata(3, "kept"),
                                   TP("in3", 2): OffsetAndMetadata(4, None)}, "g")
    p.commit_transaction()
    got = log.offset_store.committed_metadata("g", [TP("in3", i) for i in range(3)])
    assert {tp.partition: (e.offset, e.metadata) for tp, e in got.items()} == \
        {0: (3, "kept"), 1: (2, ""), 2: (4, None)}
    p.begin_transaction()
    p.send_offsets_to_transaction({TP("in3", 0): OffsetAndMetadata(9, "aborted")}, "g")
    p.abort_transaction()
    assert log.offset_store.committed_metadata("g", [TP("in3", 0)])[TP("in3", 0)].metadata == "kept"
    p.close()


def test_read_committed_end_offset_is_the_last_stable_offset(log):
    """A read_committed consumer's end_offsets and seek_to_end give the LSO (the first offset
    of the oldest open transaction), as Kafka's; read_uncommitted gives the end of the log."""
    p = log.producer(transactional_id="t")
    p.init_transactions()
    plain = log.producer()
    plain.send("out", value=b"before", partition=0).result(5)
    p.begin_transaction()
    p.send("out", value=b"open", partition=0)
    p.flush()
    plain.send("out", value=b"after", partition=0).result(5)
    tp = TP("out", 0)
    rc = log.consumer(isolation_level="read_committed", auto_offset_reset="earliest")
    ru = log.consumer(auto_offset_reset="earliest")
    rc.assign([tp])
    ru.assign([tp])
    assert rc.end_offsets([tp]) == {tp: 1} and ru.end_offsets([tp]) == {tp: 3}
    rc.seek_to_end([tp])
    assert rc.position(tp) == 1
    p.commit_transaction()                        # marker at 3
    assert rc.end_offsets([tp]) == {tp: 4} == ru.end_offsets([tp])
    rc.seek_to_end([tp])
    assert rc.position(tp) == 4
    for c in (rc, ru, p, plain):
        c.close()


def test_topic_deleted_during_a_transaction_does_not_wedge_its_id(log, caplog):
    """A topic deleted while a transaction has records buffered for it: the write fails, the
    transaction can still be aborted (no marker for the deleted topic, a warning says so), and
    the id stays usable; the other partitions get their marker."""
    log.create_topic("gone", partitions=1)
    p = log.producer(transactional_id="t")
    p.init_transactions()
    p.begin_transaction()
    p.send("out", value=b"x", partition=0)
    p.send("gone", value=b"y", partition=0)
    log.delete_topic("gone")
    with pytest.raises(eventlog.errors.UnknownTopicError):
        p.flush()
    with caplog.at_level("WARNING", logger="eventlog.transactions"):
        p.abort_transaction()
    assert "topic 'gone' was deleted" in caplog.text
    p.begin_transaction()
    p.send("out", value=b"z", partition=0)
    p.commit_transaction()
    p.close()
    assert values(read_all(log, "out", "read_committed")[0]) == [b"z"]


def test_groups_cli_shows_open_transactions_touching_the_group(log):
    """`eventlog groups` / `groups describe` show open transactions holding offsets of the
    group (committed only if they commit) and those on partitions the group consumes."""
    import json
    log.topic("in").partition(0).append_batch([(None, b"i")] * 5)
    c = log.consumer(group_id="g", enable_auto_commit=False)
    c.commit({TP("in", 0): 1})
    c.commit({TP("out", 2): 0})     # the group also consumes out[2]
    c.close()
    pending = log.producer(transactional_id="with-offsets")
    pending.init_transactions()
    pending.begin_transaction()
    pending.send("out", value=b"x", partition=0)
    pending.send_offsets_to_transaction({TP("in", 0): 4}, "g")
    holding = log.producer(transactional_id="on-out-2")
    holding.init_transactions()
    holding.begin_transaction()
    holding.send("out", value=b"y", partition=2)
    holding.flush()
    other = log.producer(transactional_id="elsewhere")   # touches neither
    other.init_transactions()
    other.begin_transaction()
    other.send("out", value=b"z", partition=1)
    other.flush()

    def run(*a):
        r = subprocess.run([sys.executable, "-m", "eventlog", "--dir", log.path, *a],
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        return r.stdout
    out = run("groups", "describe", "g")
    assert "2 open transactions touching this group" in out, out
    line = next(ln for ln in out.splitlines() if ln.startswith("with-offsets"))
    assert "ONGOING" in line and "in[0]=4" in line, out
    line = next(ln for ln in out.splitlines() if ln.startswith("on-out-2"))
    assert "out[2]" in line, out
    assert "elsewhere" not in out
    doc = json.loads(run("groups", "describe", "g", "--json"))
    txns = {t["transactional_id"]: t for t in doc["open_transactions"]}
    assert sorted(txns) == ["on-out-2", "with-offsets"]
    assert txns["with-offsets"]["pending_offsets"] == [{"topic": "in", "partition": 0, "offset": 4}]
    assert txns["on-out-2"]["partitions"] == [{"topic": "out", "partition": 2}]
    assert txns["on-out-2"]["pending_offsets"] == []
    listing = run("groups")
    assert "OPEN TRANSACTIONS" in listing and "on-out-2,with-offsets" in listing, listing
    # once they end, nothing is shown
    pending.commit_transaction()
    holding.abort_transaction()
    other.abort_transaction()
    out = run("groups", "describe", "g")
    assert "open transaction" not in out, out
    assert json.loads(run("groups", "--json"))[0]["open_transactions"] == []
    for p in (pending, holding, other):
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
