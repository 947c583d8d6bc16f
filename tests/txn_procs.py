"""Child processes for the transaction tests (run as `python tests/txn_procs.py MODE ...`).

- `crash DIR STEP`: a transactional producer ("crasher") writes 3 partitions of topic "out"
  and sends offsets of group "g", then kills itself with SIGKILL at STEP of the commit
  protocol: "before-decision" (data written, no decision), "decided" (PREPARE_COMMIT
  durable), "marker-1"/"marker-2" (after that many markers), "offsets" (offsets committed,
  COMPLETE not yet written).
- `fence DIR [ID]`: init ID (default "fenced"; DIR may be a kafka:// location), open a transaction and write a record; print "ready"; wait for a
  line on stdin; then try to send and commit, print "fenced" or "committed".
- `worker DIR INDEX WORKERS`: one worker of the exactly-once pipeline (see test_transactions).
"""
import os
import random
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import eventlog  # noqa: E402
from eventlog.errors import ProducerFencedError  # noqa: E402
from eventlog.record import TopicPartition  # noqa: E402


def _die(step, at):
    if step == at:
        os.kill(os.getpid(), signal.SIGKILL)


def crash(d, at):
    from eventlog.clients.transactional import TransactionalProducer
    log = eventlog.open(d)
    coord = log.transaction_coordinator(fault=lambda step: _die(step, at))  # fault injection
    p = TransactionalProducer(log, coord, transactional_id="crasher")
    p.init_transactions()
    p.begin_transaction()
    for i in range(30):
        p.send("out", value=b"v%d" % i, partition=i % 3)
    p.send_offsets_to_transaction({TopicPartition("in", 0): 17}, "g")
    p.flush()
    if at == "before-decision":
        os.kill(os.getpid(), signal.SIGKILL)
    p.commit_transaction()
    print("committed", flush=True)


def fence(d, txn_id="fenced"):
    log = eventlog.open(d)
    p = log.producer(transactional_id=txn_id)
    p.init_transactions()
    p.begin_transaction()
    p.send("out", value=b"zombie-1", partition=0)
    p.flush()
    print("ready", flush=True)
    sys.stdin.readline()
    try:
        p.send("out", value=b"zombie-2", partition=0)
        p.commit_transaction()
        print("committed", flush=True)
    except ProducerFencedError:
        print("fenced", flush=True)
    log.close()


def worker(d, index, workers, partitions=12):
    """Read input partitions index, index + workers, ...; for each record write
    b"r:" + value to "output" (keyed by the value) and commit the input offsets in the same
    transaction, a few records per transaction."""
    log = eventlog.open(d)
    p = log.producer(transactional_id=f"pipe-{index}")
    p.init_transactions()  # fences a killed predecessor and finishes what it left
    c = log.consumer(group_id="pipe", enable_auto_commit=False, auto_offset_reset="earliest",
                     isolation_level="read_committed")
    c.assign([TopicPartition("input", i) for i in range(index, partitions, workers)])
    while True:
        recs = c.poll(0.5, max_records=20)
        if not recs:
            continue
        p.begin_transaction()
        nxt = {}
        for r in recs:
            p.send("output", key=r.value, value=b"r:" + r.value)
            nxt[TopicPartition(r.topic, r.partition)] = r.offset + 1
        p.send_offsets_to_transaction(nxt, c.group_metadata())
        p.flush()  # output written, not yet committed: the window a kill -9 should hit
        time.sleep(random.uniform(0, 0.02))  # "processing time"
        p.commit_transaction()


if __name__ == "__main__":
    mode = sys.argv[1]
    if mode == "crash":
        crash(sys.argv[2], sys.argv[3])
    elif mode == "fence":
        fence(*sys.argv[2:4])
    elif mode == "worker":
        worker(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
