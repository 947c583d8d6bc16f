"""read_committed against read_uncommitted replay: records/s through
`Consumer.poll(max_records=10000)` from the start of one partition of N records (100-byte
values), written three ways (not timed; the page cache is warm):

- plain:  batches of 1000 by Partition.append_batch (no transactions at all);
- txn:    transactions of 1000 records (one batch each) by a transactional producer, all
          committed (one commit marker per transaction);
- mixed:  the same with every 10th transaction aborted.

read_committed reads in one pass with the reader where no transaction is open; from a
transactional batch on it scans the batch headers ahead (CRC-checked, not decoded) until the
transaction's marker, and where aborted batches are, filters the fetched runs.

With --cpu the times are the process's CPU time rather than wall time: on a shared machine
the ratios are then about this process's work, not about what else ran meanwhile.

    python bench/transactions.py [--records 1000000] [--repeat 3] [--cpu]
"""
import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir))

import eventlog  # noqa: E402
from eventlog import TopicPartition  # noqa: E402

VALUE_SIZE = 100
PER_TXN = 1000


def build(d, n, kind):
    log = eventlog.open(d)
    topic = log.create_topic("t", partitions=1)
    vals = [os.urandom(VALUE_SIZE // 2).hex().encode() for _ in range(4096)]
    if kind == "plain":
        part = topic.partition(0)
        for i in range(0, n, PER_TXN):
            part.append_batch([(None, vals[j % 4096]) for j in range(i, min(i + PER_TXN, n))])
        return log, n
    p = log.producer(transactional_id="bench")
    p.init_transactions()
    visible = 0
    for k, i in enumerate(range(0, n, PER_TXN)):
        p.begin_transaction()
        m = min(i + PER_TXN, n) - i
        for j in range(i, i + m):
            p.send("t", value=vals[j % 4096], partition=0)
        p.flush()
        if kind == "mixed" and k % 10 == 9:
            p.abort_transaction()
        else:
            p.commit_transaction()
            visible += m
    p.close()
    return log, visible


def consume(log, expect, isolation, clock=time.perf_counter):
    c = log.consumer(auto_offset_reset="earliest", isolation_level=isolation)
    c.assign([TopicPartition("t", 0)])
    got = 0
    t0 = clock()
    while got < expect:
        got += len(c.poll(timeout=1.0, max_records=10_000))
    sec = clock() - t0
    c.close()
    assert got == expect, (got, expect)
    return sec


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3, help="reads per case (the median is printed)")
    ap.add_argument("--cpu", action="store_true", help="time with the process's CPU time, not wall time")
    args = ap.parse_args()
    clock = time.process_time if args.cpu else time.perf_counter
    base = tempfile.mkdtemp(prefix="eventlog-bench-txn-")
    n = args.records
    try:
        print(f"{n} records of {VALUE_SIZE} bytes, 1 partition, poll(max_records=10000), median of {args.repeat}"
              + (" (CPU time)" if args.cpu else ""))
        for kind in ("plain", "txn", "mixed"):
            log, visible = build(os.path.join(base, kind), n, kind)
            row = []
            for iso in ("read_uncommitted", "read_committed"):
                exp = n if iso == "read_uncommitted" else visible
                sec = statistics.median(consume(log, exp, iso, clock) for _ in range(args.repeat))
                row.append((iso, exp / sec))
            log.close()
            ratio = row[1][1] / row[0][1]
            print(f"{kind:6} " + "  ".join(f"{iso}: {r / 1e6:5.2f}M rec/s" for iso, r in row)
                  + f"  committed/uncommitted = {ratio:.2f}")
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
