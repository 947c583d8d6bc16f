"""Child processes for the transaction tests (run as `python tests/txn_procs.py MODE ...`).

- `crash DIR STEP`: a transactional producer ("crasher") writes 3 partitions of topic "out"
  and sends offsets of group "g", then kills itself with SIGKILL at STEP of the commit
  protocol: "before-decision" (data written, no decision), "decided" (PREPARE_COMMIT
  durable), "marker-1"/"marker-2" (after that many markers), "offsets" (offsets committed,
  COMPLETE not yet written).
- `fence DIR [ID]`: init ID (default "fenced"; DIR may be a kafka:// location), open a transaction and write a record; print "ready"; wait for a
  line on stdin; then try to send and commit, print "fenced" or "committed".
(The exactly-once pipeline's worker is `python -m stress.eos_pipeline --worker`.)
"""
import os
import signal
import sys

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


if __name__ == "__main__":
    mode = sys.argv[1]
    if mode == "crash":
        crash(sys.argv[2], sys.argv[3])
    elif mode == "fence":
        fence(*sys.argv[2:4])
