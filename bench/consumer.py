"""Consumer throughput: records/s through `Consumer.poll(max_records=10000)` from the start
of a topic of 1,000,000 records (100-byte values, no keys), 1 and 4 partitions,
compression "none" and "zstd". The topic is written first with Partition.append_batch
(batches of 1000, not timed); the page cache is warm. Timed: from the first poll until the
last record has been returned.

    python bench/consumer.py [--records 1000000] [--max-records 10000] [--repeat 1]
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


def build(d, n, partitions, compression):
    log = eventlog.open(d)
    topic = log.create_topic("t", partitions=partitions, compression=compression)
    vals = [os.urandom(VALUE_SIZE // 2).hex().encode() for _ in range(4096)]
    per = n // partitions
    for p in range(partitions):
        part = topic.partition(p)
        count = per + (n - per * partitions if p == partitions - 1 else 0)
        for i in range(0, count, 1000):
            part.append_batch([(None, vals[j % 4096]) for j in range(i, min(i + 1000, count))])
    return log


def consume(log, n, partitions, max_records):
    c = log.consumer(auto_offset_reset="earliest", enable_auto_commit=False)
    c.assign([TopicPartition("t", p) for p in range(partitions)])
    got = 0
    t0 = time.perf_counter()
    while got < n:
        got += len(c.poll(timeout=1.0, max_records=max_records))
    sec = time.perf_counter() - t0
    c.close()
    assert got == n, (got, n)
    return sec


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", type=int, default=1_000_000)
    ap.add_argument("--max-records", type=int, default=10_000, help="max_records per poll")
    ap.add_argument("--repeat", type=int, default=1, help="reads per case (the median is printed)")
    ap.add_argument("--dir", default=None, help="where to write (default: a temp dir)")
    args = ap.parse_args()
    base = tempfile.mkdtemp(prefix="eventlog-bench-consumer-", dir=args.dir)
    n = args.records
    try:
        print(f"consumer.poll(max_records={args.max_records}) from the start of {n:,} records, "
              f"{VALUE_SIZE}-byte values, median of {args.repeat}; MB/s counts value bytes")
        for compression in ("none", "zstd"):
            for partitions in (1, 4):
                d = tempfile.mkdtemp(dir=base)
                log = build(d, n, partitions, compression)
                secs = [consume(log, n, partitions, args.max_records) for _ in range(args.repeat)]
                log.close()
                shutil.rmtree(d, ignore_errors=True)
                rps = n / statistics.median(secs)
                print(f"partitions={partitions} {compression:<4s} {rps:>12,.0f} rec/s "
                      f"{rps * VALUE_SIZE / 1e6:>8.1f} MB/s")
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
