"""Transactions on both back ends (issues 14 and 15): the same scenarios of the public API run
on a directory and on a real Kafka broker (`any_log`), so the directory's transactions are
checked against Kafka's own (KIP-98): commit, abort, fencing by a producer in another
process, read_committed visibility, the last stable offset (LSO) in poll, position and
end_offsets, control records taking offsets, and offsets sent to a transaction.
Differences that remain are listed in docs/kafka.md."""
import os
import subprocess
import sys
import time
import uuid

import pytest

from eventlog.errors import IllegalStateError, ProducerFencedError, TransactionAbortedError, UnsupportedOperationError
from eventlog.record import TopicPartition as TP

PROCS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "txn_procs.py")
T0 = TP("out", 0)


def location(log):
    return log.url if log.kind == "kafka" else log.path


def txn_id(name):
    # the broker keeps transactional ids for the whole session: one per test run
    return f"{name}-{uuid.uuid4().hex[:8]}"


def drain(c, want=None, quiet=1.0, timeout=20.0):
    """Poll until `want` records came (then `quiet` more seconds of nothing), or without `want`
    until a poll of `quiet` seconds returns nothing (a cluster fetches in the background)."""
    out = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if want is not None and len(out) < want:
            recs = c.poll(0.2)
        else:
            recs = c.poll(quiet)
            if not recs:
                break
        out += recs
    return out


def reader(log, iso, partitions=(0,), **kw):
    if iso is not None:   # None: the default, read_uncommitted as in Kafka
        kw["isolation_level"] = iso
    c = log.consumer(auto_offset_reset="earliest", **kw)
    c.assign([TP("out", p) for p in partitions])
    return c


def read_values(log, iso, want=None, partitions=(0,)):
    c = reader(log, iso, partitions)
    try:
        return sorted(r.value for r in drain(c, want))
    finally:
        c.close()


@pytest.fixture
def log(any_log):
    any_log.create_topic("out", partitions=2)
    any_log.create_topic("in", partitions=1)
    return any_log


def test_commit_and_abort_across_partitions(log):
    p = log.producer(transactional_id=txn_id("ca"))
    p.init_transactions()
    p.begin_transaction()
    futs = [p.send("out", value=b"c%d" % i, partition=i % 2) for i in range(6)]
    p.commit_transaction()
    assert all(f.done() and f.exception() is None for f in futs)
    p.begin_transaction()
    for i in range(6):
        p.send("out", value=b"a%d" % i, partition=i % 2)
    p.flush()
    p.abort_transaction()
    committed = sorted(b"c%d" % i for i in range(6))
    assert read_values(log, "read_committed", 6, partitions=(0, 1)) == committed
    assert read_values(log, "read_uncommitted", 12, partitions=(0, 1)) == sorted(
        committed + [b"a%d" % i for i in range(6)])
    p.close()


def test_control_records_take_offsets_and_position_passes_them(log):
    p = log.producer(transactional_id=txn_id("markers"))
    p.init_transactions()
    p.begin_transaction()
    fs = [p.send("out", value=b"c%d" % i, partition=0) for i in range(3)]
    p.commit_transaction()
    assert [f.result().offset for f in fs] == [0, 1, 2]      # 3 is the commit marker
    p.begin_transaction()
    fs = [p.send("out", value=b"a%d" % i, partition=0) for i in range(3)]
    p.flush()
    assert [f.result().offset for f in fs] == [4, 5, 6]
    p.abort_transaction()                                     # 7 is the abort marker
    with log.producer() as plain:
        assert plain.send("out", value=b"plain", partition=0).result().offset == 8
    part = log.topic("out").partition(0)
    assert part.end_offset == 9
    for iso, want in (("read_committed", [0, 1, 2, 8]), ("read_uncommitted", [0, 1, 2, 4, 5, 6, 8])):
        c = reader(log, iso)
        assert [r.offset for r in drain(c, len(want))] == want
        assert c.position(T0) == 9
        assert c.end_offsets([T0]) == {T0: 9}
        c.close()
    # a read_committed reader whose last record is followed by markers only ends past them
    p.begin_transaction()
    p.send("out", value=b"last", partition=0)
    p.commit_transaction()                                    # 9: data, 10: marker
    c = reader(log, "read_committed")
    c.seek(T0, 9)
    assert [r.value for r in drain(c, 1)] == [b"last"]
    assert c.position(T0) == 11 == log.topic("out").partition(0).end_offset
    c.close()
    p.close()


def test_last_stable_offset_holds_read_committed_back(log):
    p = log.producer(transactional_id=txn_id("lso"))
    p.init_transactions()
    with log.producer() as plain:
        plain.send("out", value=b"before", partition=0).result()      # 0
        p.begin_transaction()
        p.send("out", value=b"open", partition=0)
        p.flush()                                                     # 1: the open transaction
        plain.send("out", value=b"late", partition=0).result()        # 2
    hw = log.topic("out").partition(0).end_offset
    assert hw == 3
    rc = reader(log, "read_committed")
    ru = reader(log, "read_uncommitted")
    assert [r.value for r in drain(rc, 1)] == [b"before"]
    assert [r.value for r in drain(ru, 3)] == [b"before", b"open", b"late"]
    # the LSO: read_committed stops at the open transaction's first offset; its position and
    # end_offsets say so (Kafka's endOffsets under read_committed); read_uncommitted's do not
    assert rc.position(T0) == 1 and rc.end_offsets([T0]) == {T0: 1}
    assert ru.position(T0) == 3 and ru.end_offsets([T0]) == {T0: 3}
    other = log.consumer(isolation_level="read_committed")      # assigned nothing
    assert other.end_offsets([T0, TP("out", 1)]) == {T0: 1, TP("out", 1): 0}
    other.close()
    default = reader(log, None)     # read_uncommitted (librdkafka's own default is read_committed)
    assert [r.value for r in drain(default, 3)] == [b"before", b"open", b"late"]
    default.close()
    # a new read_committed consumer's "latest" and seek_to_end are the LSO too
    latest = log.consumer(isolation_level="read_committed")
    latest.assign([T0])
    assert latest.position(T0) == 1
    latest.seek_to_beginning()
    latest.seek_to_end()
    assert latest.position(T0) == 1
    p.commit_transaction()                                            # 3: the marker
    got = drain(rc, 2)
    assert [r.value for r in got] == [b"open", b"late"]
    assert rc.position(T0) == 4 and rc.end_offsets([T0]) == {T0: 4}
    assert [r.value for r in drain(latest, 2)] == [b"open", b"late"]
    for c in (rc, ru, latest):
        c.close()
    p.close()


def test_offsets_sent_to_the_transaction_commit_with_it(log):
    g = log.consumer(group_id="txg-" + uuid.uuid4().hex[:6], enable_auto_commit=False)
    g.assign([TP("in", 0)])
    p = log.producer(transactional_id=txn_id("offs"))
    p.init_transactions()
    p.begin_transaction()
    p.send("out", value=b"x", partition=0)
    p.send_offsets_to_transaction({TP("in", 0): 5}, g.group_metadata())
    p.abort_transaction()
    assert g.committed(TP("in", 0)) is None
    p.begin_transaction()
    p.send("out", value=b"y", partition=0)
    p.send_offsets_to_transaction({TP("in", 0): 7}, g.group_metadata())
    assert g.committed(TP("in", 0)) is None          # not before the commit
    p.commit_transaction()
    # a read_committed consumer's committed() waits for the offsets of a transaction still
    # being completed (Kafka's require_stable, KIP-447: the broker writes the markers after
    # commit_transaction returns); a directory's are complete when it returns
    stable = log.consumer(group_id=g.group_id, enable_auto_commit=False, isolation_level="read_committed")
    assert stable.committed(TP("in", 0)) == 7
    stable.close()
    assert g.committed(TP("in", 0)) == 7
    p.begin_transaction()                            # a bare group id does as well
    p.send("out", value=b"z", partition=0)
    p.send_offsets_to_transaction({TP("in", 0): 9}, g.group_id)
    p.commit_transaction()
    stable = log.consumer(group_id=g.group_id, enable_auto_commit=False, isolation_level="read_committed")
    assert stable.committed(TP("in", 0)) == 9
    stable.close()
    lag = log.group(g.group_id).lag()
    assert lag == {TP("in", 0): 0}                   # "in" is empty: committed 7 > end 0
    g.close()
    p.close()


def test_group_lag_is_zero_after_reading_to_a_commit_marker(log):
    gid = "txlag-" + uuid.uuid4().hex[:6]
    p = log.producer(transactional_id=txn_id("lag"))
    p.init_transactions()
    p.begin_transaction()
    for i in range(3):
        p.send("out", value=b"v%d" % i, partition=0)
    p.commit_transaction()
    c = log.consumer(group_id=gid, isolation_level="read_committed", auto_offset_reset="earliest",
                     enable_auto_commit=False)
    c.assign([T0])
    assert len(drain(c, 3)) == 3
    c.commit()
    assert c.committed(T0) == 4                      # past the marker: nothing left to read
    assert log.group(gid).lag() == {T0: 0}
    c.close()
    p.close()


def test_state_errors(log):
    p = log.producer(transactional_id=txn_id("state"))
    with pytest.raises(IllegalStateError, match="init_transactions"):
        p.begin_transaction()
    p.init_transactions()
    with pytest.raises(IllegalStateError, match="begin_transaction"):
        p.send("out", value=b"x", partition=0)
    with pytest.raises(IllegalStateError, match="begin_transaction"):
        p.commit_transaction()
    p.begin_transaction()
    with pytest.raises(IllegalStateError, match="already open"):
        p.begin_transaction()
    p.abort_transaction()
    p.close()


def test_fencing_by_a_producer_in_another_process(log):
    tid = txn_id("fenced")
    child = subprocess.Popen([sys.executable, PROCS, "fence", location(log), tid], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "ready"
        p = log.producer(transactional_id=tid)
        p.init_transactions()          # fences the child and aborts its open transaction
        child.stdin.write("go\n")
        child.stdin.flush()
        assert child.stdout.readline().strip() == "fenced"
        assert child.wait(60) == 0
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    p.begin_transaction()
    p.send("out", value=b"mine", partition=0)
    p.commit_transaction()
    assert read_values(log, "read_committed", 1) == [b"mine"]
    assert read_values(log, "read_uncommitted", 2) == [b"mine", b"zombie-1"]   # zombie-2 never written
    p.close()


def test_fenced_producer_in_the_same_process(log):
    tid = txn_id("fence-local")
    old = log.producer(transactional_id=tid)
    old.init_transactions()
    old.begin_transaction()
    old.send("out", value=b"zombie", partition=0)
    old.flush()
    new = log.producer(transactional_id=tid)
    new.init_transactions()
    with pytest.raises(ProducerFencedError):
        old.send("out", value=b"more", partition=0)
        old.commit_transaction()
    with pytest.raises(ProducerFencedError):
        old.begin_transaction()          # fatal from now on
    new.begin_transaction()
    new.send("out", value=b"fresh", partition=0)
    new.commit_transaction()
    assert read_values(log, "read_committed", 1) == [b"fresh"]
    old.close()
    new.close()


def test_zombie_group_member_is_fenced_kip447(log):
    """KIP-447: `group_metadata()` of a subscribed consumer carries its generation and member
    id; offsets sent with the metadata of an older generation (a zombie that lost its
    partitions in a rebalance) are refused with CommitFailedError, and the transaction must
    be aborted; the current member's offsets go through."""
    from eventlog.errors import CommitFailedError
    with log.producer() as plain:
        plain.send("in", value=b"i", partition=0).result()
    gid = "tx447-" + uuid.uuid4().hex[:6]
    opts = dict(group_id=gid, enable_auto_commit=False, auto_offset_reset="earliest", session_timeout_ms=10_000,
                max_poll_interval_ms=10_000)
    c1 = log.consumer(**opts)
    c1.subscribe(["in", "out"])
    deadline = time.monotonic() + 60
    while not c1.assignment() and time.monotonic() < deadline:
        c1.poll(0.2)
    old = c1.group_metadata()
    assert old.group_id == gid and old.generation_id >= 0 and old.member_id
    c2 = log.consumer(**opts)
    c2.subscribe(["in", "out"])
    while time.monotonic() < deadline:   # until both are in a newer generation
        c1.poll(0.1)
        c2.poll(0.1)
        g1, g2 = c1.group_metadata(), c2.group_metadata()
        if g1.generation_id > old.generation_id and g2.generation_id == g1.generation_id \
                and c1.assignment() and c2.assignment():
            break
    assert c2.group_metadata().generation_id > old.generation_id
    p = log.producer(transactional_id=txn_id("kip447"))
    p.init_transactions()
    p.begin_transaction()
    p.send("out", value=b"zombie", partition=0)
    with pytest.raises(CommitFailedError) as refused:
        p.send_offsets_to_transaction({TP("in", 0): 1}, old)
    assert refused.value.requires_abort
    with pytest.raises(CommitFailedError) as again:
        p.commit_transaction()          # the transaction can only be aborted now
    assert again.value.requires_abort
    p.abort_transaction()
    p.begin_transaction()
    p.send("out", value=b"current", partition=0)
    p.send_offsets_to_transaction({TP("in", 0): 1}, c2.group_metadata())
    p.commit_transaction()
    stable = log.consumer(group_id=gid, enable_auto_commit=False, isolation_level="read_committed")
    assert stable.committed(TP("in", 0)) == 1
    stable.close()
    assert read_values(log, "read_committed", 1) == [b"current"]
    for c in (c1, c2):
        c.close()
    p.close()


def test_abort_fails_the_futures_of_records_not_yet_written(log):
    p = log.producer(transactional_id=txn_id("purge"))
    p.init_transactions()
    p.begin_transaction()
    futs = [p.send("out", value=b"x%d" % i, partition=i % 2) for i in range(200)]
    p.abort_transaction()
    for f in futs:     # acknowledged before the abort (a cluster sends in the background) or failed
        e = f.exception(timeout=30)
        assert e is None or isinstance(e, TransactionAbortedError), e
    if log.kind == "directory":   # buffered until flush or commit: none was written
        assert all(isinstance(f.exception(), TransactionAbortedError) for f in futs)
    assert read_values(log, "read_committed", partitions=(0, 1)) == []
    p.close()


def test_kafka_log_has_no_transaction_coordinator(log):
    if log.kind == "directory":
        assert log.transaction_coordinator().open_transactions() == []
    else:
        with pytest.raises(UnsupportedOperationError, match="kafka-transactions.sh"):
            log.transaction_coordinator()
