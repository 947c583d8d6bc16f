"""Consumer throughput: records/s through `Consumer.poll(max_records=10000)` from the start
of a topic of 1,000,000 records (100-byte values, no keys), 1 and 4 partitions,
compression "none" and "zstd". The topic is written first (not timed), by the producer at
its default settings (`log.producer().send`: what users' logs look like; the on-disk batch
size depends on how far the sender falls behind, and is printed) or with
Partition.append_batch (batches of 1000); the page cache is warm. Timed: from the first poll
until the last record has been returned.

    python bench/consumer.py [--records 1000000] [--max-records 10000] [--repeat 1]
                             [--writer producer|batch|both]
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
from eventlog.storage.codec import batch_iter  # noqa: E402
from eventlog.storage.segment import segment_path  # noqa: E402

VALUE_SIZE = 100


def build(d, n, partitions, compression, writer):
    log = eventlog.open(d)
    topic = log.create_topic("t", partitions=partitions, compression=compression)
    vals = [os.urandom(VALUE_SIZE // 2).hex().encode() for _ in range(4096)]
    if writer == "producer":
        with log.producer() as p:
            send = p.send
            for i in range(n):
                send("t", value=vals[i % 4096])
        return log
    per = n // partitions
    for p in range(partitions):
        part = topic.partition(p)
        count = per + (n - per * partitions if p == partitions - 1 else 0)
        for i in range(0, count, 1000):
            part.append_batch([(None, vals[j % 4096]) for j in range(i, min(i + 1000, count))])
    return log


def mean_batch(log, partitions):
    """Records per on-disk batch, on average (what the reader pays per-batch costs over)."""
    recs = batches = 0
    for p in range(partitions):
        part = log.topic("t").partition(p)
        for base in part.segment_bases():
            with open(segment_path(part.dir, base), "rb") as f:
                for _pos, info in batch_iter(f.read()):
                    recs += info.count
                    batches += 1
    return recs / max(batches, 1)


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
    ap.add_argument("--writer", choices=("producer", "batch", "both"), default="both",
                    help="who writes the log: the producer at default settings, or append_batch of 1000")
    args = ap.parse_args()
    base = tempfile.mkdtemp(prefix="eventlog-bench-consumer-", dir=args.dir)
    n = args.records
    try:
        print(f"consumer.poll(max_records={args.max_records}) from the start of {n:,} records, "
              f"{VALUE_SIZE}-byte values, median of {args.repeat}; MB/s counts value bytes")
        writers = ("producer", "batch") if args.writer == "both" else (args.writer,)
        for writer in writers:
            for compression in ("none", "zstd"):
                for partitions in (1, 4):
                    d = tempfile.mkdtemp(dir=base)
                    log = build(d, n, partitions, compression, writer)
                    per_batch = mean_batch(log, partitions)
                    secs = [consume(log, n, partitions, args.max_records) for _ in range(args.repeat)]
                    log.close()
                    shutil.rmtree(d, ignore_errors=True)
                    rps = n / statistics.median(secs)
                    print(f"{writer:<8s} partitions={partitions} {compression:<4s} {rps:>12,.0f} rec/s "
                          f"{rps * VALUE_SIZE / 1e6:>8.1f} MB/s  ({per_batch:,.0f} records per batch)", flush=True)
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
